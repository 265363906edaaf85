/* imap: the IMAP server, and its pure parsers (commands, sequence sets) for tests
 * and fuzzers. Protocol code only: storage is reached through store/, mail
 * submission (never needed by APPEND) through mta/. */
#ifndef SEALPOST_IMAP_H
#define SEALPOST_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/lib.h"
#include "mta/mta.h"
#include "net/net.h"
#include "store/store.h"

/* ---- server ---- */
typedef struct imap_server imap_server_t;
/* mta: for the policy's lock-out of addresses with too many failed logins (APPEND
 * never goes through the pipeline). */
imap_server_t *imap_server_new(net_loop_t *loop, store_t *store, store_writer_t *writer,
			       net_tls_t *tls, mta_t *mta);
void imap_server_free(imap_server_t **server);
/* Accept function for net_listen; arg is the server. */
void imap_accept(conn_t *conn, void *server);
/* Says BYE to idle sessions; busy ones finish their command first. */
void imap_server_shutdown(imap_server_t *server);
size_t imap_server_session_count(const imap_server_t *server);

/* ---- command parser: no I/O ---- */
enum imap_arg_type { IMAP_ARG_ATOM, IMAP_ARG_STRING, IMAP_ARG_LITERAL, IMAP_ARG_LIST };
struct imap_arg {
	enum imap_arg_type type;
	char *str; /* atoms and strings; NUL-terminated, len may hold NULs for literals */
	size_t len;
	struct imap_arg *children; /* lists */
	size_t count;
};

struct imap_parser_limits {
	size_t line_max;    /* octets outside literals in one command */
	uint64_t literal_max; /* for all the literals of one command together */
	size_t depth_max;   /* nested parentheses */
	size_t args_max;    /* arguments in one command, all levels */
};

enum imap_parse_result {
	IMAP_PARSE_NEED_MORE,
	IMAP_PARSE_DONE,     /* a command is complete: tag, name, root */
	IMAP_PARSE_CONTINUE, /* a synchronising literal: send "+ ..." and feed on */
	IMAP_PARSE_ERROR,    /* error says why; fatal means close the connection */
};

#define IMAP_PARSER_DEPTH_MAX 64
struct imap_parser {
	struct imap_parser_limits limits;
	int state;
	str_t tag, name, token;
	struct imap_arg root; /* the arguments after the command name */
	struct imap_arg *stack[IMAP_PARSER_DEPTH_MAX];
	size_t depth;
	size_t line_bytes;
	size_t arg_total;
	uint64_t literal_len, literal_remaining;
	uint64_t literal_total; /* octets of literals in this command so far */
	int literal_digits;
	bool literal_nonsync;
	const char *error;
	bool fatal;
	bool error_ended_line;
	bool tag_complete; /* so an error can be answered with the client's tag */
};

void imap_parser_init(struct imap_parser *p, const struct imap_parser_limits *limits);
/* Forgets the current command; call after DONE before feeding on. */
void imap_parser_reset(struct imap_parser *p);
void imap_parser_free(struct imap_parser *p);
/* Consumes bytes until a result other than NEED_MORE, or all of them. */
size_t imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
			enum imap_parse_result *result_r);

/* A deep copy of an argument (kept past its command), and freeing one. */
void imap_arg_copy(struct imap_arg *dst, const struct imap_arg *src);
void imap_arg_free(struct imap_arg *arg);

/* ---- mailbox names: UTF-8 and modified UTF-7 (RFC 3501 5.1.3) ---- */
/* Allocated conversions; NULL if the input is not valid in its form. */
char *imap_utf8_to_mutf7(const char *utf8);
char *imap_mutf7_to_utf8(const char *mutf7);

/* ---- IMAP URLs naming a message or part (RFC 5092), with URLAUTH (RFC 4467) ---- */
enum imap_url_access { IMAP_URL_NONE, IMAP_URL_ANONYMOUS, IMAP_URL_AUTHUSER, IMAP_URL_USER, IMAP_URL_SUBMIT };
struct imap_url {
	char *user;           /* imap://USER@host/: decoded; NULL in "/..." */
	char *mailbox;        /* decoded */
	uint32_t uidvalidity; /* 0: not given */
	uint32_t uid;
	char *section;        /* decoded; NULL: the whole message */
	bool partial;
	uint64_t partial_off, partial_len; /* len UINT64_MAX: to the end */
	int64_t expire;       /* seconds since the epoch; -1: none */
	char *access;         /* as written after ";URLAUTH="; NULL if none */
	enum imap_url_access access_kind;
	char *access_user;    /* user+NAME, submit+NAME: decoded */
	char *mechanism, *token; /* NULL when the URL is only a rump */
	size_t rump_len;      /* the URL up to and with the access: what the token signs */
};
/* Returns 0, or -1 if text is not such a URL. */
int imap_url_parse(const char *text, struct imap_url *url);
void imap_url_free(struct imap_url *url);

/* ---- sequence sets: "1:3,7,9:*" ---- */
struct imap_seqset {
	struct imap_range { uint32_t lo, hi; } *ranges;
	size_t count;
};
/* star stands for "*" (the largest number in use); ranges come back with lo <= hi.
 * Returns 0, or -1 if the text is not a sequence set. */
int imap_seqset_parse(const char *text, uint32_t star, struct imap_seqset *set);
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
void imap_seqset_free(struct imap_seqset *set);
/* Writes ascending numbers as a set, runs folded: "1:3,7". */
void imap_seqset_format(const uint32_t *numbers, size_t count, str_t *out);

#endif
