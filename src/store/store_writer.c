/* store_writer: the single writer thread. It takes every job queued while the last
 * batch ran, runs each in a SAVEPOINT of one transaction, fdatasyncs the segment
 * once, COMMITs once, and only then reports each job done. So many concurrent
 * deliveries share one fsync, and nothing is reported done before it is durable.
 * An idle hook (the full-text indexer) runs only after IDLE_MS without any job, a
 * slice at a time, so it never holds a delivery's 250 back. */

#define IDLE_MS 100
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

#include "store_private.h"

struct writer_job {
	store_job_fn *run;
	store_done_fn *done;
	void *arg;
	int result;
	struct writer_job *next;
};

struct store_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct writer_job *head, **tail;
	bool stopping;
	store_idle_fn *idle;
	void *idle_arg;
	bool idle_more; /* the hook may have work: jobs came, or it said so */
	store_tx_t tx;
};

/* Waits for jobs; returns NULL when stopping, or idle_r set when the writer has
 * been idle for IDLE_MS and the idle hook should run. */
static struct writer_job *writer_take_batch(store_writer_t *w, bool *idle_r)
{
	struct writer_job *batch;
	struct timespec until;

	*idle_r = false;
	pthread_mutex_lock(&w->lock);
	while (w->head == NULL && !w->stopping) {
		if (w->idle == NULL || !w->idle_more) {
			pthread_cond_wait(&w->wake, &w->lock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += IDLE_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L)
			until.tv_sec++, until.tv_nsec -= 1000000000L;
		if (pthread_cond_timedwait(&w->wake, &w->lock, &until) == ETIMEDOUT && w->head == NULL) {
			*idle_r = true;
			break;
		}
	}
	batch = w->head;
	w->head = NULL;
	w->tail = &w->head;
	if (batch != NULL)
		w->idle_more = true; /* new mail: the hook may have something to do */
	pthread_mutex_unlock(&w->lock);
	return batch;
}

/* One slice of idle work in its own transaction. */
static void writer_run_idle(store_writer_t *w)
{
	int more;

	if (store_exec(w->tx.store, "BEGIN IMMEDIATE") < 0)
		return;
	more = w->idle(&w->tx, w->idle_arg);
	if (more < 0 || store_exec(w->tx.store, "COMMIT") < 0) {
		store_exec(w->tx.store, "ROLLBACK");
		more = 0; /* try again when new jobs come */
	}
	pthread_mutex_lock(&w->lock);
	w->idle_more = more > 0;
	pthread_mutex_unlock(&w->lock);
}

void store_writer_set_idle(store_writer_t *w, store_idle_fn *fn, void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->idle = fn;
	w->idle_arg = arg;
	w->idle_more = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

static void writer_run_job(store_writer_t *w, struct writer_job *job)
{
	store_t *store = w->tx.store;

	if (store_exec(store, "SAVEPOINT job") < 0) {
		job->result = -1;
		return;
	}
	job->result = job->run(&w->tx, job->arg);
	if (job->result < 0)
		store_exec(store, "ROLLBACK TO job");
	store_exec(store, "RELEASE job");
}

/* Returns 0 if the batch is durable, -1 if every job in it must be reported failed. */
static int writer_commit_batch(store_writer_t *w, struct writer_job *batch)
{
	store_t *store = w->tx.store;

	if (store_exec(store, "BEGIN IMMEDIATE") < 0)
		return -1;
	for (struct writer_job *job = batch; job != NULL; job = job->next)
		writer_run_job(w, job);
	if (store_segment_sync(&w->tx) < 0 || store_exec(store, "COMMIT") < 0) {
		store_exec(store, "ROLLBACK");
		/* What the batch appended is past the committed length; forget it. */
		w->tx.segment_dirty = false;
		return -1;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	store_writer_t *w = arg;
	struct writer_job *batch, *next;

	bool idle;

	while ((batch = writer_take_batch(w, &idle)) != NULL || idle) {
		if (batch == NULL) {
			writer_run_idle(w);
			continue;
		}
		int batch_ok = writer_commit_batch(w, batch) == 0;
		for (struct writer_job *job = batch; job != NULL; job = next) {
			next = job->next;
			job->done(job->arg, batch_ok && job->result == 0);
			free(job);
		}
	}
	return NULL;
}

int store_writer_start(const char *datadir, store_writer_t **w_r, char **err_r)
{
	store_writer_t *w = xcalloc(1, sizeof(*w));

	if (store_open_db(datadir, true, &w->tx.store, err_r) < 0 ||
	    store_migrate(w->tx.store, err_r) < 0)
		goto fail;
	w->tx.segment_fd = -1;
	if (store_segment_open_active(&w->tx) < 0) {
		*err_r = xasprintf("cannot open the blob segment in %s/blobs", datadir);
		goto fail;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->tail = &w->head;
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		*err_r = xstrdup("cannot start the store writer thread");
		goto fail;
	}
	*w_r = w;
	return 0;
fail:
	if (w->tx.segment_fd >= 0)
		close(w->tx.segment_fd);
	store_close(&w->tx.store);
	free(w);
	return -1;
}

void store_writer_submit(store_writer_t *w, store_job_fn *run, store_done_fn *done, void *arg)
{
	struct writer_job *job = xcalloc(1, sizeof(*job));

	job->run = run;
	job->done = done;
	job->arg = arg;
	pthread_mutex_lock(&w->lock);
	*w->tail = job;
	w->tail = &job->next;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void store_writer_stop(store_writer_t **wp)
{
	store_writer_t *w = *wp;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	if (w->tx.segment_fd >= 0)
		close(w->tx.segment_fd);
	store_close(&w->tx.store);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	free(w);
	*wp = NULL;
}
