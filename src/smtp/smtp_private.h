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
	SMTP_STATE_POLICY_CHECK, /* waiting for the DNS block lists; no greeting yet */
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
	net_timer_t *tarpit; /* slows a client that keeps making errors */
	bool tarpitted;
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

/* ---- the outbound side: the queue runner and its client sessions ---- */
enum smtp_verdict { SMTP_DONE, SMTP_DEFER, SMTP_FAIL };
/* What became of one recipient. */
struct smtp_result {
	enum smtp_verdict verdict;
	char status[16]; /* enhanced status code: "2.0.0", "4.4.1", "5.1.1" */
	char *text;      /* the server's reply, or why we gave up */
	char *remote;    /* the host that said so; NULL if none was reached */
};
struct smtp_dest {
	char *domain;
	long long active; /* client sessions now */
};
struct smtp_client;
struct smtp_queue {
	net_loop_t *loop;
	store_t *store;
	store_writer_t *writer;
	mta_t *mta;
	net_dns_t *dns;
	net_tls_t *tls, *tls_verify; /* client contexts: opportunistic, and verifying */
	char *hostname;
	net_timer_t *timer;
	bool kicked, stopping;
	int64_t *busy; /* queue ids handed out and not yet committed: 0 empty, -1 gone */
	size_t busy_cap, busy_count, busy_tombs;
	struct smtp_dest *dests;
	size_t dest_count;
	size_t active;
	LIST_HEAD(, smtp_client) clients;
};

/* smtp_queue.c */
/* A message's outcome, one result per row (items are moved in: the queue frees them). */
void smtp_queue_outcome(struct smtp_queue *q, struct store_queue_item *items, size_t n,
			const struct smtp_result *results);
void smtp_queue_client_done(struct smtp_queue *q, const char *domain);
size_t smtp_queue_take(struct smtp_queue *q, const char *domain, struct store_queue_item **batch_r);
const char *smtp_recipient_domain(const char *address);

/* smtp_client.c: one connection carrying a batch of rows (whole messages, one
 * domain) to the domain's servers; it owns items until each message's outcome. */
void smtp_client_start(struct smtp_queue *q, const char *domain, struct store_queue_item *items, size_t n);
void smtp_client_close_all(struct smtp_queue *q);

/* smtp_auth.c */
void smtp_auth_start(struct smtp_session *s, const char *args);
void smtp_auth_continue(struct smtp_session *s, const char *line);
bool smtp_auth_offered(const struct smtp_session *s);

#endif
