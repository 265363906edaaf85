/* smtp_commands: the command table and, per command, smtp_check_<cmd> (state,
 * syntax, policy: replies and returns -1 when refused) and smtp_proceed_<cmd>
 * (the work), as OpenSMTPD splits them. Flags are checked in one place. */
#include <stdlib.h>
#include <string.h>

#include "smtp_private.h"

enum {
	CMD_NEED_HELO = 1 << 0, /* after HELO/EHLO */
	CMD_NEED_MAIL = 1 << 1, /* inside a transaction */
	CMD_NO_MAIL = 1 << 2,   /* outside a transaction */
	CMD_NO_ARGS = 1 << 3,
	CMD_NEED_ARGS = 1 << 4,
};

struct smtp_cmd {
	unsigned flags;
	const char *usage;
	int (*check)(struct smtp_session *s, const char *args);
	void (*proceed)(struct smtp_session *s, const char *args);
};

static const char *host(struct smtp_session *s)
{
	return mta_hostname(s->server->mta);
}

static bool has_non_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Refused by policy: the reply the policy wrote, counted as an error. */
static bool policy_refused(struct smtp_session *s, bool refused, str_t *reply)
{
	if (refused)
		smtp_error(s, "%s", reply->data);
	str_free(reply);
	return refused;
}

/* ---- HELO / EHLO ---- */
static int smtp_check_helo(struct smtp_session *s, const char *args)
{
	str_t reply;

	str_init(&reply);
	return policy_refused(s, mta_policy_helo_refused(s->server->mta, conn_peer_ip(s->conn), args, &reply), &reply)
		       ? -1 : 0;
}

static void smtp_proceed_helo(struct smtp_session *s, const char *args)
{
	smtp_transaction_reset(s);
	free(s->helo);
	s->helo = xstrdup(args);
	s->esmtp = false;
	smtp_reply(s, "250 %s", host(s));
}

static void smtp_proceed_ehlo(struct smtp_session *s, const char *args)
{
	bool tls = conn_is_tls(s->conn);

	smtp_transaction_reset(s);
	free(s->helo);
	s->helo = xstrdup(args);
	s->esmtp = true;
	smtp_reply(s, "250-%s", host(s));
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %lld", param_get(P_MESSAGE_SIZE_MAX));
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SMTPUTF8");
	if (!tls && s->server->tls != NULL)
		smtp_reply(s, "250-STARTTLS");
	if (smtp_auth_offered(s))
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250 ENHANCEDSTATUSCODES");
}

/* ---- MAIL ---- */
static bool sender_refused(struct smtp_session *s, const char *sender)
{
	str_t reply;

	str_init(&reply);
	if (!mta_policy_sender_refused(s->server->mta, conn_peer_ip(s->conn), sender, &reply)) {
		str_free(&reply);
		return false;
	}
	if (reply.data[0] == '4')
		smtp_reply(s, "%s", reply.data); /* a rate limit: try later, not an error */
	else
		smtp_error(s, "%s", reply.data);
	str_free(&reply);
	return true;
}

static int smtp_check_mail(struct smtp_session *s, const char *args)
{
	if (s->mode == SMTP_MODE_SUBMISSION && s->auth_user == NULL) {
		smtp_error(s, "530 5.7.0 Authentication required");
		return -1;
	}
	return 0;
}

static void smtp_proceed_mail(struct smtp_session *s, const char *args)
{
	char *addr = NULL, *params = NULL;
	const char *bad;
	struct smtp_mail_params p;

	switch (smtp_parse_path(args, "FROM", true, &addr, &params)) {
	case SMTP_PATH_SYNTAX:
		smtp_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	case SMTP_PATH_BAD_ADDRESS:
		smtp_error(s, "501 5.1.7 Bad sender address syntax");
		return;
	case SMTP_PATH_OK:
		break;
	}
	if (smtp_parse_mail_params(params, &p, &bad) < 0)
		smtp_error(s, "555 5.5.4 Unsupported or malformed parameter: %.64s", bad);
	else if (p.size > param_get(P_MESSAGE_SIZE_MAX))
		smtp_error(s, "552 5.3.4 Message size exceeds fixed limit");
	else if (has_non_ascii(addr) && !p.smtputf8)
		smtp_error(s, "553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter");
	else if (sender_refused(s, addr))
		;
	else {
		s->sender = addr;
		s->params = p;
		addr = NULL;
		smtp_reply(s, "250 2.1.0 Ok");
	}
	free(addr);
	free(params);
}

/* ---- RCPT ---- */
static int smtp_check_rcpt(struct smtp_session *s, const char *args)
{
	if (s->rcpt_count >= (size_t)param_get(P_RECIPIENTS_MAX)) {
		smtp_reply(s, "452 4.5.3 Too many recipients");
		return -1;
	}
	return 0;
}

static bool rcpt_accept(struct smtp_session *s, const char *addr)
{
	str_t reply;

	if (has_non_ascii(addr) && !s->params.smtputf8) {
		smtp_error(s, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
		return false;
	}
	str_init(&reply);
	if (policy_refused(s, mta_policy_recipient_refused(s->server->mta, conn_peer_ip(s->conn), addr, &reply),
			   &reply))
		return false;
	switch (mta_check_recipient(s->server->mta, addr, s->params.size > 0 ? s->params.size : 0)) {
	case MTA_RCPT_LOCAL:
		return true;
	case MTA_RCPT_FULL:
		smtp_reply(s, "452 4.2.2 <%s>: Mailbox full, try again later", addr);
		return false;
	case MTA_RCPT_TOO_BIG:
		smtp_error(s, "552 5.2.2 <%s>: Message larger than the mailbox can hold", addr);
		return false;
	case MTA_RCPT_REMOTE:
		if (s->auth_user != NULL || mta_policy_relay_allowed(s->server->mta, conn_peer_ip(s->conn)))
			return true;
		log_info("smtp: relay denied session=%s peer=%s rcpt=<%s>", s->id,
			 conn_peer_ip(s->conn), addr);
		smtp_error(s, "554 5.7.1 <%s>: Relay access denied", addr);
		return false;
	case MTA_RCPT_UNKNOWN:
		smtp_error(s, "550 5.1.1 <%s>: Recipient address rejected: User unknown", addr);
		return false;
	case MTA_RCPT_TEMPFAIL:
		break;
	}
	smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure", addr);
	return false;
}

static void smtp_proceed_rcpt(struct smtp_session *s, const char *args)
{
	char *addr = NULL, *params = NULL;

	switch (smtp_parse_path(args, "TO", false, &addr, &params)) {
	case SMTP_PATH_SYNTAX:
		smtp_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	case SMTP_PATH_BAD_ADDRESS:
		smtp_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	case SMTP_PATH_OK:
		break;
	}
	if (*params != '\0') {
		smtp_error(s, "555 5.5.4 Unsupported parameter: %.64s", params);
	} else if (rcpt_accept(s, addr)) {
		s->rcpts = xrealloc(s->rcpts, (s->rcpt_count + 1) * sizeof(char *));
		s->rcpts[s->rcpt_count++] = addr;
		addr = NULL;
		smtp_reply(s, "250 2.1.5 Ok");
	}
	free(addr);
	free(params);
}

/* ---- DATA ---- */
static int smtp_check_data(struct smtp_session *s, const char *args)
{
	if (s->rcpt_count == 0) {
		smtp_error(s, "554 5.5.1 Error: no valid recipients");
		return -1;
	}
	return 0;
}

static void smtp_proceed_data(struct smtp_session *s, const char *args)
{
	smtp_data_init(&s->data, &s->message, (size_t)param_get(P_MESSAGE_SIZE_MAX));
	s->state = SMTP_STATE_DATA;
	conn_set_timeout(s->conn, (int)param_get(P_DATA_TIMEOUT));
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* The "with" keyword of the Received header (RFC 3848, RFC 6531 4.3). */
static const char *received_protocol(struct smtp_session *s)
{
	static const char *const names[3][2][2] = {
		{ { "SMTP", "SMTPA" }, { "SMTPS", "SMTPSA" } },
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};
	int kind = s->params.smtputf8 ? 2 : s->esmtp;

	return names[kind][conn_is_tls(s->conn)][s->auth_user != NULL];
}

static void commit_done(void *arg, enum mta_result result, const char *msgid)
{
	struct smtp_session *s = arg;

	switch (result) {
	case MTA_OK:
		mta_policy_sender_counted(s->server->mta, s->sender);
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", msgid);
		break;
	case MTA_LOOP:
		smtp_error(s, "554 5.4.6 Too many hops: mail loop detected");
		break;
	case MTA_NO_RCPT:
		smtp_error(s, "554 5.5.1 No valid recipients");
		break;
	case MTA_QUOTA:
		smtp_error(s, "552 5.2.2 Mailbox full: no recipient has room for this message");
		break;
	case MTA_TEMPFAIL:
		smtp_reply(s, "451 4.3.0 Internal error, try again later");
		break;
	}
	smtp_transaction_reset(s);
	smtp_session_resume(s);
}

void smtp_data_finished(struct smtp_session *s)
{
	struct mta_envelope env;

	s->state = SMTP_STATE_COMMAND;
	if (s->data.too_big) {
		smtp_error(s, "552 5.3.4 Message size exceeds fixed limit");
		smtp_transaction_reset(s);
		return;
	}
	if (s->data.bare_eol) {
		smtp_error(s, "554 5.6.0 Message contains bare CR or LF; lines must end with CRLF");
		smtp_transaction_reset(s);
		return;
	}
	env = (struct mta_envelope){
		.sender = s->sender, .recipients = s->rcpts, .recipient_count = s->rcpt_count,
		.helo = s->helo, .client_ip = conn_peer_ip(s->conn), .auth_user = s->auth_user,
		.protocol = received_protocol(s),
	};
	s->state = SMTP_STATE_COMMIT;
	conn_pause_read(s->conn);
	mta_submit(s->server->mta, &env, s->message.data ? s->message.data : "", s->message.len,
		   commit_done, s);
}

/* ---- the small ones ---- */
static void smtp_proceed_rset(struct smtp_session *s, const char *args)
{
	smtp_transaction_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void smtp_proceed_noop(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void smtp_proceed_quit(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "221 2.0.0 Bye");
	s->quitting = true;
}

static void smtp_proceed_vrfy(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
}

static void smtp_proceed_expn(struct smtp_session *s, const char *args)
{
	smtp_error(s, "502 5.5.1 EXPN not available");
}

static void smtp_proceed_help(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "214 2.0.0 Sealpost: see RFC 5321");
}

static int smtp_check_starttls(struct smtp_session *s, const char *args)
{
	if (conn_is_tls(s->conn)) {
		smtp_error(s, "554 5.5.1 Error: TLS already active");
		return -1;
	}
	if (s->server->tls == NULL) {
		smtp_reply(s, "454 4.7.0 TLS not available");
		return -1;
	}
	return 0;
}

static void smtp_proceed_starttls(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	if (conn_start_tls(s->conn, s->server->tls) < 0) {
		log_warnx("smtp: STARTTLS set-up failed session=%s", s->id);
		s->quitting = true;
		return;
	}
	smtp_session_reset_identity(s);
}

static const struct smtp_cmd commands[SMTP_CMD_COUNT] = {
	[SMTP_CMD_HELO] = { CMD_NEED_ARGS, "HELO hostname", smtp_check_helo, smtp_proceed_helo },
	[SMTP_CMD_EHLO] = { CMD_NEED_ARGS, "EHLO hostname", smtp_check_helo, smtp_proceed_ehlo },
	[SMTP_CMD_MAIL] = { CMD_NEED_HELO | CMD_NO_MAIL, NULL, smtp_check_mail, smtp_proceed_mail },
	[SMTP_CMD_RCPT] = { CMD_NEED_MAIL, NULL, smtp_check_rcpt, smtp_proceed_rcpt },
	[SMTP_CMD_DATA] = { CMD_NEED_MAIL | CMD_NO_ARGS, "DATA", smtp_check_data, smtp_proceed_data },
	[SMTP_CMD_RSET] = { CMD_NO_ARGS, "RSET", NULL, smtp_proceed_rset },
	[SMTP_CMD_NOOP] = { 0, NULL, NULL, smtp_proceed_noop },
	[SMTP_CMD_QUIT] = { CMD_NO_ARGS, "QUIT", NULL, smtp_proceed_quit },
	[SMTP_CMD_VRFY] = { CMD_NEED_ARGS, "VRFY address", NULL, smtp_proceed_vrfy },
	[SMTP_CMD_EXPN] = { 0, NULL, NULL, smtp_proceed_expn },
	[SMTP_CMD_HELP] = { 0, NULL, NULL, smtp_proceed_help },
	[SMTP_CMD_STARTTLS] = { CMD_NO_ARGS | CMD_NO_MAIL, "STARTTLS", smtp_check_starttls,
				smtp_proceed_starttls },
	[SMTP_CMD_AUTH] = { CMD_NEED_HELO | CMD_NO_MAIL | CMD_NEED_ARGS, "AUTH mechanism",
			    NULL, smtp_auth_start },
};

/* The one place where flags are enforced; replies and returns -1 on refusal. */
static int check_flags(struct smtp_session *s, const struct smtp_cmd *cmd, const char *args)
{
	if ((cmd->flags & CMD_NEED_HELO) && s->helo == NULL) {
		smtp_error(s, "503 5.5.1 Error: send HELO/EHLO first");
		return -1;
	}
	if ((cmd->flags & CMD_NEED_MAIL) && s->sender == NULL) {
		smtp_error(s, "503 5.5.1 Error: need MAIL command");
		return -1;
	}
	if ((cmd->flags & CMD_NO_MAIL) && s->sender != NULL) {
		smtp_error(s, "503 5.5.1 Error: not allowed inside a mail transaction");
		return -1;
	}
	if (((cmd->flags & CMD_NO_ARGS) && *args != '\0') ||
	    ((cmd->flags & CMD_NEED_ARGS) && *args == '\0')) {
		smtp_error(s, "501 5.5.4 Syntax: %s", cmd->usage);
		return -1;
	}
	return 0;
}

void smtp_dispatch(struct smtp_session *s, const char *line)
{
	const char *args;
	enum smtp_verb verb = smtp_parse_verb(line, &args);
	const struct smtp_cmd *cmd = &commands[verb];

	log_debug("smtp: command session=%s verb=%d", s->id, verb);
	if (verb == SMTP_CMD_UNKNOWN) {
		smtp_error(s, "500 5.5.2 Error: command not recognized");
		return;
	}
	if (check_flags(s, cmd, args) < 0 || (cmd->check != NULL && cmd->check(s, args) < 0))
		return;
	cmd->proceed(s, args);
}
