/* pop3_commands: the command table (with the state each command needs, checked in
 * one place) and one handler per command. Message numbers are 1-based and refer to
 * the maildrop as it was at login. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "directory/directory.h"
#include "pop3_private.h"

enum { IN_AUTHORIZATION = 1, IN_TRANSACTION = 2 };

struct pop3_cmd {
	unsigned states;
	void (*run)(struct pop3_session *s, const char *args);
};

static bool auth_allowed(const struct pop3_session *s)
{
	return conn_is_tls(s->conn) || param_get(P_AUTH_PLAINTEXT_ALLOWED) != 0;
}

/* Finds message N (1-based, not deleted); replies -ERR and returns NULL if none. */
static struct pop3_message *message_arg(struct pop3_session *s, const char *args, const char **rest_r)
{
	unsigned long n;

	if (pop3_parse_number(args, 1, s->message_count ? s->message_count : 1, &n, rest_r) < 0 ||
	    n > s->message_count) {
		pop3_error(s, "-ERR No such message");
		return NULL;
	}
	if (s->messages[n - 1].deleted) {
		pop3_error(s, "-ERR Message %lu already deleted", n);
		return NULL;
	}
	return &s->messages[n - 1];
}

static void cmd_capa(struct pop3_session *s, const char *args)
{
	pop3_reply(s, "+OK Capability list follows");
	pop3_reply(s, "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE");
	if (s->state == POP3_STATE_AUTHORIZATION && auth_allowed(s))
		pop3_reply(s, "USER\r\nSASL PLAIN");
	if (s->state == POP3_STATE_AUTHORIZATION && !conn_is_tls(s->conn) && s->server->tls)
		pop3_reply(s, "STLS");
	pop3_reply(s, "IMPLEMENTATION Sealpost\r\n.");
}

static void cmd_stls(struct pop3_session *s, const char *args)
{
	if (conn_is_tls(s->conn) || s->server->tls == NULL) {
		pop3_error(s, "-ERR TLS not available here");
		return;
	}
	pop3_reply(s, "+OK Begin TLS negotiation");
	if (conn_start_tls(s->conn, s->server->tls) < 0)
		s->quitting = true;
	x_free(&s->user_name);
}

static void cmd_user(struct pop3_session *s, const char *args)
{
	if (!auth_allowed(s)) {
		pop3_error(s, "-ERR [AUTH] Plaintext authentication requires TLS (use STLS)");
		return;
	}
	if (*args == '\0' || strlen(args) > DIRECTORY_ADDRESS_MAX) {
		pop3_error(s, "-ERR Syntax: USER name");
		return;
	}
	free(s->user_name);
	s->user_name = xstrdup(args);
	pop3_reply(s, "+OK");
}

/* Locks the maildrop of an authenticated user and loads its message list. */
static void open_maildrop(struct pop3_session *s, const struct store_recipient *user)
{
	struct store_mailbox mb = { 0 };
	struct store_message_ref *refs = NULL;

	if (store_mailbox_by_name(s->server->store, user->id, "INBOX", &mb) != 1) {
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot open the maildrop");
	} else if (!pop3_maildrop_lock(s, user->id)) {
		pop3_reply(s, "-ERR [IN-USE] Maildrop already locked by another session");
	} else if (store_mailbox_messages(s->server->store, mb.id, &refs, &s->message_count) < 0) {
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot read the maildrop");
		s->quitting = true;
	} else {
		s->mailbox_id = mb.id;
		s->uidvalidity = mb.uidvalidity;
		s->owner_address = directory_address_of(user);
		s->messages = xcalloc(s->message_count, sizeof(*s->messages));
		for (size_t i = 0; i < s->message_count; i++)
			s->messages[i].ref = refs[i];
		s->state = POP3_STATE_TRANSACTION;
		log_info("pop3: login session=%s user=%s messages=%zu", s->id, s->owner_address,
			 s->message_count);
		pop3_reply(s, "+OK Maildrop locked and ready");
	}
	free(refs);
	store_mailbox_clear(&mb);
}

static void login_checked(void *arg, int result, const struct store_recipient *user)
{
	struct pop3_session *s = arg;

	s->state = POP3_STATE_AUTHORIZATION;
	if (s->conn == NULL) {
		pop3_session_resume(s); /* the client left meanwhile: this frees it */
		return;
	}
	if (result == 1) {
		open_maildrop(s, user);
	} else if (result == 0) {
		log_info("pop3: authentication failed session=%s peer=%s", s->id, conn_peer_ip(s->conn));
		mta_policy_auth_failed(s->server->mta, conn_peer_ip(s->conn));
		pop3_error(s, "-ERR [AUTH] Invalid login or password");
	} else {
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot check the password now");
	}
	pop3_session_resume(s);
}

static void offload(void *loop, void (*work)(void *), void (*done)(void *), void *arg)
{
	net_loop_offload(loop, work, done, arg);
}

/* The password hash runs on a helper thread; input waits meanwhile. */
static void login(struct pop3_session *s, const char *user, const char *password)
{
	if (mta_policy_auth_locked(s->server->mta, conn_peer_ip(s->conn))) {
		pop3_error(s, "-ERR [SYS/TEMP] Too many failed logins from your address; try again later");
		return;
	}
	s->state = POP3_STATE_AUTH_CHECK;
	conn_pause_read(s->conn);
	directory_authenticate_async(s->server->store, user, password, offload, s->server->loop,
				     login_checked, s);
}

static void cmd_pass(struct pop3_session *s, const char *args)
{
	char *user = s->user_name;

	if (user == NULL) {
		pop3_error(s, "-ERR USER first");
		return;
	}
	s->user_name = NULL;
	login(s, user, args);
	free(user);
}

static void auth_plain_response(struct pop3_session *s, const char *b64)
{
	str_t decoded;
	const char *user, *password;

	s->state = POP3_STATE_AUTHORIZATION;
	str_init(&decoded);
	if (base64_decode(b64, strlen(b64), &decoded) < 0 ||
	    sasl_plain_split(&decoded, &user, &password) < 0)
		pop3_error(s, "-ERR Cannot decode the PLAIN response");
	else
		login(s, user, password);
	explicit_bzero(decoded.data, decoded.len);
	str_free(&decoded);
}

void pop3_auth_continue(struct pop3_session *s, const char *line)
{
	if (strcmp(line, "*") == 0) {
		s->state = POP3_STATE_AUTHORIZATION;
		pop3_error(s, "-ERR Authentication cancelled");
		return;
	}
	auth_plain_response(s, line);
}

static void cmd_auth(struct pop3_session *s, const char *args)
{
	size_t mechlen = strcspn(args, " ");

	if (*args == '\0') {
		pop3_reply(s, "+OK\r\nPLAIN\r\n.");
	} else if (!auth_allowed(s)) {
		pop3_error(s, "-ERR [AUTH] Authentication requires TLS (use STLS)");
	} else if (mechlen != 5 || strncasecmp(args, "PLAIN", 5) != 0) {
		pop3_error(s, "-ERR Unsupported mechanism");
	} else if (args[5] == ' ') {
		auth_plain_response(s, strcmp(args + 6, "=") == 0 ? "" : args + 6);
	} else {
		s->state = POP3_STATE_AUTH_CONTINUE;
		pop3_reply(s, "+ ");
	}
}

static void cmd_stat(struct pop3_session *s, const char *args)
{
	size_t count = 0;
	uint64_t octets = 0;

	for (size_t i = 0; i < s->message_count; i++) {
		if (!s->messages[i].deleted) {
			count++;
			octets += (uint64_t)s->messages[i].ref.size;
		}
	}
	pop3_reply(s, "+OK %zu %llu", count, (unsigned long long)octets);
}

/* LIST and UIDL: one message, or every one that is not deleted. */
static void list_or_uidl(struct pop3_session *s, const char *args, bool uidl)
{
	struct pop3_message *m;

	if (*args != '\0') {
		if ((m = message_arg(s, args, NULL)) == NULL)
			return;
		if (uidl)
			pop3_reply(s, "+OK %zu %u.%u", (size_t)(m - s->messages) + 1, s->uidvalidity, m->ref.uid);
		else
			pop3_reply(s, "+OK %zu %lld", (size_t)(m - s->messages) + 1, (long long)m->ref.size);
		return;
	}
	pop3_reply(s, "+OK");
	for (size_t i = 0; i < s->message_count; i++) {
		m = &s->messages[i];
		if (m->deleted)
			continue;
		if (uidl)
			pop3_reply(s, "%zu %u.%u", i + 1, s->uidvalidity, m->ref.uid);
		else
			pop3_reply(s, "%zu %lld", i + 1, (long long)m->ref.size);
	}
	pop3_reply(s, ".");
}

static void cmd_list(struct pop3_session *s, const char *args)
{
	list_or_uidl(s, args, false);
}

static void cmd_uidl(struct pop3_session *s, const char *args)
{
	list_or_uidl(s, args, true);
}

static void cmd_retr(struct pop3_session *s, const char *args)
{
	struct pop3_message *m = message_arg(s, args, NULL);

	if (m == NULL)
		return;
	pop3_reply(s, "+OK %lld octets", (long long)m->ref.size);
	pop3_send_message(s, &m->ref, (uint64_t)m->ref.size);
}

/* Where TOP's answer ends: the header section, the blank line, then LINES lines. */
static uint64_t top_end(struct pop3_session *s, const struct store_message_ref *ref,
			unsigned long lines)
{
	char buf[8192];
	uint64_t off = 0;
	size_t line_len = 0;
	bool in_body = false;
	ssize_t n;

	while ((n = store_message_read(s->server->store, ref, off, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				line_len += buf[i] != '\r';
				continue;
			}
			if (!in_body && line_len == 0) {
				in_body = true;
				if (lines == 0)
					return off + (uint64_t)i + 1;
			} else if (in_body && --lines == 0) {
				return off + (uint64_t)i + 1;
			}
			line_len = 0;
		}
		off += (uint64_t)n;
	}
	return (uint64_t)ref->size;
}

static void cmd_top(struct pop3_session *s, const char *args)
{
	const char *rest = NULL;
	unsigned long lines;
	struct pop3_message *m = message_arg(s, args, &rest);

	if (m == NULL)
		return;
	if (rest == NULL || pop3_parse_number(rest, 0, 1UL << 31, &lines, NULL) < 0) {
		pop3_error(s, "-ERR Syntax: TOP message lines");
		return;
	}
	pop3_reply(s, "+OK");
	pop3_send_message(s, &m->ref, top_end(s, &m->ref, lines));
}

static void cmd_dele(struct pop3_session *s, const char *args)
{
	struct pop3_message *m = message_arg(s, args, NULL);

	if (m == NULL)
		return;
	m->deleted = true;
	pop3_reply(s, "+OK Message %zu deleted", (size_t)(m - s->messages) + 1);
}

static void cmd_noop(struct pop3_session *s, const char *args)
{
	pop3_reply(s, "+OK");
}

static void cmd_rset(struct pop3_session *s, const char *args)
{
	for (size_t i = 0; i < s->message_count; i++)
		s->messages[i].deleted = false;
	pop3_reply(s, "+OK");
}

struct pop3_update {
	struct pop3_session *session;
	int64_t mailbox_id;
	uint32_t *uids;
	size_t count;
};

static int update_run(store_tx_t *tx, void *arg)
{
	struct pop3_update *u = arg;

	return store_tx_expunge(tx, u->mailbox_id, u->uids, u->count);
}

static void update_finish(void *arg)
{
	struct pop3_update *u = arg;
	struct pop3_session *s = u->session;

	if (u->count > 0)
		pop3_reply(s, "+OK Sealpost signing off (%zu messages deleted)", u->count);
	else
		pop3_reply(s, "+OK Sealpost signing off");
	free(u->uids);
	free(u);
	pop3_session_after_update(s);
}

static void update_failed(void *arg)
{
	struct pop3_update *u = arg;
	struct pop3_session *s = u->session;

	pop3_reply(s, "-ERR [SYS/TEMP] Some deleted messages not removed");
	free(u->uids);
	free(u);
	pop3_session_after_update(s);
}

static void update_done(void *arg, int ok)
{
	struct pop3_update *u = arg;

	net_loop_post(u->session->server->loop, ok ? update_finish : update_failed, u);
}

/* QUIT in TRANSACTION enters UPDATE: deletions are durable before +OK. */
static void cmd_quit(struct pop3_session *s, const char *args)
{
	struct pop3_update *u;

	if (s->state != POP3_STATE_TRANSACTION) {
		pop3_reply(s, "+OK Sealpost signing off");
		s->quitting = true;
		return;
	}
	u = xcalloc(1, sizeof(*u));
	u->session = s;
	u->mailbox_id = s->mailbox_id;
	u->uids = xcalloc(s->message_count, sizeof(uint32_t));
	for (size_t i = 0; i < s->message_count; i++)
		if (s->messages[i].deleted)
			u->uids[u->count++] = s->messages[i].ref.uid;
	s->state = POP3_STATE_UPDATE;
	conn_pause_read(s->conn);
	store_writer_submit(s->server->writer, update_run, update_done, u);
}

static const struct pop3_cmd commands[POP3_CMD_COUNT] = {
	[POP3_CMD_CAPA] = { IN_AUTHORIZATION | IN_TRANSACTION, cmd_capa },
	[POP3_CMD_STLS] = { IN_AUTHORIZATION, cmd_stls },
	[POP3_CMD_USER] = { IN_AUTHORIZATION, cmd_user },
	[POP3_CMD_PASS] = { IN_AUTHORIZATION, cmd_pass },
	[POP3_CMD_AUTH] = { IN_AUTHORIZATION, cmd_auth },
	[POP3_CMD_STAT] = { IN_TRANSACTION, cmd_stat },
	[POP3_CMD_LIST] = { IN_TRANSACTION, cmd_list },
	[POP3_CMD_UIDL] = { IN_TRANSACTION, cmd_uidl },
	[POP3_CMD_RETR] = { IN_TRANSACTION, cmd_retr },
	[POP3_CMD_TOP] = { IN_TRANSACTION, cmd_top },
	[POP3_CMD_DELE] = { IN_TRANSACTION, cmd_dele },
	[POP3_CMD_NOOP] = { IN_TRANSACTION, cmd_noop },
	[POP3_CMD_RSET] = { IN_TRANSACTION, cmd_rset },
	[POP3_CMD_QUIT] = { IN_AUTHORIZATION | IN_TRANSACTION, cmd_quit },
};

void pop3_dispatch(struct pop3_session *s, const char *line)
{
	const char *args;
	enum pop3_verb verb = pop3_parse_verb(line, &args);
	unsigned state = s->state == POP3_STATE_TRANSACTION ? IN_TRANSACTION : IN_AUTHORIZATION;

	if (verb == POP3_CMD_UNKNOWN)
		pop3_error(s, "-ERR Unknown command");
	else if (!(commands[verb].states & state))
		pop3_error(s, "-ERR Command not valid in this state");
	else
		commands[verb].run(s, args);
}
