/* conn: one client connection over a bufferevent (plain or TLS). Reads are bounded:
 * libevent stops reading at NET_READ_HIGH_WATER unprocessed octets, and a line
 * longer than the caller's limit is reported and skipped, never buffered whole. */
#include <openssl/err.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net_private.h"

void conn_free(conn_t *conn)
{
	if (conn->close_timer != NULL)
		event_free(conn->close_timer);
	LIST_REMOVE(conn, entry);
	if (!conn->outbound) {
		net_ip_count_remove(conn->loop, conn->peer_ip);
		conn->loop->conn_count--;
	}
	bufferevent_free(conn->bev);
	free(conn);
}

static void conn_notify(conn_t *conn, enum conn_event event)
{
	if (conn->cb != NULL)
		conn->cb(conn, event, conn->arg);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_t *conn = arg;

	if (!conn->closing && !conn->read_paused)
		conn_notify(conn, CONN_READABLE);
}

/* Everything written has reached the kernel, through the TLS filter if any. */
static bool conn_flushed(conn_t *conn)
{
	struct bufferevent *under = bufferevent_get_underlying(conn->bev);

	return evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0 &&
	       (under == NULL || evbuffer_get_length(bufferevent_get_output(under)) == 0);
}

static void conn_close_tick(evutil_socket_t fd, short what, void *arg);

/* A closing conn is freed once flushed, or when its time is up. A plain socket's
 * write callback (or write timeout) brings us back here; a TLS filter's underlying
 * buffer raises no callback of ours, hence a short poll for that case only. */
static void conn_close_check(conn_t *conn)
{
	struct timeval tick = { 0, 20 * 1000 };

	if (conn_flushed(conn) || time_now_ms() >= conn->close_deadline) {
		conn_free(conn);
		return;
	}
	if (bufferevent_get_underlying(conn->bev) == NULL)
		return;
	if (conn->close_timer == NULL)
		conn->close_timer = evtimer_new(conn->loop->base, conn_close_tick, conn);
	evtimer_add(conn->close_timer, &tick);
}

static void conn_close_tick(evutil_socket_t fd, short what, void *arg)
{
	conn_close_check(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	conn_t *conn = arg;

	if (conn->closing) {
		conn_close_check(conn);
		return;
	}
	conn_notify(conn, CONN_DRAINED);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	conn_t *conn = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (conn->closing) {
		conn_free(conn);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		conn_notify(conn, CONN_TIMEOUT);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e;
		while ((e = bufferevent_get_openssl_error(bev)) != 0) {
			if (conn->error == NULL)
				conn->error = ERR_reason_error_string(e);
			log_debug("net: tls error peer=%s error=\"%s\"", conn->peer_ip,
				  ERR_reason_error_string(e));
		}
	}
	conn_notify(conn, CONN_CLOSED);
	conn_free(conn);
}

static void conn_setup_bev(conn_t *conn)
{
	bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb, conn_event_cb, conn);
	bufferevent_setwatermark(conn->bev, EV_READ, 0, NET_READ_HIGH_WATER);
	bufferevent_setwatermark(conn->bev, EV_WRITE, NET_WRITE_LOW_WATER, 0);
	conn_set_timeout(conn, conn->timeout);
	if (!conn->read_paused)
		bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
}

conn_t *conn_attach(net_loop_t *loop, struct bufferevent *bev, const char *peer_ip, bool tls, bool outbound)
{
	conn_t *conn = xcalloc(1, sizeof(*conn));

	conn->loop = loop;
	conn->bev = bev;
	conn->timeout = 300;
	conn->tls = tls;
	conn->outbound = outbound;
	snprintf(conn->peer_ip, sizeof(conn->peer_ip), "%s", peer_ip);
	LIST_INSERT_HEAD(&loop->conns, conn, entry);
	if (!outbound) {
		loop->conn_count++;
		net_ip_count_add(loop, conn->peer_ip);
	}
	conn_setup_bev(conn);
	/* What came while the connection was being made (a greeting) raised no event. */
	if (conn_input_length(conn) > 0)
		bufferevent_trigger(conn->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return conn;
}

conn_t *conn_new(net_loop_t *loop, int fd, const char *peer_ip, net_tls_t *tls)
{
	int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct bufferevent *bev = tls != NULL
		? bufferevent_openssl_socket_new(loop->base, fd, SSL_new(tls->ctx), BUFFEREVENT_SSL_ACCEPTING, opts)
		: bufferevent_socket_new(loop->base, fd, opts);

	if (bev == NULL) {
		close(fd);
		return NULL;
	}
	return conn_attach(loop, bev, peer_ip, tls != NULL, false);
}

void conn_set_handler(conn_t *conn, conn_cb *cb, void *arg)
{
	conn->cb = cb;
	conn->arg = arg;
}

void conn_set_timeout(conn_t *conn, int seconds)
{
	struct timeval tv = { seconds, 0 };

	conn->timeout = seconds;
	bufferevent_set_timeouts(conn->bev, &tv, &tv);
}

/* Drops input up to and including the next LF; returns true once it is found. */
static bool conn_skip_line(struct evbuffer *in)
{
	struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);

	if (lf.pos < 0) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return false;
	}
	evbuffer_drain(in, (size_t)lf.pos + 1);
	return true;
}

enum conn_line conn_read_line(conn_t *conn, size_t max, str_t *line_r, bool *bare_lf_r)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	struct evbuffer_ptr end, lf;
	size_t len = evbuffer_get_length(in), take;

	if (conn->skipping_line) {
		if (!conn_skip_line(in))
			return CONN_LINE_NONE;
		conn->skipping_line = false;
		len = evbuffer_get_length(in);
	}
	if (len == 0)
		return CONN_LINE_NONE;
	/* Search only the first max octets: a flood without LF costs O(max) once. */
	evbuffer_ptr_set(in, &end, len < max ? len : max, EVBUFFER_PTR_SET);
	lf = evbuffer_search_range(in, "\n", 1, NULL, &end);
	if (lf.pos < 0) {
		if (len < max)
			return CONN_LINE_NONE;
		conn->skipping_line = !conn_skip_line(in);
		return CONN_LINE_TOO_LONG;
	}
	take = (size_t)lf.pos;
	str_clear(line_r);
	str_reserve(line_r, take + 1);
	evbuffer_remove(in, line_r->data, take + 1);
	line_r->len = take;
	*bare_lf_r = !(take > 0 && line_r->data[take - 1] == '\r');
	if (!*bare_lf_r)
		line_r->len--;
	line_r->data[line_r->len] = '\0';
	return CONN_LINE_OK;
}

const char *conn_peek(conn_t *conn, size_t *len_r)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	struct evbuffer_iovec vec;

	if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1) {
		*len_r = 0;
		return NULL;
	}
	*len_r = vec.iov_len;
	return vec.iov_base;
}

void conn_drain(conn_t *conn, size_t len)
{
	evbuffer_drain(bufferevent_get_input(conn->bev), len);
}

size_t conn_input_length(conn_t *conn)
{
	return evbuffer_get_length(bufferevent_get_input(conn->bev));
}

void conn_write(conn_t *conn, const void *data, size_t len)
{
	if (!conn->closing)
		bufferevent_write(conn->bev, data, len);
}

void conn_printf(conn_t *conn, const char *fmt, ...)
{
	va_list ap;

	if (conn->closing)
		return;
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(conn->bev), fmt, ap);
	va_end(ap);
}

size_t conn_output_length(conn_t *conn)
{
	return evbuffer_get_length(bufferevent_get_output(conn->bev));
}

void conn_pause_read(conn_t *conn)
{
	conn->read_paused = true;
	bufferevent_disable(conn->bev, EV_READ);
}

void conn_resume_read(conn_t *conn)
{
	if (!conn->read_paused || conn->closing)
		return;
	conn->read_paused = false;
	bufferevent_enable(conn->bev, EV_READ);
	/* Input that arrived while paused raises no new event by itself. */
	if (conn_input_length(conn) > 0)
		bufferevent_trigger(conn->bev, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* Puts TLS under the connection. Anything the peer sent before the handshake was
 * sent in the clear (RFC 3207 4.2): it is dropped. */
static int conn_tls_filter(conn_t *conn, SSL *ssl, enum bufferevent_ssl_state state)
{
	struct bufferevent *filter;

	if (ssl == NULL)
		return -1;
	evbuffer_drain(bufferevent_get_input(conn->bev), conn_input_length(conn));
	conn->skipping_line = false;
	filter = bufferevent_openssl_filter_new(conn->loop->base, conn->bev, ssl, state,
						BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (filter == NULL) {
		SSL_free(ssl);
		return -1;
	}
	conn->bev = filter;
	conn->tls = true;
	conn_setup_bev(conn);
	return 0;
}

int conn_start_tls(conn_t *conn, net_tls_t *tls)
{
	return conn_tls_filter(conn, SSL_new(tls->ctx), BUFFEREVENT_SSL_ACCEPTING);
}

int conn_start_tls_client(conn_t *conn, net_tls_t *tls, const char *hostname)
{
	SSL *ssl = SSL_new(tls->ctx);

	if (ssl == NULL)
		return -1;
	SSL_set_tlsext_host_name(ssl, hostname);
	if (tls->verify && SSL_set1_host(ssl, hostname) != 1) {
		SSL_free(ssl);
		return -1;
	}
	return conn_tls_filter(conn, ssl, BUFFEREVENT_SSL_CONNECTING);
}

bool conn_is_tls(conn_t *conn)
{
	return conn->tls;
}

const char *conn_tls_version(conn_t *conn)
{
	SSL *ssl = conn->tls ? bufferevent_openssl_get_ssl(conn->bev) : NULL;

	return ssl != NULL ? SSL_get_version(ssl) : "none";
}

const char *conn_error(conn_t *conn)
{
	return conn->error;
}

const char *conn_peer_ip(conn_t *conn)
{
	return conn->peer_ip;
}

size_t conn_peer_conn_count(conn_t *conn)
{
	return net_ip_count_get(conn->loop, conn->peer_ip);
}

bool conn_over_limit(conn_t *conn)
{
	return net_conn_count(conn->loop) > (size_t)param_get(P_CONN_MAX) ||
	       conn_peer_conn_count(conn) > (size_t)param_get(P_CONN_PER_IP_MAX);
}

void conn_close(conn_t *conn)
{
	conn->closing = true;
	conn->cb = NULL;
	conn->close_deadline = time_now_ms() + 1000LL * conn->timeout;
	bufferevent_disable(conn->bev, EV_READ);
	if (conn_flushed(conn)) {
		conn_free(conn);
		return;
	}
	bufferevent_setwatermark(conn->bev, EV_WRITE, 0, 0);
	bufferevent_enable(conn->bev, EV_WRITE);
	conn_close_check(conn);
}
