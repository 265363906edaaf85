/* net_private: structures shared by the net module's files. */
#ifndef SEALPOST_NET_PRIVATE_H
#define SEALPOST_NET_PRIVATE_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/queue.h>

#include "net.h"

#define NET_READ_HIGH_WATER (256 * 1024)
#define NET_WRITE_LOW_WATER (64 * 1024)
#define NET_IP_BUCKETS 1024

struct net_post {
	void (*fn)(void *);
	void *arg;
	struct net_post *next;
};

struct ip_count {
	char ip[64];
	size_t count;
	struct ip_count *next;
};

struct net_listener {
	struct evconnlistener *ev;
	net_tls_t *tls;
	net_accept_fn *accept_fn;
	void *arg;
	net_loop_t *loop;
	struct net_listener *next;
};

struct net_loop {
	struct event_base *base;
	struct event *post_event;
	pthread_mutex_t post_lock;
	struct net_post *posts, **posts_tail;
	struct net_listener *listeners;
	struct event **signals;
	size_t signal_count;
	struct ip_count *ip_buckets[NET_IP_BUCKETS];
	LIST_HEAD(, conn) conns; /* every open or closing connection */
	struct net_offload *offload;
	size_t conn_count;
	LIST_HEAD(, net_connecting) connecting; /* outbound connections not yet made */
};

struct net_tls {
	SSL_CTX *ctx;
	bool verify; /* a client context that checks the server's certificate and name */
};

struct conn {
	net_loop_t *loop;
	struct bufferevent *bev;
	conn_cb *cb;
	void *arg;
	char peer_ip[64];
	bool tls;
	bool closing;
	bool skipping_line; /* inside an overlong line: drop input up to its LF */
	bool read_paused;
	bool outbound; /* we connected: not counted against the inbound limits */
	const char *error; /* why it closed (a TLS reason), for the CLOSED handler */
	int timeout;
	struct event *close_timer;
	int64_t close_deadline;
	LIST_ENTRY(conn) entry;
};

/* Frees a connection without telling its handler (the loop is going away). */
void conn_free(conn_t *conn);
conn_t *conn_new(net_loop_t *loop, int fd, const char *peer_ip, net_tls_t *tls);
/* Wraps a connected bufferevent (outbound: not counted per address). */
conn_t *conn_attach(net_loop_t *loop, struct bufferevent *bev, const char *peer_ip, bool tls, bool outbound);
/* Ends every outbound connection still being made (done gets NULL). */
void net_connect_cancel_all(net_loop_t *loop);
/* Joins the offload threads once their queue is empty. */
void net_offload_stop(net_loop_t *loop);
void net_ip_count_add(net_loop_t *loop, const char *ip);
void net_ip_count_remove(net_loop_t *loop, const char *ip);
size_t net_ip_count_get(net_loop_t *loop, const char *ip);

#endif
