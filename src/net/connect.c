/* connect: outbound TCP connections (the SMTP client's), handed over as a conn_t
 * once connected. Failures and time-outs come back as text for the queue's log. */
#include <errno.h>
#include <string.h>

#include "net_private.h"

struct net_connecting {
	LIST_ENTRY(net_connecting) entry;
	net_loop_t *loop;
	struct bufferevent *bev;
	char ip[64];
	net_connect_fn *done;
	void *arg;
	const char *error; /* set when it failed before the socket could try */
};

static void connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct net_connecting *c = arg;

	LIST_REMOVE(c, entry);
	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		c->done(conn_attach(c->loop, bev, c->ip, false, true), NULL, c->arg);
	} else {
		int err = EVUTIL_SOCKET_ERROR();
		const char *why = (what & BEV_EVENT_TIMEOUT) ? "connection timed out"
				  : err != 0 ? evutil_socket_error_to_string(err) : "connection failed";
		bufferevent_free(bev);
		c->done(NULL, why, c->arg);
	}
	free(c);
}

static void connect_failed_later(void *arg)
{
	struct net_connecting *c = arg;

	LIST_REMOVE(c, entry);
	c->done(NULL, c->error, c->arg);
	free(c);
}

void net_connect(net_loop_t *loop, const char *ip, int port, int timeout_seconds, net_connect_fn *done,
		 void *arg)
{
	struct net_connecting *c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char *text = strchr(ip, ':') ? xasprintf("[%s]:%d", ip, port) : xasprintf("%s:%d", ip, port);
	struct timeval tv = { timeout_seconds, 0 };

	c->loop = loop;
	c->done = done;
	c->arg = arg;
	LIST_INSERT_HEAD(&loop->connecting, c, entry);
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	if (evutil_parse_sockaddr_port(text, (struct sockaddr *)&ss, &len) < 0) {
		c->error = "not an IP address";
	} else {
		c->bev = bufferevent_socket_new(loop->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
		bufferevent_setcb(c->bev, NULL, NULL, connect_event, c);
		bufferevent_set_timeouts(c->bev, &tv, &tv);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, len) < 0) {
			bufferevent_free(c->bev);
			c->error = "cannot connect";
		}
	}
	free(text);
	if (c->error != NULL) {
		c->bev = NULL;
		net_loop_post(loop, connect_failed_later, c);
	}
}

void net_connect_cancel_all(net_loop_t *loop)
{
	struct net_connecting *c;

	while ((c = LIST_FIRST(&loop->connecting)) != NULL) {
		LIST_REMOVE(c, entry);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		c->done(NULL, "the server is shutting down", c->arg);
		free(c);
	}
}
