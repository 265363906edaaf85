/* cmd_session: the commands about the connection itself: CAPABILITY, NOOP and
 * CHECK, LOGOUT, ID, NAMESPACE, STARTTLS, LOGIN and AUTHENTICATE (PLAIN, with
 * SASL-IR). Passwords are checked off the loop (directory_authenticate_async). */
#include <string.h>
#include <strings.h>

#include "directory/directory.h"
#include "imap_private.h"

void cmd_capability(struct imap_session *s)
{
	imap_untagged(s, "CAPABILITY %s", imap_capabilities(s));
	imap_command_done(s, "OK", "CAPABILITY completed");
}

void cmd_noop(struct imap_session *s)
{
	imap_view_sync(s);
	imap_command_done(s, "OK", "%s completed", s->cmd.name);
}

void cmd_logout(struct imap_session *s)
{
	imap_untagged(s, "BYE Sealpost logging out");
	imap_command_done(s, "OK", "LOGOUT completed");
	s->quitting = true;
}

void cmd_id(struct imap_session *s)
{
	imap_untagged(s, "ID (\"name\" \"Sealpost\")");
	imap_command_done(s, "OK", "ID completed");
}

/* ENABLE (RFC 5161): CONDSTORE, QRESYNC (which implies CONDSTORE) and IMAP4rev2. */
void cmd_enable(struct imap_session *s)
{
	str_t enabled;

	if (s->cmd.argc == 0) {
		imap_command_done(s, "BAD", "Syntax: ENABLE capability...");
		return;
	}
	str_init(&enabled);
	str_append_cstr(&enabled, "ENABLED");
	for (size_t i = 0; i < s->cmd.argc; i++) {
		const char *cap = s->cmd.args[i].type == IMAP_ARG_ATOM ? s->cmd.args[i].str : "";
		if (strcasecmp(cap, "CONDSTORE") == 0 && !s->condstore) {
			s->condstore = true;
			str_append_cstr(&enabled, " CONDSTORE");
		} else if (strcasecmp(cap, "QRESYNC") == 0 && !s->qresync) {
			s->qresync = s->condstore = true;
			str_append_cstr(&enabled, " QRESYNC");
		} else if (strcasecmp(cap, "IMAP4rev2") == 0 && !s->rev2) {
			s->rev2 = true;
			str_append_cstr(&enabled, " IMAP4rev2");
		}
	}
	imap_untagged(s, "%s", enabled.data);
	str_free(&enabled);
	imap_command_done(s, "OK", "ENABLE completed");
}

void cmd_namespace(struct imap_session *s)
{
	imap_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_command_done(s, "OK", "NAMESPACE completed");
}

void cmd_starttls(struct imap_session *s)
{
	if (conn_is_tls(s->conn) || s->server->tls == NULL) {
		imap_command_done(s, "BAD", "TLS is not available here");
		return;
	}
	imap_command_done(s, "OK", "Begin TLS negotiation now");
	if (conn_start_tls(s->conn, s->server->tls) < 0)
		s->quitting = true;
}

static bool auth_allowed(struct imap_session *s)
{
	return conn_is_tls(s->conn) || param_get(P_AUTH_PLAINTEXT_ALLOWED) != 0;
}

static void offload(void *loop, void (*work)(void *), void (*done)(void *), void *arg)
{
	net_loop_offload(loop, work, done, arg);
}

static void login_checked(void *arg, int result, const struct store_recipient *user)
{
	struct imap_session *s = arg;

	s->waiting = false;
	if (s->conn == NULL) {
		imap_session_release(s); /* the client left meanwhile */
		return;
	}
	if (result == 1) {
		s->owner_id = user->id;
		s->user = directory_address_of(user);
		s->state = IMAP_STATE_AUTH;
		log_info("imap: login session=%s user=%s", s->id, s->user);
		imap_command_done(s, "OK", "[CAPABILITY %s] Logged in", imap_capabilities(s));
	} else if (result == 0) {
		log_info("imap: authentication failed session=%s peer=%s", s->id, conn_peer_ip(s->conn));
		mta_policy_auth_failed(s->server->mta, conn_peer_ip(s->conn));
		s->errors++;
		imap_command_done(s, "NO", "[AUTHENTICATIONFAILED] Invalid credentials");
	} else {
		imap_command_done(s, "NO", "[UNAVAILABLE] Cannot check credentials now");
	}
}

static void login_start(struct imap_session *s, const char *user, const char *password)
{
	if (mta_policy_auth_locked(s->server->mta, conn_peer_ip(s->conn))) {
		imap_command_done(s, "NO", "[UNAVAILABLE] Too many failed logins from your address; try again later");
		return;
	}
	s->waiting = true;
	directory_authenticate_async(s->server->store, user, password, offload, s->server->loop,
				     login_checked, s);
}

static bool is_astring(const struct imap_arg *a)
{
	return a->type != IMAP_ARG_LIST;
}

void cmd_login(struct imap_session *s)
{
	if (!auth_allowed(s)) {
		imap_command_done(s, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	if (s->cmd.argc != 2 || !is_astring(&s->cmd.args[0]) || !is_astring(&s->cmd.args[1])) {
		imap_command_done(s, "BAD", "Syntax: LOGIN user password");
		return;
	}
	login_start(s, s->cmd.args[0].str, s->cmd.args[1].str);
}

static void auth_plain(struct imap_session *s, const char *b64)
{
	str_t decoded;
	const char *user, *password;

	str_init(&decoded);
	if (base64_decode(b64, strlen(b64), &decoded) < 0 ||
	    sasl_plain_split(&decoded, &user, &password) < 0)
		imap_command_done(s, "BAD", "Cannot decode the PLAIN response");
	else
		login_start(s, user, password);
	explicit_bzero(decoded.data, decoded.len);
	str_free(&decoded);
}

void cmd_authenticate(struct imap_session *s)
{
	if (s->cmd.argc < 1 || s->cmd.argc > 2 || s->cmd.args[0].type != IMAP_ARG_ATOM) {
		imap_command_done(s, "BAD", "Syntax: AUTHENTICATE mechanism [initial-response]");
	} else if (strcasecmp(s->cmd.args[0].str, "PLAIN") != 0) {
		imap_command_done(s, "NO", "Unsupported mechanism");
	} else if (!auth_allowed(s)) {
		imap_command_done(s, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
	} else if (s->cmd.argc == 2) {
		auth_plain(s, strcmp(s->cmd.args[1].str, "=") == 0 ? "" : s->cmd.args[1].str);
	} else {
		s->auth_continue = true;
		conn_write(s->conn, "+ \r\n", 4);
		conn_resume_read(s->conn);
	}
}

void cmd_authenticate_continue(struct imap_session *s, const char *line)
{
	s->auth_continue = false;
	if (strcmp(line, "*") == 0)
		imap_command_done(s, "BAD", "Authentication cancelled");
	else
		auth_plain(s, line);
}
