/* dns: asynchronous MX and address lookups with c-ares, driven by the event loop:
 * c-ares tells which sockets it wants watched (sock_state_cb), libevent watches
 * them, and one timer covers c-ares's own timeouts. Answers come back on the loop
 * thread. No c-ares or libevent type leaves this file. */
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "net_private.h"

#define DNS_SOCKETS_MAX 16

struct dns_socket {
	ares_socket_t fd;
	struct event *ev;
};

struct net_dns {
	net_loop_t *loop;
	ares_channel channel;
	struct dns_socket sockets[DNS_SOCKETS_MAX];
	struct event *timer;
};

static void dns_arm_timer(net_dns_t *dns)
{
	struct timeval max = { 5, 0 }, tv, *next = ares_timeout(dns->channel, &max, &tv);

	evtimer_add(dns->timer, next);
}

static void dns_socket_ready(evutil_socket_t fd, short what, void *arg)
{
	net_dns_t *dns = arg;

	ares_process_fd(dns->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_arm_timer(dns);
}

static void dns_timer_fired(evutil_socket_t fd, short what, void *arg)
{
	net_dns_t *dns = arg;

	ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_arm_timer(dns);
}

/* c-ares: watch fd for reading and/or writing, or (both false) stop watching. */
static void dns_sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	net_dns_t *dns = arg;
	struct dns_socket *slot = NULL, *free_slot = NULL;

	for (int i = 0; i < DNS_SOCKETS_MAX; i++) {
		if (dns->sockets[i].ev != NULL && dns->sockets[i].fd == fd)
			slot = &dns->sockets[i];
		else if (dns->sockets[i].ev == NULL && free_slot == NULL)
			free_slot = &dns->sockets[i];
	}
	if (slot != NULL) {
		event_free(slot->ev);
		slot->ev = NULL;
	}
	if (!readable && !writable)
		return;
	if (slot == NULL)
		slot = free_slot;
	if (slot == NULL) {
		log_warnx("dns: too many resolver sockets");
		return;
	}
	slot->fd = fd;
	slot->ev = event_new(dns->loop->base, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0) | EV_PERSIST,
			     dns_socket_ready, dns);
	event_add(slot->ev, NULL);
}

net_dns_t *net_dns_new(net_loop_t *loop, const char *servers, char **err_r)
{
	static bool library_ready;
	net_dns_t *dns = xcalloc(1, sizeof(*dns));
	struct ares_options opts = { .sock_state_cb = dns_sock_state, .sock_state_cb_data = dns,
				     .timeout = 3000, .tries = 2 };
	int rc;

	if (!library_ready && ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		*err_r = xstrdup("cannot initialise c-ares");
		free(dns);
		return NULL;
	}
	library_ready = true;
	dns->loop = loop;
	rc = ares_init_options(&dns->channel, &opts, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc == ARES_SUCCESS && servers != NULL && *servers != '\0')
		rc = ares_set_servers_ports_csv(dns->channel, servers);
	if (rc != ARES_SUCCESS) {
		*err_r = xasprintf("DNS resolver: %s", ares_strerror(rc));
		if (dns->channel != NULL)
			ares_destroy(dns->channel);
		free(dns);
		return NULL;
	}
	dns->timer = evtimer_new(loop->base, dns_timer_fired, dns);
	return dns;
}

void net_dns_free(net_dns_t **dns)
{
	if (*dns == NULL)
		return;
	ares_destroy((*dns)->channel); /* calls back every pending lookup with ARES_EDESTRUCTION */
	for (int i = 0; i < DNS_SOCKETS_MAX; i++)
		if ((*dns)->sockets[i].ev != NULL)
			event_free((*dns)->sockets[i].ev);
	event_free((*dns)->timer);
	x_free(dns);
}

static enum net_dns_status status_of(int ares_status)
{
	switch (ares_status) {
	case ARES_SUCCESS: return NET_DNS_OK;
	case ARES_ENOTFOUND: return NET_DNS_NXDOMAIN;
	case ARES_ENODATA: return NET_DNS_NODATA;
	default: return NET_DNS_TEMP;
	}
}

/* ---- MX ---- */

struct mx_query {
	net_dns_mx_fn *done;
	void *arg;
};

static int compare_mx(const void *a, const void *b)
{
	const struct net_mx *x = a, *y = b;

	return x->preference - y->preference;
}

static void mx_answered(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct mx_query *q = arg;
	struct ares_mx_reply *reply = NULL;
	struct net_mx *mx = NULL;
	size_t n = 0;
	enum net_dns_status st = status_of(status);

	if (st == NET_DNS_OK && ares_parse_mx_reply(abuf, alen, &reply) != ARES_SUCCESS)
		st = NET_DNS_NODATA;
	for (struct ares_mx_reply *r = reply; r != NULL; r = r->next) {
		mx = xrealloc(mx, (n + 1) * sizeof(*mx));
		mx[n].host = xstrdup(r->host);
		mx[n++].preference = r->priority;
	}
	if (reply != NULL)
		ares_free_data(reply);
	if (n > 1)
		qsort(mx, n, sizeof(*mx), compare_mx);
	if (st == NET_DNS_OK && n == 0)
		st = NET_DNS_NODATA;
	q->done(q->arg, st, mx, n);
	for (size_t i = 0; i < n; i++)
		free(mx[i].host);
	free(mx);
	free(q);
	(void)timeouts;
}

void net_dns_mx(net_dns_t *dns, const char *domain, net_dns_mx_fn *done, void *arg)
{
	struct mx_query *q = xcalloc(1, sizeof(*q));

	q->done = done;
	q->arg = arg;
	ares_query(dns->channel, domain, ns_c_in, ns_t_mx, mx_answered, q);
	dns_arm_timer(dns);
}

/* ---- A and AAAA ---- */

struct addr_query {
	net_dns_addrs_fn *done;
	void *arg;
};

static void addrs_answered(void *arg, int status, int timeouts, struct ares_addrinfo *result)
{
	struct addr_query *q = arg;
	char **addrs = NULL, text[INET6_ADDRSTRLEN];
	size_t n = 0;

	for (struct ares_addrinfo_node *node = result ? result->nodes : NULL; node != NULL; node = node->ai_next) {
		const void *where = node->ai_family == AF_INET
					    ? (const void *)&((struct sockaddr_in *)node->ai_addr)->sin_addr
					    : (const void *)&((struct sockaddr_in6 *)node->ai_addr)->sin6_addr;
		if ((node->ai_family != AF_INET && node->ai_family != AF_INET6) ||
		    inet_ntop(node->ai_family, where, text, sizeof(text)) == NULL)
			continue;
		addrs = xrealloc(addrs, (n + 1) * sizeof(char *));
		addrs[n++] = xstrdup(text);
	}
	if (result != NULL)
		ares_freeaddrinfo(result);
	q->done(q->arg, n > 0 ? NET_DNS_OK : status == ARES_SUCCESS ? NET_DNS_NODATA : status_of(status),
		(const char *const *)addrs, n);
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
	free(q);
	(void)timeouts;
}

void net_dns_addrs(net_dns_t *dns, const char *host, net_dns_addrs_fn *done, void *arg)
{
	struct addr_query *q = xcalloc(1, sizeof(*q));
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC, .ai_flags = ARES_AI_NUMERICSERV };

	q->done = done;
	q->arg = arg;
	ares_getaddrinfo(dns->channel, host, NULL, &hints, addrs_answered, q);
	dns_arm_timer(dns);
}
