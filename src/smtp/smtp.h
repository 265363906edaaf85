/* smtp: the SMTP server (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
 * ENHANCEDSTATUSCODES, SMTPUTF8, STARTTLS, AUTH PLAIN/LOGIN) for the smtp,
 * submission and smtps listeners, plus its pure parsers (for tests and fuzzers). */
#ifndef SEALPOST_SMTP_H
#define SEALPOST_SMTP_H

#define DIRECTORY_PATH_MAX 254

#include <stdbool.h>
#include <stddef.h>

#include "lib/lib.h"
#include "mta/mta.h"
#include "net/net.h"
#include "store/store.h"

/* ---- server ---- */
typedef struct smtp_server smtp_server_t;
enum smtp_mode {
	SMTP_MODE_MX,         /* port 25: mail for our domains; relay only after AUTH */
	SMTP_MODE_SUBMISSION, /* port 587/465: AUTH required before MAIL */
};
smtp_server_t *smtp_server_new(net_loop_t *loop, mta_t *mta, store_t *store, net_tls_t *tls);
void smtp_server_free(smtp_server_t **server);
/* Accept functions for net_listen; arg is the server. */
void smtp_accept_mx(conn_t *conn, void *server);
void smtp_accept_submission(conn_t *conn, void *server);
/* Closes idle sessions with 421 and lets busy ones finish their transaction. */
void smtp_server_shutdown(smtp_server_t *server);
/* Closes every session at once (the grace period is over). */
void smtp_server_close_all(smtp_server_t *server);
size_t smtp_server_session_count(const smtp_server_t *server);

/* ---- the queue runner: outbound delivery (transports, MX, retries, DSNs) ---- */
typedef struct smtp_queue smtp_queue_t;
smtp_queue_t *smtp_queue_new(net_loop_t *loop, store_t *store, store_writer_t *writer, mta_t *mta,
			     net_dns_t *dns, const char *hostname, char **err_r);
/* Look at the queue now (new rows were committed); arg is the queue. */
void smtp_queue_kick(void *queue);
/* Shutting down: no new sessions; open ones are dropped (their rows stay queued). */
void smtp_queue_stop(smtp_queue_t *q);
size_t smtp_queue_active(const smtp_queue_t *q);
void smtp_queue_free(smtp_queue_t **q);

/* ---- parsing: no I/O ---- */
enum smtp_verb {
	SMTP_CMD_UNKNOWN,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_HELP,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	SMTP_CMD_COUNT
};
/* Splits "VERB args"; *args_r points into line ("" if none). */
enum smtp_verb smtp_parse_verb(const char *line, const char **args_r);

enum smtp_path_result {
	SMTP_PATH_OK,
	SMTP_PATH_SYNTAX,      /* 501 5.5.4: not "FROM:<...>" */
	SMTP_PATH_BAD_ADDRESS, /* 501 5.1.3 / 5.1.7: the mailbox is malformed */
};
/* Parses "FROM:<path> params" or "TO:<path> params" (keyword without colon).
 * A source route (@a,@b:) is dropped, as RFC 5321 section 3.3 allows. The null
 * path "<>" gives an empty address when allow_null. */
enum smtp_path_result smtp_parse_path(const char *args, const char *keyword, bool allow_null,
				      char **address_r, char **params_r);
/* RFC 5321 Mailbox syntax (with RFC 6531 UTF-8 when utf8). */
bool smtp_mailbox_valid(const char *address, bool utf8);

struct smtp_mail_params {
	long long size; /* -1 if not given */
	bool body_8bit;
	bool smtputf8;
};
/* Returns 0, or -1 with *bad_r naming the first parameter we do not accept. */
int smtp_parse_mail_params(const char *params, struct smtp_mail_params *p, const char **bad_r);

/* DATA decoding: removes dot-stuffing and finds the end "CRLF.CRLF". Bare CR or
 * LF are noted (and never end the data: SMTP smuggling defence). */
enum smtp_data_state { SMTP_DATA_BOL, SMTP_DATA_TEXT, SMTP_DATA_CR, SMTP_DATA_DOT, SMTP_DATA_DOT_CR };
struct smtp_data {
	enum smtp_data_state state;
	bool bare_eol;
	bool too_big;
	size_t max;
	str_t *out;
};
void smtp_data_init(struct smtp_data *d, str_t *out, size_t max);
/* Consumes bytes up to and including the end marker; *done_r set when found. */
size_t smtp_data_feed(struct smtp_data *d, const char *buf, size_t len, bool *done_r);

#endif
