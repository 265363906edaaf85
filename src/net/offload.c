/* offload: a small pool of helper threads for CPU-bound work (password hashing)
 * that must not stall the loop. work() runs on a helper; done() then runs on the
 * loop's thread. Threads start on first use; net_loop_free joins them after the
 * queue is empty, so every done() still runs. */
#include <stdlib.h>

#include "net_private.h"

#define OFFLOAD_THREADS 2

struct offload_job {
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
	struct offload_job *next;
};

struct net_offload {
	net_loop_t *loop;
	pthread_t threads[OFFLOAD_THREADS];
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct offload_job *head, **tail;
	bool stopping;
};

static void *offload_main(void *arg)
{
	struct net_offload *o = arg;
	struct offload_job *job;

	for (;;) {
		pthread_mutex_lock(&o->lock);
		while (o->head == NULL && !o->stopping)
			pthread_cond_wait(&o->wake, &o->lock);
		job = o->head;
		if (job != NULL && (o->head = job->next) == NULL)
			o->tail = &o->head;
		pthread_mutex_unlock(&o->lock);
		if (job == NULL)
			return NULL; /* stopping, and nothing left */
		job->work(job->arg);
		net_loop_post(o->loop, job->done, job->arg);
		free(job);
	}
}

static struct net_offload *offload_start(net_loop_t *loop)
{
	struct net_offload *o = xcalloc(1, sizeof(*o));

	o->loop = loop;
	o->tail = &o->head;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->wake, NULL);
	for (int i = 0; i < OFFLOAD_THREADS; i++)
		if (pthread_create(&o->threads[i], NULL, offload_main, o) != 0)
			fatal("net: cannot start offload thread");
	return o;
}

void net_loop_offload(net_loop_t *loop, void (*work)(void *), void (*done)(void *), void *arg)
{
	struct net_offload *o;
	struct offload_job *job = xcalloc(1, sizeof(*job));

	if (loop->offload == NULL)
		loop->offload = offload_start(loop);
	o = loop->offload;
	job->work = work;
	job->done = done;
	job->arg = arg;
	pthread_mutex_lock(&o->lock);
	*o->tail = job;
	o->tail = &job->next;
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
}

void net_offload_stop(net_loop_t *loop)
{
	struct net_offload *o = loop->offload;

	if (o == NULL)
		return;
	pthread_mutex_lock(&o->lock);
	o->stopping = true;
	pthread_cond_broadcast(&o->wake);
	pthread_mutex_unlock(&o->lock);
	for (int i = 0; i < OFFLOAD_THREADS; i++)
		pthread_join(o->threads[i], NULL);
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->wake);
	free(o);
	loop->offload = NULL;
}
