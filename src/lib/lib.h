/* lib: the foundation every module uses: memory, growable strings, logging,
 * the parameter table of bounded settings, the config file, fs and id helpers.
 * Nothing here knows about mail or protocols. */
#ifndef SEALPOST_LIB_H
#define SEALPOST_LIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdbool.h>

/* ---- memory: allocation failure is fatal, never handled at call sites ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define x_free(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

/* ---- str_t: growable byte string, always NUL-terminated ---- */
typedef struct {
	char *data;
	size_t len;
	size_t cap;
} str_t;

void str_init(str_t *s);
void str_free(str_t *s);
void str_clear(str_t *s);
void str_reserve(str_t *s, size_t extra);
void str_append(str_t *s, const void *data, size_t len);
void str_append_cstr(str_t *s, const char *cstr);
void str_appendf(str_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void str_vappendf(str_t *s, const char *fmt, va_list ap);
/* Takes ownership of the buffer; s is left empty. */
char *str_steal(str_t *s);

/* ---- small string helpers ---- */
bool str_ieq(const char *a, const char *b);
bool str_istarts(const char *s, const char *prefix);
void str_lower(char *s);
/* Strips leading/trailing ASCII white space in place; returns s. */
char *str_trim(char *s);

/* The index of the command verb that starts LINE (case-insensitive, up to the
 * first space) in names[1..count-1], or 0; *args_r points past the space. */
int verb_lookup(const char *line, const char *const *names, int count, const char **args_r);

/* ---- logging: one line per event, key=value fields ---- */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_WARN, __VA_ARGS__)
/* log_warn appends the current errno text. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- parameters: every untrusted size is a named, bounded setting ---- */
struct param {
	const char *name;
	long long def;
	long long min;
	long long max;
	const char *help;
};
enum param_id {
	P_SMTP_LINE_MAX,
	P_MESSAGE_SIZE_MAX,
	P_RECIPIENTS_MAX,
	P_ERRORS_MAX,
	P_CONN_PER_IP_MAX,
	P_CONN_MAX,
	P_SMTP_TIMEOUT,
	P_DATA_TIMEOUT,
	P_POP3_LINE_MAX,
	P_POP3_TIMEOUT,
	P_GROUP_DEPTH_MAX,
	P_RECEIVED_MAX,
	P_AUTH_PLAINTEXT_ALLOWED,
	P_SHUTDOWN_GRACE,
	P_QUOTA_DEFAULT,
	P_QUEUE_LIFETIME,
	P_QUEUE_RETRY_MIN,
	P_QUEUE_RETRY_MAX,
	P_DELAY_WARNING,
	P_SMTP_CLIENT_MAX,
	P_SMTP_CLIENT_PER_DESTINATION,
	P_SMTP_CLIENT_BATCH,
	P_SMTP_CLIENT_PORT,
	P_SMTP_CLIENT_TIMEOUT,
	P_SENDER_HOURLY_MAX,
	P_TARPIT_AFTER,
	P_TARPIT_DELAY,
	P_AUTH_FAILURES_MAX,
	P_AUTH_LOCKOUT,
	P_COUNT
};
extern const struct param param_table[P_COUNT];
long long param_get(enum param_id id);
/* Sets by name; returns 0, or -1 with *err_r naming the problem. */
int param_set(const char *name, const char *value, const char **err_r);
void param_reset_defaults(void);
/* Writes "name = value  # help" lines for every parameter. */
void param_print(str_t *out);

/* ---- config file: "key = value" lines, '#' comments ---- */
struct config_entry {
	char *key;
	char *value;
};
struct config {
	struct config_entry *entries;
	size_t count;
};
/* Returns 0 or -1 with a message in err_r (caller frees). */
int config_parse(const char *text, struct config *cfg, char **err_r);
int config_load(const char *path, struct config *cfg, char **err_r);
void config_free(struct config *cfg);
const char *config_get(const struct config *cfg, const char *key);

/* ---- files ---- */
/* Writes the whole file via a temp file, fsync and rename, then fsyncs the dir. */
int fs_write_atomic(const char *path, const void *data, size_t len, int mode);
int fs_read_all(const char *path, str_t *out);
int fs_fsync_dir(const char *dir);
int fs_mkdir_p(const char *path, int mode);
bool fs_exists(const char *path);
/* write() until done or error. */
int fs_write_full(int fd, const void *data, size_t len);

/* ---- ids and time ---- */
/* Random id of 2*nbytes lowercase hex characters into buf (size >= 2*nbytes+1). */
void id_random_hex(char *buf, size_t nbytes);
/* RFC 5322 date-time for now, e.g. "Sat, 28 Nov 2026 05:00:00 +0000". */
void time_rfc5322(char *buf, size_t size);
int64_t time_now_ms(void);

/* ---- digests (OpenSSL) ---- */
/* HMAC-SHA-256 of data under key, as 64 lowercase hex characters and a NUL. */
void hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len, char out[65]);
/* Equal strings, compared in time that does not depend on where they differ. */
bool secret_equal(const char *a, const char *b);

/* ---- base64 (OpenSSL EVP) and SASL PLAIN (RFC 4616) ---- */
/* Decodes strict base64; returns 0 or -1 (bad input). out is NUL-terminated. */
int base64_decode(const char *in, size_t len, str_t *out);
void base64_encode(const void *in, size_t len, str_t *out);
/* Splits "authzid NUL authcid NUL passwd"; an authzid other than authcid is refused. */
int sasl_plain_split(const str_t *decoded, const char **authcid_r, const char **passwd_r);

#endif
