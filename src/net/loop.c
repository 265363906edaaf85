/* loop: the libevent base, cross-thread posting, signals and timers. */
#include <event2/thread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "net_private.h"

struct net_timer {
	struct event *ev;
	void (*fn)(void *);
	void *arg;
};

struct signal_hook {
	void (*fn)(void *);
	void *arg;
};

static void post_run(evutil_socket_t fd, short what, void *arg)
{
	net_loop_t *loop = arg;
	struct net_post *list, *next;

	pthread_mutex_lock(&loop->post_lock);
	list = loop->posts;
	loop->posts = NULL;
	loop->posts_tail = &loop->posts;
	pthread_mutex_unlock(&loop->post_lock);
	for (; list != NULL; list = next) {
		next = list->next;
		list->fn(list->arg);
		free(list);
	}
}

net_loop_t *net_loop_new(void)
{
	static bool threads_ready;
	net_loop_t *loop = xcalloc(1, sizeof(*loop));

	if (!threads_ready) {
		if (evthread_use_pthreads() < 0)
			fatal("libevent: no pthreads support");
		threads_ready = true;
	}
	loop->base = event_base_new();
	if (loop->base == NULL)
		fatal("libevent: cannot create event base");
	pthread_mutex_init(&loop->post_lock, NULL);
	loop->posts_tail = &loop->posts;
	loop->post_event = event_new(loop->base, -1, EV_PERSIST, post_run, loop);
	signal(SIGPIPE, SIG_IGN);
	return loop;
}

void net_loop_post(net_loop_t *loop, void (*fn)(void *), void *arg)
{
	struct net_post *p = xcalloc(1, sizeof(*p));

	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&loop->post_lock);
	*loop->posts_tail = p;
	loop->posts_tail = &p->next;
	pthread_mutex_unlock(&loop->post_lock);
	event_active(loop->post_event, EV_READ, 0);
}

void net_loop_run(net_loop_t *loop)
{
	event_base_dispatch(loop->base);
}

void net_loop_exit(net_loop_t *loop)
{
	event_base_loopbreak(loop->base);
}

static void signal_fire(evutil_socket_t fd, short what, void *arg)
{
	struct signal_hook *hook = arg;

	hook->fn(hook->arg);
}

void net_loop_on_signal(net_loop_t *loop, int signo, void (*fn)(void *), void *arg)
{
	struct signal_hook *hook = xcalloc(1, sizeof(*hook));
	struct event *ev;

	hook->fn = fn;
	hook->arg = arg;
	ev = evsignal_new(loop->base, signo, signal_fire, hook);
	event_add(ev, NULL);
	loop->signals = xrealloc(loop->signals, (loop->signal_count + 1) * sizeof(*loop->signals));
	loop->signals[loop->signal_count++] = ev;
}

void net_loop_free(net_loop_t **loopp)
{
	net_loop_t *loop = *loopp;

	if (loop == NULL)
		return;
	/* Completions still owed (offloaded work, writer jobs) run while every
	 * connection still exists; then whatever is left is freed. */
	net_offload_stop(loop);
	net_connect_cancel_all(loop);
	post_run(-1, 0, loop);
	net_listeners_close(loop);
	while (!LIST_EMPTY(&loop->conns))
		conn_free(LIST_FIRST(&loop->conns));
	for (size_t i = 0; i < loop->signal_count; i++) {
		free(event_get_callback_arg(loop->signals[i]));
		event_free(loop->signals[i]);
	}
	free(loop->signals);
	for (size_t i = 0; i < NET_IP_BUCKETS; i++) {
		struct ip_count *c, *next;
		for (c = loop->ip_buckets[i]; c != NULL; c = next) {
			next = c->next;
			free(c);
		}
	}
	event_free(loop->post_event);
	post_run(-1, 0, loop);
	pthread_mutex_destroy(&loop->post_lock);
	event_base_free(loop->base);
	free(loop);
	*loopp = NULL;
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
	net_timer_t *t = arg;

	t->fn(t->arg);
}

net_timer_t *net_timer_new(net_loop_t *loop, void (*fn)(void *), void *arg)
{
	net_timer_t *t = xcalloc(1, sizeof(*t));

	t->fn = fn;
	t->arg = arg;
	t->ev = evtimer_new(loop->base, timer_fire, t);
	return t;
}

void net_timer_start(net_timer_t *t, int milliseconds)
{
	struct timeval tv = { milliseconds / 1000, (milliseconds % 1000) * 1000 };

	evtimer_add(t->ev, &tv);
}

void net_timer_free(net_timer_t **tp)
{
	if (*tp == NULL)
		return;
	event_free((*tp)->ev);
	x_free(tp);
}
