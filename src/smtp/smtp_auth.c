/* smtp_auth: AUTH PLAIN and LOGIN (RFC 4954, 4616). Never before TLS unless the
 * auth_plaintext_allowed setting says so; "*" cancels; failures count as errors. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "directory/directory.h"
#include "smtp_private.h"

bool smtp_auth_offered(const struct smtp_session *s)
{
	return s->auth_user == NULL &&
	       (conn_is_tls(s->conn) || param_get(P_AUTH_PLAINTEXT_ALLOWED) != 0);
}

static void offload(void *loop, void (*work)(void *), void (*done)(void *), void *arg)
{
	net_loop_offload(loop, work, done, arg);
}

static void auth_checked(void *arg, int result, const struct store_recipient *user)
{
	struct smtp_session *s = arg;

	if (s->conn == NULL) {
		smtp_session_resume(s); /* the client left meanwhile: this frees it */
		return;
	}
	if (result == 1) {
		s->auth_user = directory_address_of(user);
		log_info("smtp: authenticated session=%s user=%s", s->id, s->auth_user);
		smtp_reply(s, "235 2.7.0 Authentication successful");
	} else if (result == 0) {
		log_info("smtp: authentication failed session=%s peer=%s", s->id, conn_peer_ip(s->conn));
		mta_policy_auth_failed(s->server->mta, conn_peer_ip(s->conn));
		smtp_error(s, "535 5.7.8 Authentication credentials invalid");
	} else {
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
	}
	smtp_session_resume(s);
}

/* The password hash runs on a helper thread; input waits meanwhile. */
static void auth_finish(struct smtp_session *s, const char *user, const char *password)
{
	if (mta_policy_auth_locked(s->server->mta, conn_peer_ip(s->conn))) {
		s->state = SMTP_STATE_COMMAND;
		smtp_reply(s, "421 4.7.0 Too many failed logins from your address; try again later");
		s->quitting = true;
		return;
	}
	s->state = SMTP_STATE_AUTH_CHECK;
	conn_pause_read(s->conn);
	directory_authenticate_async(s->server->store, user, password, offload, s->server->loop,
				     auth_checked, s);
}

static void auth_plain(struct smtp_session *s, const char *b64)
{
	str_t decoded;
	const char *user, *password;

	str_init(&decoded);
	if (base64_decode(b64, strlen(b64), &decoded) < 0 ||
	    sasl_plain_split(&decoded, &user, &password) < 0) {
		s->state = SMTP_STATE_COMMAND;
		smtp_error(s, "501 5.5.2 Cannot decode the AUTH PLAIN response");
	} else {
		auth_finish(s, user, password);
	}
	explicit_bzero(decoded.data, decoded.len);
	str_free(&decoded);
}

/* One base64 line of AUTH LOGIN; returns the decoded text or NULL after replying. */
static char *auth_login_decode(struct smtp_session *s, const char *b64)
{
	str_t decoded;

	str_init(&decoded);
	if (base64_decode(b64, strlen(b64), &decoded) < 0 ||
	    memchr(decoded.data, '\0', decoded.len) != NULL) {
		s->state = SMTP_STATE_COMMAND;
		smtp_error(s, "501 5.5.2 Cannot decode the AUTH LOGIN response");
		str_free(&decoded);
		return NULL;
	}
	return str_steal(&decoded);
}

static void auth_login_name(struct smtp_session *s, const char *b64)
{
	free(s->auth_login_name);
	s->auth_login_name = auth_login_decode(s, b64);
	if (s->auth_login_name == NULL)
		return;
	s->auth_step = SMTP_AUTH_LOGIN_PASS;
	s->state = SMTP_STATE_AUTH;
	smtp_reply(s, "334 UGFzc3dvcmQ6"); /* "Password:" */
}

void smtp_auth_start(struct smtp_session *s, const char *args)
{
	char *mech = xstrndup(args, strcspn(args, " "));
	const char *initial = args + strlen(mech);

	if (*initial == ' ')
		initial++;
	if (s->auth_user != NULL)
		smtp_error(s, "503 5.5.1 Error: already authenticated");
	else if (!smtp_auth_offered(s))
		smtp_error(s, "538 5.7.11 Encryption required for requested authentication mechanism");
	else if (strcasecmp(mech, "PLAIN") == 0 && *initial != '\0')
		auth_plain(s, strcmp(initial, "=") == 0 ? "" : initial);
	else if (strcasecmp(mech, "PLAIN") == 0) {
		s->auth_step = SMTP_AUTH_PLAIN;
		s->state = SMTP_STATE_AUTH;
		smtp_reply(s, "334 ");
	} else if (strcasecmp(mech, "LOGIN") == 0 && *initial != '\0') {
		auth_login_name(s, initial);
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		s->auth_step = SMTP_AUTH_LOGIN_USER;
		s->state = SMTP_STATE_AUTH;
		smtp_reply(s, "334 VXNlcm5hbWU6"); /* "Username:" */
	} else {
		smtp_error(s, "504 5.5.4 Unrecognized authentication mechanism");
	}
	free(mech);
}

void smtp_auth_continue(struct smtp_session *s, const char *line)
{
	char *password;

	if (strcmp(line, "*") == 0) {
		s->state = SMTP_STATE_COMMAND;
		smtp_error(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	switch (s->auth_step) {
	case SMTP_AUTH_PLAIN:
		auth_plain(s, line);
		break;
	case SMTP_AUTH_LOGIN_USER:
		auth_login_name(s, line);
		break;
	case SMTP_AUTH_LOGIN_PASS:
		password = auth_login_decode(s, line);
		if (password != NULL) {
			auth_finish(s, s->auth_login_name, password);
			explicit_bzero(password, strlen(password));
			free(password);
		}
		x_free(&s->auth_login_name);
		break;
	}
}
