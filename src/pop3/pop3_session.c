/* pop3_session: the life of one POP3 connection: greeting, input loop, maildrop
 * locks, streaming RETR/TOP with dot-stuffing as the output drains, and closing. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_private.h"

#define POP3_SEND_CHUNK (64 * 1024)
#define POP3_OUTPUT_HIGH (256 * 1024)

pop3_server_t *pop3_server_new(net_loop_t *loop, store_t *store, store_writer_t *writer,
			       net_tls_t *tls, mta_t *mta)
{
	pop3_server_t *server = xcalloc(1, sizeof(*server));

	server->mta = mta;
	server->loop = loop;
	server->store = store;
	server->writer = writer;
	server->tls = tls;
	return server;
}

static void vreply(struct pop3_session *s, const char *fmt, va_list ap)
{
	if (s->conn == NULL)
		return;
	str_clear(&s->scratch);
	str_vappendf(&s->scratch, fmt, ap);
	str_append(&s->scratch, "\r\n", 2);
	conn_write(s->conn, s->scratch.data, s->scratch.len);
}

void pop3_reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, fmt, ap);
	va_end(ap);
}

void pop3_error(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply(s, fmt, ap);
	va_end(ap);
	if (++s->errors >= param_get(P_ERRORS_MAX) && !s->quitting) {
		pop3_reply(s, "-ERR Too many errors, closing connection");
		s->quitting = true;
	}
}

bool pop3_maildrop_lock(struct pop3_session *s, int64_t owner_id)
{
	pop3_server_t *server = s->server;

	for (size_t i = 0; i < server->locked_count; i++)
		if (server->locked[i] == owner_id)
			return false;
	server->locked = xrealloc(server->locked, (server->locked_count + 1) * sizeof(int64_t));
	server->locked[server->locked_count++] = owner_id;
	s->owner_id = owner_id;
	return true;
}

static void maildrop_unlock(struct pop3_session *s)
{
	pop3_server_t *server = s->server;

	for (size_t i = 0; i < server->locked_count; i++) {
		if (server->locked[i] == s->owner_id) {
			server->locked[i] = server->locked[--server->locked_count];
			break;
		}
	}
	s->owner_id = 0;
}

static void session_free(struct pop3_session *s)
{
	pop3_server_t *server = s->server;

	if (s->owner_id > 0)
		maildrop_unlock(s);
	free(s->user_name);
	free(s->owner_address);
	free(s->messages);
	str_free(&s->line);
	str_free(&s->scratch);
	LIST_REMOVE(s, entry);
	server->session_count--;
	free(s);
}

bool pop3_session_busy(const struct pop3_session *s)
{
	return s->state == POP3_STATE_UPDATE || s->state == POP3_STATE_AUTH_CHECK;
}

/* The session outlives its connection while busy. */
static void session_close(struct pop3_session *s)
{
	if (s->conn != NULL) {
		log_info("pop3: disconnect session=%s", s->id);
		conn_close(s->conn);
		s->conn = NULL;
	}
	if (!pop3_session_busy(s))
		session_free(s);
}

/* Appends bytes with dot-stuffing: a line that starts with '.' gets another. */
static void stuff_into(struct pop3_session *s, const char *buf, size_t len, str_t *out)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (s->send_at_bol && buf[i] == '.') {
			str_append(out, buf + start, i - start);
			str_append(out, ".", 1);
			start = i;
		}
		s->send_at_bol = buf[i] == '\n';
	}
	str_append(out, buf + start, len - start);
}

static void send_continue(struct pop3_session *s)
{
	char buf[POP3_SEND_CHUNK];
	ssize_t n;

	while (conn_output_length(s->conn) < POP3_OUTPUT_HIGH && s->send_off < s->send_end) {
		size_t want = s->send_end - s->send_off < sizeof(buf) ? s->send_end - s->send_off
								   : sizeof(buf);
		n = store_message_read(s->server->store, s->send_ref, s->send_off, buf, want);
		if (n <= 0) {
			log_warnx("pop3: cannot read message session=%s msgid=%s", s->id, s->send_ref->msgid);
			s->quitting = true; /* the client cannot tell a short message from a whole one */
			return;
		}
		str_clear(&s->scratch);
		stuff_into(s, buf, (size_t)n, &s->scratch);
		conn_write(s->conn, s->scratch.data, s->scratch.len);
		s->send_off += (uint64_t)n;
	}
	if (s->send_off < s->send_end)
		return; /* more when the output drains */
	conn_write(s->conn, s->send_at_bol ? ".\r\n" : "\r\n.\r\n", s->send_at_bol ? 3 : 5);
	s->state = POP3_STATE_TRANSACTION;
	s->send_ref = NULL;
}

void pop3_send_message(struct pop3_session *s, const struct store_message_ref *ref, uint64_t end)
{
	s->send_ref = ref;
	s->send_off = 0;
	s->send_end = end;
	s->send_at_bol = true;
	s->state = POP3_STATE_SENDING;
	send_continue(s);
}

static void session_feed_line(struct pop3_session *s)
{
	bool bare_lf;

	switch (conn_read_line(s->conn, (size_t)param_get(P_POP3_LINE_MAX), &s->line, &bare_lf)) {
	case CONN_LINE_NONE:
		return;
	case CONN_LINE_TOO_LONG:
		s->state = s->state == POP3_STATE_AUTH_CONTINUE ? POP3_STATE_AUTHORIZATION : s->state;
		pop3_error(s, "-ERR Line too long");
		return;
	case CONN_LINE_OK:
		break;
	}
	if (memchr(s->line.data, '\0', s->line.len) != NULL)
		pop3_error(s, "-ERR NUL octet in command");
	else if (s->state == POP3_STATE_AUTH_CONTINUE)
		pop3_auth_continue(s, s->line.data);
	else
		pop3_dispatch(s, s->line.data);
}

static void session_process_input(struct pop3_session *s)
{
	size_t before;

	while (s->conn != NULL && !s->quitting && s->state != POP3_STATE_SENDING &&
	       !pop3_session_busy(s)) {
		before = conn_input_length(s->conn);
		if (before == 0)
			break;
		session_feed_line(s);
		if (s->conn != NULL && conn_input_length(s->conn) == before)
			break;
	}
	if (s->quitting && !pop3_session_busy(s))
		session_close(s);
}

void pop3_session_resume(struct pop3_session *s)
{
	if (s->conn == NULL) {
		session_free(s);
		return;
	}
	if (s->server->shutting_down) {
		pop3_reply(s, "-ERR [SYS/TEMP] Server shutting down");
		session_close(s);
		return;
	}
	conn_resume_read(s->conn);
	if (s->quitting)
		session_close(s);
}

void pop3_session_after_update(struct pop3_session *s)
{
	s->state = POP3_STATE_TRANSACTION; /* no longer in flight: closing frees it */
	if (s->conn == NULL)
		session_free(s);
	else
		session_close(s);
}

static void session_event(conn_t *conn, enum conn_event event, void *arg)
{
	struct pop3_session *s = arg;

	switch (event) {
	case CONN_READABLE:
		session_process_input(s);
		break;
	case CONN_DRAINED:
		if (s->state == POP3_STATE_SENDING) {
			send_continue(s);
			session_process_input(s);
		}
		break;
	case CONN_TIMEOUT:
		pop3_reply(s, "-ERR Timeout, closing connection");
		session_close(s);
		break;
	case CONN_CLOSED:
		s->conn = NULL;
		if (!pop3_session_busy(s))
			session_free(s);
		break;
	}
}

void pop3_accept(conn_t *conn, void *arg)
{
	pop3_server_t *server = arg;
	struct pop3_session *s = xcalloc(1, sizeof(*s));

	s->server = server;
	s->conn = conn;
	id_random_hex(s->id, 6);
	str_init(&s->line);
	str_init(&s->scratch);
	LIST_INSERT_HEAD(&server->sessions, s, entry);
	server->session_count++;
	conn_set_handler(conn, session_event, s);
	conn_set_timeout(conn, (int)param_get(P_POP3_TIMEOUT));
	log_info("pop3: connect session=%s peer=%s tls=%d", s->id, conn_peer_ip(conn), conn_is_tls(conn));
	if (conn_over_limit(conn)) {
		pop3_reply(s, "-ERR [SYS/TEMP] Too many connections, try again later");
		session_close(s);
		return;
	}
	pop3_reply(s, "+OK Sealpost POP3 server ready");
}

void pop3_server_shutdown(pop3_server_t *server)
{
	struct pop3_session *s, *next;

	server->shutting_down = true;
	for (s = LIST_FIRST(&server->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		if (pop3_session_busy(s))
			continue; /* its completion closes it */
		pop3_reply(s, "-ERR [SYS/TEMP] Server shutting down");
		session_close(s);
	}
}

size_t pop3_server_session_count(const pop3_server_t *server)
{
	return server->session_count;
}

void pop3_server_free(pop3_server_t **server)
{
	if (*server == NULL)
		return;
	pop3_server_shutdown(*server);
	free((*server)->locked);
	x_free(server);
}
