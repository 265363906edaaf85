/* imap_session: the life of one IMAP connection: greeting, feeding the parser,
 * the command table (which state each command needs, checked in one place),
 * tagged and untagged replies, commands that wait (writer, password check) or
 * resume when output drains, and closing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap_private.h"
#include "mime/mime.h"

enum { IN_NOT_AUTH = 1, IN_AUTH = 2, IN_SELECTED = 4, ANY = 7, AUTHED = 6 };

static const struct {
	const char *name;
	unsigned states;
	void (*run)(struct imap_session *s);
	bool uid_ok; /* may follow "UID" */
} commands[] = {
	{ "CAPABILITY", ANY, cmd_capability, false },
	{ "NOOP", ANY, cmd_noop, false },
	{ "LOGOUT", ANY, cmd_logout, false },
	{ "ID", ANY, cmd_id, false },
	{ "STARTTLS", IN_NOT_AUTH, cmd_starttls, false },
	{ "LOGIN", IN_NOT_AUTH, cmd_login, false },
	{ "AUTHENTICATE", IN_NOT_AUTH, cmd_authenticate, false },
	{ "NAMESPACE", AUTHED, cmd_namespace, false },
	{ "ENABLE", AUTHED, cmd_enable, false },
	{ "GETQUOTAROOT", AUTHED, cmd_quota, false },
	{ "GETQUOTA", AUTHED, cmd_quota, false },
	{ "SETQUOTA", AUTHED, cmd_quota, false },
	{ "SELECT", AUTHED, cmd_select, false },
	{ "EXAMINE", AUTHED, cmd_select, false },
	{ "LIST", AUTHED, cmd_list, false },
	{ "LSUB", AUTHED, cmd_list, false },
	{ "STATUS", AUTHED, cmd_status, false },
	{ "APPEND", AUTHED, cmd_append, false },
	{ "CREATE", AUTHED, cmd_manage, false },
	{ "DELETE", AUTHED, cmd_manage, false },
	{ "RENAME", AUTHED, cmd_manage, false },
	{ "SUBSCRIBE", AUTHED, cmd_manage, false },
	{ "UNSUBSCRIBE", AUTHED, cmd_manage, false },
	{ "COPY", IN_SELECTED, cmd_copy, true },
	{ "MOVE", IN_SELECTED, cmd_copy, true },
	{ "SEARCH", IN_SELECTED, cmd_search, true },
	{ "SORT", IN_SELECTED, cmd_sort, true },
	{ "THREAD", IN_SELECTED, cmd_thread, true },
	{ "CANCELUPDATE", IN_SELECTED, cmd_cancelupdate, false },
	{ "GENURLAUTH", AUTHED, cmd_genurlauth, false },
	{ "RESETKEY", AUTHED, cmd_resetkey, false },
	{ "URLFETCH", AUTHED, cmd_urlfetch, false },
	{ "NOTIFY", AUTHED, cmd_notify, false },
	{ "IDLE", AUTHED, cmd_idle, false },
	{ "CHECK", IN_SELECTED, cmd_noop, false },
	{ "UNSELECT", IN_SELECTED, cmd_unselect, false },
	{ "CLOSE", IN_SELECTED, cmd_expunge, false },
	{ "EXPUNGE", IN_SELECTED, cmd_expunge, true },
	{ "FETCH", IN_SELECTED, cmd_fetch, true },
	{ "STORE", IN_SELECTED, cmd_store, true },
};

imap_server_t *imap_server_new(net_loop_t *loop, store_t *store, store_writer_t *writer,
			       net_tls_t *tls, mta_t *mta)
{
	imap_server_t *server = xcalloc(1, sizeof(*server));

	server->mta = mta;
	server->loop = loop;
	server->store = store;
	server->writer = writer;
	server->tls = tls;
	LIST_INIT(&server->sessions);
	return server;
}

/* The capability list for this session's state; valid until the next call (the
 * loop is single-threaded). */
const char *imap_capabilities(const struct imap_session *s)
{
	static char caps[512];
	bool tls = s->conn != NULL && conn_is_tls(s->conn);
	bool auth_ok = tls || param_get(P_AUTH_PLAINTEXT_ALLOWED) != 0;
	bool pre_auth = s->state == IMAP_STATE_NOT_AUTH;

	snprintf(caps, sizeof(caps),
		 "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID IDLE NAMESPACE UNSELECT UIDPLUS MOVE ENABLE CONDSTORE STATUS=SIZE"
		 " CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES BINARY SORT SORT=DISPLAY ESORT CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES QUOTA QUOTA=RES-STORAGE MULTIAPPEND CATENATE URLAUTH NOTIFY QRESYNC APPENDLIMIT=%lld%s%s",
		 param_get(P_MESSAGE_SIZE_MAX),
		 pre_auth && !tls && s->server->tls != NULL ? " STARTTLS" : "",
		 !pre_auth ? "" : auth_ok ? " AUTH=PLAIN" : " LOGINDISABLED");
	return caps;
}

static void vwrite(struct imap_session *s, const char *prefix, const char *fmt, va_list ap)
{
	if (s->conn == NULL)
		return;
	str_clear(&s->out);
	str_append_cstr(&s->out, prefix);
	str_vappendf(&s->out, fmt, ap);
	str_append(&s->out, "\r\n", 2);
	conn_write(s->conn, s->out.data, s->out.len);
}

void imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwrite(s, "* ", fmt, ap);
	va_end(ap);
}

void imap_append_string(str_t *out, const char *str, size_t len)
{
	mime_put_imap_string(out, str, len);
}

static void session_free(struct imap_session *s)
{
	imap_view_close(s);
	imap_notify_free(s);
	for (size_t i = 0; i < s->piece_count; i++)
		str_free(&s->pieces[i].text);
	free(s->pieces);
	net_timer_free(&s->idle_timer);
	imap_parser_free(&s->parser);
	free(s->user);
	str_free(&s->line);
	str_free(&s->out);
	LIST_REMOVE(s, entry);
	s->server->session_count--;
	free(s);
}

void imap_session_release(struct imap_session *s)
{
	session_free(s);
}

/* The session outlives its connection while it waits for a writer job or a
 * password check; the completion frees it. */
static void session_close(struct imap_session *s)
{
	if (s->conn != NULL) {
		log_info("imap: disconnect session=%s", s->id);
		conn_close(s->conn);
		s->conn = NULL;
	}
	if (!s->waiting)
		session_free(s);
}

static void session_process_input(struct imap_session *s);

void imap_command_done(struct imap_session *s, const char *status, const char *fmt, ...)
{
	va_list ap;
	str_t prefix;

	imap_contexts_refresh(s); /* results this command changed, before its end */
	str_init(&prefix);
	str_appendf(&prefix, "%s %s ", s->cmd.tag, status);
	va_start(ap, fmt);
	vwrite(s, prefix.data, fmt, ap);
	va_end(ap);
	str_free(&prefix);
	if (strcmp(status, "BAD") == 0 && ++s->errors >= param_get(P_ERRORS_MAX)) {
		imap_untagged(s, "BYE Too many errors");
		s->quitting = true;
	}
	s->in_command = false;
	s->resume = NULL;
	imap_parser_reset(&s->parser);
	if (s->conn != NULL)
		conn_resume_read(s->conn);
}

static void dispatch(struct imap_session *s)
{
	struct imap_parser *p = &s->parser;
	unsigned state = s->state == IMAP_STATE_NOT_AUTH ? IN_NOT_AUTH
			 : s->state == IMAP_STATE_AUTH ? IN_AUTH : IN_SELECTED;
	const char *name = p->name.data;

	s->cmd = (struct imap_cmd){ .tag = p->tag.data, .name = name, .args = p->root.children,
				    .argc = p->root.count };
	s->in_command = true;
	if (strcasecmp(name, "UID") == 0) {
		if (s->cmd.argc == 0 || s->cmd.args[0].type != IMAP_ARG_ATOM) {
			imap_command_done(s, "BAD", "UID needs a command");
			return;
		}
		s->cmd.uid = true;
		s->cmd.name = name = s->cmd.args[0].str;
		s->cmd.args++;
		s->cmd.argc--;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcasecmp(name, commands[i].name) != 0 || (s->cmd.uid && !commands[i].uid_ok))
			continue;
		if (!(commands[i].states & state)) {
			imap_command_done(s, "BAD", "%s is not valid in this state", commands[i].name);
			return;
		}
		s->cmd.name = commands[i].name;
		commands[i].run(s);
		return;
	}
	imap_command_done(s, "BAD", "Unknown command");
}

static void parse_error(struct imap_session *s)
{
	const char *tag = s->parser.tag_complete ? s->parser.tag.data : "*";

	if (s->conn != NULL) {
		str_clear(&s->out);
		str_appendf(&s->out, "%s BAD %s\r\n", tag, s->parser.error);
		conn_write(s->conn, s->out.data, s->out.len);
	}
	if (s->parser.fatal || ++s->errors >= param_get(P_ERRORS_MAX)) {
		imap_untagged(s, "BYE %s", s->parser.fatal ? "Cannot resynchronise" : "Too many errors");
		s->quitting = true;
	}
}

/* Lines that are not commands: IDLE's DONE and AUTHENTICATE's response. */
static void feed_line(struct imap_session *s)
{
	bool bare_lf;

	switch (conn_read_line(s->conn, 8192, &s->line, &bare_lf)) {
	case CONN_LINE_NONE:
		return;
	case CONN_LINE_TOO_LONG:
		str_clear(&s->line);
		break;
	case CONN_LINE_OK:
		break;
	}
	if (s->idling)
		cmd_idle_line(s, s->line.data);
	else
		cmd_authenticate_continue(s, s->line.data);
}

static void feed_parser(struct imap_session *s)
{
	enum imap_parse_result r;
	size_t len, used;
	const char *buf = conn_peek(s->conn, &len);

	used = imap_parser_feed(&s->parser, buf, len, &r);
	conn_drain(s->conn, used);
	if (r == IMAP_PARSE_CONTINUE) {
		conn_write(s->conn, "+ OK\r\n", 6);
	} else if (r == IMAP_PARSE_ERROR) {
		parse_error(s);
	} else if (r == IMAP_PARSE_DONE) {
		conn_pause_read(s->conn);
		dispatch(s);
	}
}

static void session_process_input(struct imap_session *s)
{
	while (s->conn != NULL && !s->quitting && !s->waiting &&
	       (!s->in_command || s->idling || s->auth_continue)) {
		size_t before = conn_input_length(s->conn);
		if (before == 0)
			break;
		if (s->idling || s->auth_continue)
			feed_line(s);
		else
			feed_parser(s);
		if (s->conn != NULL && conn_input_length(s->conn) == before)
			break;
	}
	if (s->quitting && !s->waiting)
		session_close(s);
}

static void session_event(conn_t *conn, enum conn_event event, void *arg)
{
	struct imap_session *s = arg;

	switch (event) {
	case CONN_READABLE:
		session_process_input(s);
		break;
	case CONN_DRAINED:
		if (s->resume != NULL && !s->waiting)
			s->resume(s);
		session_process_input(s);
		break;
	case CONN_TIMEOUT:
		imap_untagged(s, "BYE Autologout; idle for too long");
		session_close(s);
		break;
	case CONN_CLOSED:
		s->conn = NULL;
		if (!s->waiting)
			session_free(s);
		break;
	}
}

struct writer_wait {
	struct imap_session *session;
	store_job_fn *job;
	void *arg;
	void (*done)(struct imap_session *s, void *arg, int ok);
	int ok;
};

static int writer_job(store_tx_t *tx, void *arg)
{
	struct writer_wait *w = arg;

	return w->job(tx, w->arg);
}

static void writer_finish(void *arg)
{
	struct writer_wait *w = arg;
	struct imap_session *s = w->session;

	s->waiting = false;
	if (s->conn == NULL) {
		w->done(NULL, w->arg, w->ok); /* lets done() free its state */
		session_free(s);
	} else {
		w->done(s, w->arg, w->ok);
		session_process_input(s);
	}
	free(w);
}

static void writer_done(void *arg, int ok)
{
	struct writer_wait *w = arg;

	w->ok = ok;
	net_loop_post(w->session->server->loop, writer_finish, w);
}

void imap_writer_run(struct imap_session *s, store_job_fn *job, void *arg,
		     void (*done)(struct imap_session *s, void *arg, int ok))
{
	struct writer_wait *w = xcalloc(1, sizeof(*w));

	w->session = s;
	w->job = job;
	w->arg = arg;
	w->done = done;
	s->waiting = true;
	store_writer_submit(s->server->writer, writer_job, writer_done, w);
}

void imap_accept(conn_t *conn, void *arg)
{
	imap_server_t *server = arg;
	struct imap_session *s = xcalloc(1, sizeof(*s));
	struct imap_parser_limits limits = {
		.line_max = 64 * 1024, .literal_max = (uint64_t)param_get(P_MESSAGE_SIZE_MAX),
		.depth_max = 16, .args_max = 10000,
	};

	s->server = server;
	s->conn = conn;
	id_random_hex(s->id, 6);
	imap_parser_init(&s->parser, &limits);
	str_init(&s->line);
	str_init(&s->out);
	LIST_INSERT_HEAD(&server->sessions, s, entry);
	server->session_count++;
	conn_set_handler(conn, session_event, s);
	conn_set_timeout(conn, 30 * 60); /* RFC 3501 5.4: at least 30 minutes */
	log_info("imap: connect session=%s peer=%s tls=%d", s->id, conn_peer_ip(conn), conn_is_tls(conn));
	if (conn_over_limit(conn)) {
		imap_untagged(s, "BYE Too many connections, try again later");
		session_close(s);
		return;
	}
	imap_untagged(s, "OK [CAPABILITY %s] Sealpost ready", imap_capabilities(s));
}

void imap_server_shutdown(imap_server_t *server)
{
	struct imap_session *s, *next;

	server->shutting_down = true;
	for (s = LIST_FIRST(&server->sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		if (s->waiting)
			continue; /* its completion frees it */
		imap_untagged(s, "BYE Server shutting down");
		session_close(s);
	}
}

size_t imap_server_session_count(const imap_server_t *server)
{
	return server->session_count;
}

void imap_server_free(imap_server_t **server)
{
	if (*server == NULL)
		return;
	imap_server_shutdown(*server);
	x_free(server);
}

void imap_piece_text(struct imap_session *s, const char *text, size_t len)
{
	struct imap_piece *p;

	s->pieces = xrealloc(s->pieces, (s->piece_count + 1) * sizeof(*p));
	p = &s->pieces[s->piece_count++];
	memset(p, 0, sizeof(*p));
	str_init(&p->text);
	str_append(&p->text, text, len);
}

void imap_piece_range(struct imap_session *s, const struct store_message_ref *ref, uint64_t off,
		      uint64_t len)
{
	struct imap_piece *p;

	s->pieces = xrealloc(s->pieces, (s->piece_count + 1) * sizeof(*p));
	p = &s->pieces[s->piece_count++];
	memset(p, 0, sizeof(*p));
	p->is_range = true;
	p->ref = *ref;
	p->off = off;
	p->len = len;
}

/* Writes one range piece a chunk at a time; returns false if output is full
 * (only when bounded). */
static bool flush_range(struct imap_session *s, struct imap_piece *p, bool bounded)
{
	char buf[64 * 1024];

	while (s->piece_off < p->len) {
		if (bounded && conn_output_length(s->conn) >= IMAP_OUTPUT_HIGH)
			return false;
		size_t want = p->len - s->piece_off < sizeof(buf) ? p->len - s->piece_off : sizeof(buf);
		ssize_t n = store_message_read(s->server->store, &p->ref, p->off + s->piece_off, buf, want);
		if (n <= 0) {
			log_warnx("imap: cannot read message session=%s msgid=%s", s->id, p->ref.msgid);
			s->quitting = true; /* a short literal would desynchronise the client */
			return true;
		}
		conn_write(s->conn, buf, (size_t)n);
		s->piece_off += (uint64_t)n;
	}
	return true;
}

static bool pieces_flush(struct imap_session *s, bool bounded)
{
	while (s->conn != NULL && s->piece_next < s->piece_count) {
		struct imap_piece *p = &s->pieces[s->piece_next];
		if (p->is_range) {
			if (!flush_range(s, p, bounded))
				return false;
		} else {
			conn_write(s->conn, p->text.data, p->text.len);
		}
		str_free(&p->text);
		s->piece_next++;
		s->piece_off = 0;
	}
	s->piece_count = s->piece_next = 0;
	return true;
}

bool imap_pieces_flush(struct imap_session *s)
{
	return pieces_flush(s, true);
}

void imap_pieces_write_all(struct imap_session *s)
{
	pieces_flush(s, false);
	for (size_t i = s->piece_next; i < s->piece_count; i++)
		str_free(&s->pieces[i].text); /* left only if the client went away */
	s->piece_count = s->piece_next = 0;
}
