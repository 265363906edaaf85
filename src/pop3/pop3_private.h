/* pop3_private: the session structure shared by the POP3 server's files. */
#ifndef SEALPOST_POP3_PRIVATE_H
#define SEALPOST_POP3_PRIVATE_H

#include <sys/queue.h>

#include "pop3.h"

struct pop3_server {
	net_loop_t *loop;
	mta_t *mta;
	store_t *store;
	store_writer_t *writer;
	net_tls_t *tls;
	LIST_HEAD(, pop3_session) sessions;
	size_t session_count;
	int64_t *locked; /* owners whose maildrop a session holds */
	size_t locked_count;
	bool shutting_down;
};

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_AUTH_CONTINUE, /* waiting for the AUTH PLAIN response line */
	POP3_STATE_TRANSACTION,
	POP3_STATE_SENDING,       /* streaming RETR/TOP; input waits */
	POP3_STATE_UPDATE,        /* QUIT's deletions are being committed */
	POP3_STATE_AUTH_CHECK,    /* the password hash runs elsewhere; input waits */
};

struct pop3_message {
	struct store_message_ref ref;
	bool deleted;
};

struct pop3_session {
	pop3_server_t *server;
	conn_t *conn; /* NULL once the client is gone */
	enum pop3_state state;
	char id[13];
	char *user_name; /* from USER, until PASS */
	int64_t owner_id; /* >0 once authenticated and locked */
	char *owner_address;
	int64_t mailbox_id;
	uint32_t uidvalidity;
	struct pop3_message *messages;
	size_t message_count;
	/* streaming RETR/TOP */
	const struct store_message_ref *send_ref;
	uint64_t send_off, send_end;
	bool send_at_bol;
	str_t line;
	str_t scratch;
	int errors;
	bool quitting;
	LIST_ENTRY(pop3_session) entry;
};

/* pop3_session.c */
void pop3_reply(struct pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop3_error(struct pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop3_send_message(struct pop3_session *s, const struct store_message_ref *ref, uint64_t end);
bool pop3_maildrop_lock(struct pop3_session *s, int64_t owner_id);
void pop3_session_after_update(struct pop3_session *s);
/* A commit or a password check is in flight: the session outlives its connection
 * and the completion calls pop3_session_resume (or _after_update). */
bool pop3_session_busy(const struct pop3_session *s);
void pop3_session_resume(struct pop3_session *s);

/* pop3_commands.c */
void pop3_dispatch(struct pop3_session *s, const char *line);
void pop3_auth_continue(struct pop3_session *s, const char *line);

#endif
