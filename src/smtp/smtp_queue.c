/* smtp_queue: the queue runner. Once a second, and whenever a commit queued remote
 * recipients, it reads the rows that are due, groups them by destination domain
 * and hands batches (whole messages, oldest first) to client sessions, at most
 * smtp_client_max in all and smtp_client_per_destination per domain. Each
 * message's outcome is committed by one writer job: delivered rows go, deferred
 * ones get their next attempt (exponential back-off), failed or expired ones go
 * with a DSN to the sender in the same transaction; a delay warning is sent once.
 * A row stays "busy" (never handed out twice) until its outcome is committed. */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "smtp_private.h"

#define SCAN_MAX 1000 /* rows read per scan (busy ones included: keep it small) */
#define SCAN_MS 1000
#define HEADER_READ_MAX (64 * 1024) /* of the original, for a report */

/* ---- the set of busy queue ids: open addressing, grows ---- */

static bool busy_has(const struct smtp_queue *q, int64_t id)
{
	if (q->busy_cap == 0)
		return false;
	for (size_t i = (size_t)id % q->busy_cap;; i = (i + 1) % q->busy_cap) {
		if (q->busy[i] == id)
			return true;
		if (q->busy[i] == 0)
			return false;
	}
}

static void busy_insert(struct smtp_queue *q, int64_t id);

static void busy_grow(struct smtp_queue *q)
{
	int64_t *old = q->busy;
	size_t old_cap = q->busy_cap;

	q->busy_cap = old_cap ? old_cap * 2 : 1024;
	q->busy = xcalloc(q->busy_cap, sizeof(*q->busy));
	q->busy_count = q->busy_tombs = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i] > 0)
			busy_insert(q, old[i]);
	free(old);
}

static void busy_insert(struct smtp_queue *q, int64_t id)
{
	size_t i;

	if ((q->busy_count + q->busy_tombs + 1) * 2 > q->busy_cap)
		busy_grow(q);
	for (i = (size_t)id % q->busy_cap; q->busy[i] > 0; i = (i + 1) % q->busy_cap)
		;
	q->busy_tombs -= q->busy[i] < 0;
	q->busy[i] = id;
	q->busy_count++;
}

static void busy_remove(struct smtp_queue *q, int64_t id)
{
	if (q->busy_cap == 0)
		return;
	for (size_t i = (size_t)id % q->busy_cap; q->busy[i] != 0; i = (i + 1) % q->busy_cap)
		if (q->busy[i] == id) {
			q->busy[i] = -1; /* a tombstone keeps later probes going */
			q->busy_count--;
			q->busy_tombs++;
			return;
		}
}

/* ---- destinations ---- */

static struct smtp_dest *dest_get(struct smtp_queue *q, const char *domain)
{
	for (size_t i = 0; i < q->dest_count; i++)
		if (strcasecmp(q->dests[i].domain, domain) == 0)
			return &q->dests[i];
	q->dests = xrealloc(q->dests, (q->dest_count + 1) * sizeof(*q->dests));
	q->dests[q->dest_count] = (struct smtp_dest){ xstrdup(domain), 0 };
	return &q->dests[q->dest_count++];
}

const char *smtp_recipient_domain(const char *address)
{
	const char *at = strrchr(address, '@');

	return at ? at + 1 : "";
}

/* ---- outcomes ---- */

struct outcome_job {
	struct smtp_queue *q;
	struct store_queue_item *items;
	size_t n;
	enum smtp_verdict *verdicts; /* after expiry: DONE, DEFER, FAIL */
	bool *warn;                  /* send the delay warning with this defer */
	bool *expired;               /* failed for having waited too long (4.4.7) */
	mta_report_t *failed_report, *delay_report;
	int64_t now;
};

static int64_t backoff(int attempts)
{
	int64_t wait = param_get(P_QUEUE_RETRY_MIN);

	for (int i = 0; i < attempts && wait < param_get(P_QUEUE_RETRY_MAX); i++)
		wait *= 2;
	return wait < param_get(P_QUEUE_RETRY_MAX) ? wait : param_get(P_QUEUE_RETRY_MAX);
}

static int outcome_run(store_tx_t *tx, void *arg)
{
	struct outcome_job *j = arg;

	for (size_t i = 0; i < j->n; i++) {
		const struct store_queue_item *it = &j->items[i];
		int rc = 0;
		switch (j->verdicts[i]) {
		case SMTP_DONE:
		case SMTP_FAIL:
			rc = store_tx_queue_done(tx, it->id, it->ref.message_id);
			break;
		case SMTP_DEFER:
			rc = store_tx_queue_defer(tx, it->id, j->now + backoff(it->attempts), it->last_error);
			if (rc == 0 && j->warn[i])
				rc = store_tx_queue_warned(tx, it->id);
			break;
		}
		if (rc < 0)
			return -1;
	}
	if (j->failed_report && store_tx_deliver(tx, mta_report_delivery(j->failed_report)) < 0)
		return -1;
	return j->delay_report ? store_tx_deliver(tx, mta_report_delivery(j->delay_report)) : 0;
}

static void outcome_finish(void *arg)
{
	struct outcome_job *j = arg;

	for (size_t i = 0; i < j->n; i++)
		busy_remove(j->q, j->items[i].id);
	if (j->failed_report || j->delay_report)
		smtp_queue_kick(j->q); /* a report to a remote sender is queued now */
	mta_report_free(&j->failed_report);
	mta_report_free(&j->delay_report);
	store_queue_items_free(j->items, j->n);
	free(j->verdicts);
	free(j->warn);
	free(j->expired);
	free(j);
}

static void outcome_committed(void *arg, int ok)
{
	struct outcome_job *j = arg;

	if (!ok)
		log_warnx("queue: cannot record an outcome msgid=%s; it will be tried again", j->items[0].ref.msgid);
	net_loop_post(j->q->loop, outcome_finish, j);
}

/* The report about recipients of one message (all FAIL, or all warned). */
static mta_report_t *report_for(struct outcome_job *j, const struct smtp_result *results, enum smtp_verdict which,
				bool delayed)
{
	struct mta_dsn_recipient *r = xcalloc(j->n, sizeof(*r));
	const struct store_queue_item *first = &j->items[0];
	char arrival[64], until[64];
	time_t at = (time_t)first->created_at, end = (time_t)(first->created_at + param_get(P_QUEUE_LIFETIME));
	struct tm tm;
	size_t n = 0, hlen = first->ref.size < HEADER_READ_MAX ? (size_t)first->ref.size : HEADER_READ_MAX;
	char *header = xmalloc(hlen + 1);
	ssize_t got = store_message_read(j->q->store, &first->ref, 0, header, hlen);
	mta_report_t *report;

	for (size_t i = 0; i < j->n; i++)
		if (j->verdicts[i] == which && (!delayed || j->warn[i]))
			r[n++] = (struct mta_dsn_recipient){ j->items[i].recipient,
							     j->expired[i] ? "4.4.7" : results[i].status,
							     results[i].text, results[i].remote };
	strftime(arrival, sizeof(arrival), "%a, %d %b %Y %H:%M:%S +0000", gmtime_r(&at, &tm));
	strftime(until, sizeof(until), "%a, %d %b %Y %H:%M:%S +0000", gmtime_r(&end, &tm));
	report = n == 0 ? NULL : mta_report_new(j->q->mta, &(struct mta_dsn){
		.hostname = j->q->hostname, .sender = first->sender, .original = header,
		.original_len = got > 0 ? (size_t)got : 0, .original_msgid = first->ref.msgid,
		.arrival_date = arrival, .retry_until = until, .delayed = delayed, .recipients = r, .count = n });
	free(header);
	free(r);
	return report;
}

void smtp_queue_outcome(struct smtp_queue *q, struct store_queue_item *items, size_t n,
			const struct smtp_result *results)
{
	struct outcome_job *j = xcalloc(1, sizeof(*j));
	int64_t warn_after = param_get(P_DELAY_WARNING);
	bool any_fail = false, any_warn = false;

	*j = (struct outcome_job){ q, items, n, xcalloc(n, sizeof(enum smtp_verdict)), xcalloc(n, sizeof(bool)),
				   xcalloc(n, sizeof(bool)), NULL, NULL, (int64_t)time(NULL) };
	for (size_t i = 0; i < n; i++) {
		struct store_queue_item *it = &items[i];
		j->verdicts[i] = results[i].verdict;
		if (results[i].verdict != SMTP_DONE)
			log_info("queue: %s msgid=%s to=<%s> reply=\"%s\"",
				 results[i].verdict == SMTP_FAIL ? "failed" : "deferred", it->ref.msgid, it->recipient,
				 results[i].text ? results[i].text : "");
		else
			log_info("queue: delivered msgid=%s to=<%s> via=%s", it->ref.msgid, it->recipient,
				 results[i].remote ? results[i].remote : "?");
		if (results[i].verdict == SMTP_DEFER) {
			free(it->last_error);
			it->last_error = xstrdup(results[i].text ? results[i].text : "deferred");
			if (j->now - it->created_at >= param_get(P_QUEUE_LIFETIME))
				j->verdicts[i] = SMTP_FAIL, j->expired[i] = true; /* returned with the last reason */
			else if (warn_after > 0 && !it->delay_warned && j->now - it->created_at >= warn_after)
				j->warn[i] = any_warn = true;
		}
		any_fail |= j->verdicts[i] == SMTP_FAIL;
	}
	if (any_fail)
		j->failed_report = report_for(j, results, SMTP_FAIL, false);
	if (any_warn)
		j->delay_report = report_for(j, results, SMTP_DEFER, true);
	store_writer_submit(q->writer, outcome_run, outcome_committed, j);
}

/* ---- scanning and starting sessions ---- */

/* More work for a connection that finished its batch: the domain's due rows not in
 * flight, whole messages, at most smtp_client_batch of them (0 if none). */
size_t smtp_queue_take(struct smtp_queue *q, const char *domain, struct store_queue_item **batch_r)
{
	struct store_queue_item *items, *batch = NULL;
	size_t n = 0, count = 0, messages = 0;
	size_t max = (size_t)param_get(P_SMTP_CLIENT_BATCH);

	*batch_r = NULL;
	if (q->stopping || store_queue_due(q->store, (int64_t)time(NULL), domain, max * 4, &items, &n) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		bool same = count > 0 && batch[count - 1].ref.message_id == items[i].ref.message_id;
		if (busy_has(q, items[i].id) || (!same && messages == max)) {
			free(items[i].sender), free(items[i].recipient), free(items[i].last_error);
			continue;
		}
		messages += !same;
		batch = xrealloc(batch, (count + 1) * sizeof(*batch));
		batch[count++] = items[i];
		busy_insert(q, items[i].id);
	}
	free(items);
	*batch_r = batch;
	return count;
}

void smtp_queue_client_done(struct smtp_queue *q, const char *domain)
{
	dest_get(q, domain)->active--;
	q->active--;
	smtp_queue_kick(q);
}

/* Messages among the first rows of items that belong to domain (items are sorted
 * by domain, a message's rows together). */
static size_t domain_messages(const struct store_queue_item *items, size_t n, const char *domain)
{
	size_t messages = 0;

	for (size_t i = 0; i < n && strcasecmp(smtp_recipient_domain(items[i].recipient), domain) == 0; i++)
		messages += i == 0 || items[i - 1].ref.message_id != items[i].ref.message_id;
	return messages;
}

/* Hands out the due rows of one domain: batches of whole messages, spread over as
 * many sessions as the domain may have, so that they go in parallel. */
static void start_sessions(struct smtp_queue *q, const char *domain, struct store_queue_item *items,
			   size_t n, bool *taken)
{
	struct smtp_dest *d = dest_get(q, domain);
	size_t next = 0, left = domain_messages(items, n, domain);

	while (left > 0 && d->active < param_get(P_SMTP_CLIENT_PER_DESTINATION) &&
	       q->active < (size_t)param_get(P_SMTP_CLIENT_MAX)) {
		size_t slots = (size_t)(param_get(P_SMTP_CLIENT_PER_DESTINATION) - d->active);
		size_t per, count = 0, messages = 0;
		struct store_queue_item *batch = NULL;
		if (slots > (size_t)param_get(P_SMTP_CLIENT_MAX) - q->active)
			slots = (size_t)param_get(P_SMTP_CLIENT_MAX) - q->active;
		per = (left + slots - 1) / slots;
		if (per > (size_t)param_get(P_SMTP_CLIENT_BATCH))
			per = (size_t)param_get(P_SMTP_CLIENT_BATCH);
		for (; next < n && !taken[next] &&
		       strcasecmp(smtp_recipient_domain(items[next].recipient), domain) == 0; next++) {
			if (count == 0 || batch[count - 1].ref.message_id != items[next].ref.message_id)
				messages++;
			if (messages > per)
				break;
			batch = xrealloc(batch, (count + 1) * sizeof(*batch));
			batch[count++] = items[next]; /* moved: the strings go with it */
			memset(&items[next], 0, sizeof(items[next]));
			taken[next] = true;
			busy_insert(q, batch[count - 1].id);
		}
		if (count == 0)
			break;
		left -= messages > per ? per : messages;
		d->active++;
		q->active++;
		smtp_client_start(q, domain, batch, count);
	}
}

static int compare_items(const void *a, const void *b)
{
	const struct store_queue_item *x = a, *y = b;
	int c = strcasecmp(smtp_recipient_domain(x->recipient), smtp_recipient_domain(y->recipient));

	if (c != 0)
		return c;
	return (x->ref.message_id > y->ref.message_id) - (x->ref.message_id < y->ref.message_id);
}

static void queue_scan(struct smtp_queue *q)
{
	struct store_queue_item *items;
	size_t n = 0, kept = 0;
	bool *taken;

	if (q->stopping || q->active >= (size_t)param_get(P_SMTP_CLIENT_MAX) ||
	    store_queue_due(q->store, (int64_t)time(NULL), NULL, SCAN_MAX, &items, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) { /* what is in flight stays with its session */
		if (busy_has(q, items[i].id)) {
			free(items[i].sender), free(items[i].recipient), free(items[i].last_error);
			continue;
		}
		items[kept++] = items[i];
	}
	if (kept > 1) /* by domain, a message's rows together */
		qsort(items, kept, sizeof(*items), compare_items);
	taken = xcalloc(kept + 1, sizeof(bool));
	for (size_t i = 0; i < kept; i++)
		if (!taken[i])
			start_sessions(q, smtp_recipient_domain(items[i].recipient), items + i, kept - i, taken + i);
	for (size_t i = 0; i < kept; i++)
		if (!taken[i])
			free(items[i].sender), free(items[i].recipient), free(items[i].last_error);
	free(items);
	free(taken);
}

static void queue_tick(void *arg)
{
	struct smtp_queue *q = arg;

	q->kicked = false;
	queue_scan(q);
	if (!q->stopping && q->timer != NULL)
		net_timer_start(q->timer, SCAN_MS);
}

void smtp_queue_kick(void *arg)
{
	struct smtp_queue *q = arg;

	if (q->kicked || q->stopping)
		return;
	q->kicked = true;
	if (q->timer != NULL)
		net_timer_start(q->timer, 0); /* once the current event is done */
}

smtp_queue_t *smtp_queue_new(net_loop_t *loop, store_t *store, store_writer_t *writer, mta_t *mta,
			     net_dns_t *dns, const char *hostname, char **err_r)
{
	struct smtp_queue *q = xcalloc(1, sizeof(*q));

	q->loop = loop;
	q->store = store;
	q->writer = writer;
	q->mta = mta;
	q->dns = dns;
	q->hostname = xstrdup(hostname);
	if ((q->tls = net_tls_client_new(false, err_r)) == NULL ||
	    (q->tls_verify = net_tls_client_new(true, err_r)) == NULL) {
		smtp_queue_free(&q);
		return NULL;
	}
	LIST_INIT(&q->clients);
	q->timer = net_timer_new(loop, queue_tick, q);
	net_timer_start(q->timer, 0);
	mta_set_queue_hook(mta, smtp_queue_kick, q);
	return q;
}

void smtp_queue_stop(smtp_queue_t *q)
{
	q->stopping = true;
	net_timer_free(&q->timer);
	smtp_client_close_all(q);
}

size_t smtp_queue_active(const smtp_queue_t *q)
{
	return q->active;
}

void smtp_queue_free(smtp_queue_t **qp)
{
	struct smtp_queue *q = *qp;

	if (q == NULL)
		return;
	mta_set_queue_hook(q->mta, NULL, NULL);
	net_timer_free(&q->timer);
	net_tls_free(&q->tls);
	net_tls_free(&q->tls_verify);
	for (size_t i = 0; i < q->dest_count; i++)
		free(q->dests[i].domain);
	free(q->dests);
	free(q->busy);
	free(q->hostname);
	x_free(qp);
}
