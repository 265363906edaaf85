/* net: the event loop, listeners and connections. libevent and OpenSSL types stay
 * behind this header: protocol code sees a conn_t with one callback (readable,
 * drained, timeout, closed), bounded line reads, and STARTTLS. */
#ifndef SEALPOST_NET_H
#define SEALPOST_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/lib.h"

typedef struct net_loop net_loop_t;
typedef struct net_timer net_timer_t;
typedef struct net_tls net_tls_t;
typedef struct conn conn_t;

/* ---- loop ---- */
net_loop_t *net_loop_new(void);
void net_loop_free(net_loop_t **loop);
void net_loop_run(net_loop_t *loop);
void net_loop_exit(net_loop_t *loop);
/* Thread-safe: runs fn(arg) on the loop's thread soon. */
void net_loop_post(net_loop_t *loop, void (*fn)(void *), void *arg);
/* Runs work(arg) on a helper thread, then done(arg) on the loop's thread: for
 * CPU-bound work (password hashing) that must not stall other sessions. */
void net_loop_offload(net_loop_t *loop, void (*work)(void *), void (*done)(void *), void *arg);
void net_loop_on_signal(net_loop_t *loop, int signo, void (*fn)(void *), void *arg);
net_timer_t *net_timer_new(net_loop_t *loop, void (*fn)(void *), void *arg);
void net_timer_start(net_timer_t *t, int milliseconds);
void net_timer_free(net_timer_t **t);

/* ---- TLS ---- */
net_tls_t *net_tls_server_new(const char *cert_path, const char *key_path, char **err_r);
/* A client context: verify checks the server's chain against the system's CA
 * store and its name against the one given to conn_start_tls_client. */
net_tls_t *net_tls_client_new(bool verify, char **err_r);
void net_tls_free(net_tls_t **tls);
/* Makes a self-signed RSA certificate for HOSTNAME (key file mode 0600). */
int net_tls_make_self_signed(const char *cert_path, const char *key_path, const char *hostname,
			     char **err_r);

/* ---- listeners ---- */
typedef void net_accept_fn(conn_t *conn, void *arg);
/* Listens on host:port; implicit_tls non-NULL makes every connection TLS at once. */
int net_listen(net_loop_t *loop, const char *host, int port, net_tls_t *implicit_tls,
	       net_accept_fn *accept_fn, void *arg, char **err_r);
/* Stops accepting on every listener (open connections go on). */
void net_listeners_close(net_loop_t *loop);
/* Parses "HOST:PORT" or "[V6]:PORT". */
int net_parse_hostport(const char *text, char **host_r, int *port_r);
size_t net_conn_count(net_loop_t *loop);

/* ---- outbound connections ---- */
/* Connects to ip:port; done gets the connection, or NULL and why. Always called
 * later on the loop thread, never before net_connect returns. */
typedef void net_connect_fn(conn_t *conn, const char *error, void *arg);
void net_connect(net_loop_t *loop, const char *ip, int port, int timeout_seconds, net_connect_fn *done,
		 void *arg);

/* ---- DNS (c-ares) ---- */
typedef struct net_dns net_dns_t;
/* servers: "ip[:port],..." or NULL for the system's resolvers. */
net_dns_t *net_dns_new(net_loop_t *loop, const char *servers, char **err_r);
void net_dns_free(net_dns_t **dns);
enum net_dns_status {
	NET_DNS_OK,
	NET_DNS_NXDOMAIN, /* no such domain: permanent */
	NET_DNS_NODATA,   /* the domain exists, without records of that type */
	NET_DNS_TEMP,     /* no answer now (timeout, SERVFAIL): try later */
};
struct net_mx {
	char *host;
	int preference;
};
/* done gets the MX records sorted by preference; it may run before the call returns. */
typedef void net_dns_mx_fn(void *arg, enum net_dns_status status, const struct net_mx *mx, size_t n);
void net_dns_mx(net_dns_t *dns, const char *domain, net_dns_mx_fn *done, void *arg);
/* done gets the host's IPv4 and IPv6 addresses as text; it may run before the call returns. */
typedef void net_dns_addrs_fn(void *arg, enum net_dns_status status, const char *const *addrs, size_t n);
void net_dns_addrs(net_dns_t *dns, const char *host, net_dns_addrs_fn *done, void *arg);

/* ---- connections ---- */
enum conn_event { CONN_READABLE, CONN_DRAINED, CONN_TIMEOUT, CONN_CLOSED };
/* After CONN_CLOSED the conn is freed: the handler must forget it. */
typedef void conn_cb(conn_t *conn, enum conn_event event, void *arg);

enum conn_line { CONN_LINE_OK, CONN_LINE_NONE, CONN_LINE_TOO_LONG };

void conn_set_handler(conn_t *conn, conn_cb *cb, void *arg);
void conn_set_timeout(conn_t *conn, int seconds);
/* Reads one line of at most max octets (terminator included) into line_r, without
 * its terminator. *bare_lf_r says whether it ended in LF without CR. After
 * TOO_LONG the rest of that line is skipped silently. */
enum conn_line conn_read_line(conn_t *conn, size_t max, str_t *line_r, bool *bare_lf_r);
/* The first contiguous run of buffered input; conn_drain consumes it. */
const char *conn_peek(conn_t *conn, size_t *len_r);
void conn_drain(conn_t *conn, size_t len);
size_t conn_input_length(conn_t *conn);
void conn_write(conn_t *conn, const void *data, size_t len);
void conn_printf(conn_t *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t conn_output_length(conn_t *conn);
/* Stop/resume reading; resuming with input buffered raises CONN_READABLE. */
void conn_pause_read(conn_t *conn);
void conn_resume_read(conn_t *conn);
/* Server side of STARTTLS: discards any input sent ahead (RFC 3207 section 4.2). */
int conn_start_tls(conn_t *conn, net_tls_t *tls);
/* Client side: the handshake runs as data is written; a failure (including a
 * certificate that does not verify) closes the connection: CONN_CLOSED. */
int conn_start_tls_client(conn_t *conn, net_tls_t *tls, const char *hostname);
bool conn_is_tls(conn_t *conn);
const char *conn_tls_version(conn_t *conn);
const char *conn_peer_ip(conn_t *conn);
/* Inside the CONN_CLOSED handler: the TLS reason it closed for, or NULL. */
const char *conn_error(conn_t *conn);
/* Connections now open from this peer's address, this one included. */
size_t conn_peer_conn_count(conn_t *conn);
/* True if this connection is one too many: over conn_max in all or
 * conn_per_ip_max from its address. The protocol answers and closes. */
bool conn_over_limit(conn_t *conn);
/* Sends what is buffered, then closes; the handler is not called again. */
void conn_close(conn_t *conn);

#endif
