/* smtp_session: the life of one SMTP connection: greeting, the input loop over
 * command lines or DATA bytes, pipelining (input waits while a commit is in
 * flight), timeouts, error counting, and closing. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_private.h"

smtp_server_t *smtp_server_new(net_loop_t *loop, mta_t *mta, store_t *store, net_tls_t *tls)
{
	smtp_server_t *server = xcalloc(1, sizeof(*server));

	server->loop = loop;
	server->mta = mta;
	server->store = store;
	server->tls = tls;
	return server;
}

static void session_vreply(struct smtp_session *s, const char *fmt, va_list ap)
{
	str_t out;

	if (s->conn == NULL)
		return;
	str_init(&out);
	str_vappendf(&out, fmt, ap);
	log_debug("smtp: reply session=%s line=\"%s\"", s->id, out.data);
	str_append(&out, "\r\n", 2);
	conn_write(s->conn, out.data, out.len);
	str_free(&out);
}

void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_vreply(s, fmt, ap);
	va_end(ap);
}

static void session_process_input(struct smtp_session *s);

static void tarpit_over(void *arg)
{
	struct smtp_session *s = arg;

	s->tarpitted = false;
	if (s->conn != NULL && !smtp_session_busy(s)) {
		conn_resume_read(s->conn);
		session_process_input(s);
	}
}

void smtp_error(struct smtp_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->conn == NULL)
		return;
	va_start(ap, fmt);
	session_vreply(s, fmt, ap);
	va_end(ap);
	if (++s->errors >= param_get(P_ERRORS_MAX) && !s->quitting) {
		smtp_reply(s, "421 4.7.0 %s Too many errors, closing connection",
			   mta_hostname(s->server->mta));
		log_info("smtp: too many errors session=%s peer=%s", s->id, conn_peer_ip(s->conn));
		s->quitting = true;
	} else if (s->errors > param_get(P_TARPIT_AFTER) && param_get(P_TARPIT_DELAY) > 0) {
		long long ms = param_get(P_TARPIT_DELAY) * (s->errors - param_get(P_TARPIT_AFTER));
		if (s->tarpit == NULL)
			s->tarpit = net_timer_new(s->server->loop, tarpit_over, s);
		s->tarpitted = true; /* its next command waits (tarpitting) */
		conn_pause_read(s->conn);
		net_timer_start(s->tarpit, (int)(ms < 30000 ? ms : 30000));
	}
}

void smtp_transaction_reset(struct smtp_session *s)
{
	x_free(&s->sender);
	for (size_t i = 0; i < s->rcpt_count; i++)
		free(s->rcpts[i]);
	x_free(&s->rcpts);
	s->rcpt_count = 0;
	/* Keep a small buffer for the next message; give big ones back. */
	if (s->message.cap > 1024 * 1024)
		str_free(&s->message);
	str_clear(&s->message);
}

/* After STARTTLS nothing learnt before it may be trusted (RFC 3207 4.2). */
void smtp_session_reset_identity(struct smtp_session *s)
{
	smtp_transaction_reset(s);
	x_free(&s->helo);
	x_free(&s->auth_user);
	s->esmtp = false;
}

static void session_free(struct smtp_session *s)
{
	smtp_server_t *server = s->server;

	smtp_session_reset_identity(s);
	x_free(&s->auth_login_name);
	net_timer_free(&s->tarpit);
	str_free(&s->message);
	str_free(&s->line);
	LIST_REMOVE(s, entry);
	server->session_count--;
	free(s);
}

bool smtp_session_busy(const struct smtp_session *s)
{
	return s->state == SMTP_STATE_COMMIT || s->state == SMTP_STATE_AUTH_CHECK ||
	       s->state == SMTP_STATE_POLICY_CHECK;
}

/* Closes the connection; the session itself lives on while busy (the completion
 * frees it). */
static void session_close(struct smtp_session *s)
{
	if (s->conn != NULL) {
		log_info("smtp: disconnect session=%s", s->id);
		conn_close(s->conn);
		s->conn = NULL;
	}
	if (!smtp_session_busy(s))
		session_free(s);
}

static void session_feed_data(struct smtp_session *s)
{
	size_t len, used;
	const char *buf;
	bool done = false;

	while (!done && (buf = conn_peek(s->conn, &len)) != NULL && len > 0) {
		used = smtp_data_feed(&s->data, buf, len, &done);
		conn_drain(s->conn, used);
	}
	if (done) {
		conn_set_timeout(s->conn, (int)param_get(P_SMTP_TIMEOUT));
		smtp_data_finished(s);
	}
}

static void session_feed_line(struct smtp_session *s)
{
	bool bare_lf = false;
	size_t max = (size_t)param_get(P_SMTP_LINE_MAX);

	switch (conn_read_line(s->conn, max, &s->line, &bare_lf)) {
	case CONN_LINE_NONE:
		return;
	case CONN_LINE_TOO_LONG:
		if (s->state == SMTP_STATE_AUTH) {
			s->state = SMTP_STATE_COMMAND;
			smtp_error(s, "500 5.5.6 Authentication exchange line is too long");
		} else {
			smtp_error(s, "500 5.5.2 Line too long (limit %zu octets)", max);
		}
		return;
	case CONN_LINE_OK:
		break;
	}
	if (bare_lf) {
		s->state = SMTP_STATE_COMMAND;
		smtp_error(s, "500 5.5.2 Bare LF received; lines must end with CRLF");
	} else if (memchr(s->line.data, '\0', s->line.len) != NULL) {
		s->state = SMTP_STATE_COMMAND;
		smtp_error(s, "500 5.5.2 NUL octet in command");
	} else if (s->state == SMTP_STATE_AUTH) {
		smtp_auth_continue(s, s->line.data);
	} else {
		smtp_dispatch(s, s->line.data);
	}
}

static void session_process_input(struct smtp_session *s)
{
	size_t before;

	while (s->conn != NULL && !s->quitting && !smtp_session_busy(s) && !s->tarpitted) {
		before = conn_input_length(s->conn);
		if (before == 0)
			break;
		if (s->state == SMTP_STATE_DATA)
			session_feed_data(s);
		else
			session_feed_line(s);
		if (s->conn != NULL && conn_input_length(s->conn) == before)
			break; /* an incomplete line: wait for more */
	}
	if (s->quitting)
		session_close(s);
}

static void session_event(conn_t *conn, enum conn_event event, void *arg)
{
	struct smtp_session *s = arg;

	switch (event) {
	case CONN_READABLE:
		session_process_input(s);
		break;
	case CONN_DRAINED:
		break;
	case CONN_TIMEOUT:
		smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded", mta_hostname(s->server->mta));
		log_info("smtp: timeout session=%s state=%d", s->id, s->state);
		session_close(s);
		break;
	case CONN_CLOSED:
		s->conn = NULL; /* freed by net after this event */
		log_info("smtp: client closed session=%s", s->id);
		if (!smtp_session_busy(s))
			session_free(s);
		break;
	}
}

/* The commit or password check is over: the session may go on or end. */
void smtp_session_resume(struct smtp_session *s)
{
	if (s->conn == NULL) {
		session_free(s);
		return;
	}
	s->state = SMTP_STATE_COMMAND;
	if (s->server->shutting_down) {
		smtp_reply(s, "421 4.3.2 %s Service shutting down", mta_hostname(s->server->mta));
		session_close(s);
		return;
	}
	if (!s->tarpitted)
		conn_resume_read(s->conn);
	if (s->quitting)
		session_close(s);
}

/* The DNS block lists have answered: greet, or refuse. */
static void dnsbl_done(void *arg, const char *listed_by)
{
	struct smtp_session *s = arg;

	if (s->conn != NULL && listed_by != NULL) {
		smtp_reply(s, "554 5.7.1 Service unavailable; client host [%s] blocked using %s",
			   conn_peer_ip(s->conn), listed_by);
		s->quitting = true;
	} else if (s->conn != NULL) {
		smtp_reply(s, "220 %s ESMTP Sealpost", mta_hostname(s->server->mta));
	}
	smtp_session_resume(s);
}

static void session_start(conn_t *conn, smtp_server_t *server, enum smtp_mode mode)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	const char *host = mta_hostname(server->mta);

	s->server = server;
	s->conn = conn;
	s->mode = mode;
	id_random_hex(s->id, 6);
	str_init(&s->message);
	str_init(&s->line);
	LIST_INSERT_HEAD(&server->sessions, s, entry);
	server->session_count++;
	conn_set_handler(conn, session_event, s);
	conn_set_timeout(conn, (int)param_get(P_SMTP_TIMEOUT));
	log_info("smtp: connect session=%s peer=%s mode=%s tls=%d", s->id, conn_peer_ip(conn),
		 mode == SMTP_MODE_MX ? "mx" : "submission", conn_is_tls(conn));
	if (conn_over_limit(conn)) {
		smtp_reply(s, "421 4.7.0 %s Too many connections, try again later", host);
		bool per_ip = conn_peer_conn_count(conn) > (size_t)param_get(P_CONN_PER_IP_MAX);
		log_info("policy: refused rule=%s entry=%lld client=%s", per_ip ? "conn_per_ip_max" : "conn_max",
			 param_get(per_ip ? P_CONN_PER_IP_MAX : P_CONN_MAX), conn_peer_ip(conn));
		session_close(s);
		return;
	}
	str_t reply;
	str_init(&reply);
	if (mta_policy_client_refused(server->mta, conn_peer_ip(conn), &reply)) {
		smtp_reply(s, "%s", reply.data);
		str_free(&reply);
		session_close(s);
		return;
	}
	str_free(&reply);
	s->state = SMTP_STATE_POLICY_CHECK; /* the greeting waits for the block lists */
	conn_pause_read(conn);
	mta_policy_dnsbl(server->mta, conn_peer_ip(conn), dnsbl_done, s);
}

void smtp_accept_mx(conn_t *conn, void *server)
{
	session_start(conn, server, SMTP_MODE_MX);
}

void smtp_accept_submission(conn_t *conn, void *server)
{
	session_start(conn, server, SMTP_MODE_SUBMISSION);
}

void smtp_server_shutdown(smtp_server_t *server)
{
	struct smtp_session *s, *next;

	server->shutting_down = true;
	for (s = LIST_FIRST(&server->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		/* A client inside DATA or waiting for its answer may finish. */
		if (s->state == SMTP_STATE_DATA || smtp_session_busy(s))
			continue;
		smtp_reply(s, "421 4.3.2 %s Service shutting down", mta_hostname(server->mta));
		session_close(s);
	}
}

void smtp_server_close_all(smtp_server_t *server)
{
	struct smtp_session *s, *next;

	for (s = LIST_FIRST(&server->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		if (smtp_session_busy(s))
			continue; /* its completion frees it */
		smtp_reply(s, "421 4.3.2 %s Service shutting down", mta_hostname(server->mta));
		session_close(s);
	}
}

size_t smtp_server_session_count(const smtp_server_t *server)
{
	return server->session_count;
}

void smtp_server_free(smtp_server_t **server)
{
	if (*server == NULL)
		return;
	smtp_server_close_all(*server);
	x_free(server);
}
