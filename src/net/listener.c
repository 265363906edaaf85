/* listener: bound sockets that hand accepted connections to a protocol, and the
 * count of open connections per peer address that connection limits read. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_private.h"

static unsigned ip_hash(const char *ip)
{
	unsigned h = 5381;

	for (; *ip != '\0'; ip++)
		h = h * 33 + (unsigned char)*ip;
	return h % NET_IP_BUCKETS;
}

static struct ip_count **ip_find(net_loop_t *loop, const char *ip)
{
	struct ip_count **pp = &loop->ip_buckets[ip_hash(ip)];

	while (*pp != NULL && strcmp((*pp)->ip, ip) != 0)
		pp = &(*pp)->next;
	return pp;
}

void net_ip_count_add(net_loop_t *loop, const char *ip)
{
	struct ip_count **pp = ip_find(loop, ip);

	if (*pp == NULL) {
		*pp = xcalloc(1, sizeof(**pp));
		snprintf((*pp)->ip, sizeof((*pp)->ip), "%s", ip);
	}
	(*pp)->count++;
}

void net_ip_count_remove(net_loop_t *loop, const char *ip)
{
	struct ip_count **pp = ip_find(loop, ip), *gone;

	if (*pp == NULL)
		return;
	if (--(*pp)->count == 0) {
		gone = *pp;
		*pp = gone->next;
		free(gone);
	}
}

size_t net_ip_count_get(net_loop_t *loop, const char *ip)
{
	struct ip_count **pp = ip_find(loop, ip);

	return *pp != NULL ? (*pp)->count : 0;
}

size_t net_conn_count(net_loop_t *loop)
{
	return loop->conn_count;
}

static void listener_accept(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
			    int salen, void *arg)
{
	struct net_listener *l = arg;
	char ip[64] = "unknown";
	conn_t *conn;

	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
	conn = conn_new(l->loop, fd, ip, l->tls);
	if (conn == NULL) {
		log_warnx("net: cannot set up connection peer=%s", ip);
		return;
	}
	l->accept_fn(conn, l->arg);
}

int net_parse_hostport(const char *text, char **host_r, int *port_r)
{
	const char *colon;
	char *end;
	long port;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		*host_r = xstrndup(text + 1, (size_t)(close - text - 1));
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL || colon == text)
			return -1;
		*host_r = xstrndup(text, (size_t)(colon - text));
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535 || end == colon + 1) {
		x_free(host_r);
		return -1;
	}
	*port_r = (int)port;
	return 0;
}

static int listener_socket(const char *host, int port, char **err_r)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sslen = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sslen = sizeof(struct sockaddr_in6);
	} else {
		*err_r = xasprintf("%s is not an IP address", host);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err_r = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 1024) < 0) {
		*err_r = xasprintf("cannot listen on %s:%d: %s", host, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int net_listen(net_loop_t *loop, const char *host, int port, net_tls_t *implicit_tls,
	       net_accept_fn *accept_fn, void *arg, char **err_r)
{
	struct net_listener *l;
	int fd = listener_socket(host, port, err_r);

	if (fd < 0)
		return -1;
	l = xcalloc(1, sizeof(*l));
	l->tls = implicit_tls;
	l->accept_fn = accept_fn;
	l->arg = arg;
	l->loop = loop;
	l->ev = evconnlistener_new(loop->base, listener_accept, l,
				   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l->ev == NULL) {
		*err_r = xasprintf("cannot watch listener %s:%d", host, port);
		close(fd);
		free(l);
		return -1;
	}
	l->next = loop->listeners;
	loop->listeners = l;
	return 0;
}

void net_listeners_close(net_loop_t *loop)
{
	struct net_listener *l, *next;

	for (l = loop->listeners; l != NULL; l = next) {
		next = l->next;
		evconnlistener_free(l->ev);
		free(l);
	}
	loop->listeners = NULL;
}
