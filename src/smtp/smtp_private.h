/* smtp_private: the session structure shared by the SMTP server's files. */
#ifndef SEALPOST_SMTP_PRIVATE_H
#define SEALPOST_SMTP_PRIVATE_H

#include <sys/queue.h>

#include "smtp.h"

struct smtp_server {
	net_loop_t *loop;
	mta_t *mta;
	store_t *store;
	net_tls_t *tls;
	LIST_HEAD(, smtp_session) sessions;
	size_t session_count;
	bool shutting_down;
};

enum smtp_state {
	SMTP_STATE_COMMAND, /* reading command lines */
	SMTP_STATE_AUTH,    /* reading an AUTH continuation line */
	SMTP_STATE_DATA,    /* reading message bytes after 354 */
	SMTP_STATE_COMMIT,  /* waiting for the store; input is paused */
	SMTP_STATE_AUTH_CHECK, /* waiting for the password hash; input is paused */
};

enum smtp_auth_step { SMTP_AUTH_PLAIN, SMTP_AUTH_LOGIN_USER, SMTP_AUTH_LOGIN_PASS };

struct smtp_session {
	smtp_server_t *server;
	conn_t *conn; /* NULL once the client is gone */
	enum smtp_mode mode;
	enum smtp_state state;
	char id[13];
	char *helo;
	bool esmtp;
	char *auth_user;
	enum smtp_auth_step auth_step;
	char *auth_login_name;
	/* the mail transaction */
	char *sender; /* NULL: no transaction */
	char **rcpts;
	size_t rcpt_count;
	struct smtp_mail_params params;
	str_t message;
	struct smtp_data data;
	/* bookkeeping */
	str_t line;
	int errors;
	bool quitting; /* close once this round of input is done */
	LIST_ENTRY(smtp_session) entry;
};

/* smtp_session.c */
void smtp_reply(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A reply that counts as an error; past errors_max the session is closed. */
void smtp_error(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void smtp_transaction_reset(struct smtp_session *s);
void smtp_session_reset_identity(struct smtp_session *s);

/* smtp_commands.c */
void smtp_dispatch(struct smtp_session *s, const char *line);
void smtp_data_finished(struct smtp_session *s);
/* smtp_session.c: a commit or a password check is in flight. Such a session
 * outlives its connection; the completion calls smtp_session_resume, which
 * frees it if the client has gone. */
bool smtp_session_busy(const struct smtp_session *s);
void smtp_session_resume(struct smtp_session *s);

/* smtp_auth.c */
void smtp_auth_start(struct smtp_session *s, const char *args);
void smtp_auth_continue(struct smtp_session *s, const char *line);
bool smtp_auth_offered(const struct smtp_session *s);

#endif
