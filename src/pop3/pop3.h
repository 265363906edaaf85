/* pop3: the POP3 server (RFC 1939 with CAPA, UIDL, TOP, USER/PASS, SASL PLAIN,
 * STLS, RESP-CODES, PIPELINING). A maildrop is locked while a session holds it;
 * deletions happen only at QUIT, durably, before +OK. Plus its pure parsers. */
#ifndef SEALPOST_POP3_H
#define SEALPOST_POP3_H

#include <stdbool.h>
#include <stddef.h>

#include "mta/mta.h"
#include "net/net.h"
#include "store/store.h"

typedef struct pop3_server pop3_server_t;

/* mta: for the policy's lock-out of addresses with too many failed logins. */
pop3_server_t *pop3_server_new(net_loop_t *loop, store_t *store, store_writer_t *writer,
			       net_tls_t *tls, mta_t *mta);
void pop3_server_free(pop3_server_t **server);
/* Accept function for net_listen; arg is the server. */
void pop3_accept(conn_t *conn, void *server);
void pop3_server_shutdown(pop3_server_t *server);
size_t pop3_server_session_count(const pop3_server_t *server);

/* ---- parsing: no I/O ---- */
enum pop3_verb {
	POP3_CMD_UNKNOWN,
	POP3_CMD_CAPA,
	POP3_CMD_USER,
	POP3_CMD_PASS,
	POP3_CMD_AUTH,
	POP3_CMD_STLS,
	POP3_CMD_STAT,
	POP3_CMD_LIST,
	POP3_CMD_UIDL,
	POP3_CMD_RETR,
	POP3_CMD_TOP,
	POP3_CMD_DELE,
	POP3_CMD_NOOP,
	POP3_CMD_RSET,
	POP3_CMD_QUIT,
	POP3_CMD_COUNT
};
enum pop3_verb pop3_parse_verb(const char *line, const char **args_r);
/* A decimal number in min..max followed by nothing, or (if rest_r) by a space and
 * the rest. Returns 0 or -1. */
int pop3_parse_number(const char *text, unsigned long min, unsigned long max,
		      unsigned long *n_r, const char **rest_r);

#endif
