/* store_queue: the remote queue (one row per remote recipient of a message, with
 * its next attempt) and the transport table (domain -> host:port, TLS policy,
 * credentials for a smart host). Rows leave the queue only in the writer's
 * transactions (delivered, or bounced with the report committed alongside); the
 * administrator's CLI may reschedule or remove them directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_private.h"

int store_queue_foreach(store_t *store, void (*cb)(const struct store_queue_entry *, void *),
			void *arg)
{
	static const char sql[] =
		"SELECT q.id, m.msgid, m.sender, q.recipient, q.state, q.attempts, q.created_at,"
		" b.length, q.next_attempt, q.last_error FROM queue q JOIN messages m ON m.id = q.message_id"
		" JOIN blobs b ON b.id = m.blob_id ORDER BY q.id";
	sqlite3_stmt *st = store_stmt(store, sql);
	struct store_queue_entry e;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e.id = sqlite3_column_int64(st, 0);
		snprintf(e.msgid, sizeof(e.msgid), "%s", (const char *)sqlite3_column_text(st, 1));
		e.sender = (char *)sqlite3_column_text(st, 2);
		e.recipient = (char *)sqlite3_column_text(st, 3);
		e.state = (char *)sqlite3_column_text(st, 4);
		e.attempts = sqlite3_column_int(st, 5);
		e.created_at = sqlite3_column_int64(st, 6);
		e.size = sqlite3_column_int64(st, 7);
		e.next_attempt = sqlite3_column_int64(st, 8);
		e.last_error = (char *)sqlite3_column_text(st, 9);
		cb(&e, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

void store_queue_items_free(struct store_queue_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].sender);
		free(items[i].recipient);
		free(items[i].last_error);
	}
	free(items);
}

#define DUE_COLUMNS \
	"SELECT q.id, q.message_id, m.msgid, m.sender, q.recipient, q.attempts, q.created_at," \
	" q.delay_warned, q.last_error, b.segment, b.offset, b.length, m.received_at" \
	" FROM queue q JOIN messages m ON m.id = q.message_id JOIN blobs b ON b.id = m.blob_id"

int store_queue_due(store_t *store, int64_t now, const char *domain, size_t max, struct store_queue_item **items_r,
		    size_t *n_r)
{
	sqlite3_stmt *st = store_stmt(store, domain ? DUE_COLUMNS " WHERE q.domain = lower(?3) AND q.next_attempt <= ?1"
							     " ORDER BY q.next_attempt, q.message_id LIMIT ?2"
						    : DUE_COLUMNS " WHERE q.next_attempt <= ?1"
							     " ORDER BY q.next_attempt, q.message_id LIMIT ?2");
	struct store_queue_item *items = NULL;
	size_t n = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	if (domain != NULL)
		sqlite3_bind_text(st, 3, domain, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_queue_item *it;
		items = xrealloc(items, (n + 1) * sizeof(*items));
		it = &items[n++];
		memset(it, 0, sizeof(*it));
		it->id = sqlite3_column_int64(st, 0);
		it->ref.message_id = sqlite3_column_int64(st, 1);
		snprintf(it->ref.msgid, sizeof(it->ref.msgid), "%s", (const char *)sqlite3_column_text(st, 2));
		it->sender = store_column_dup(st, 3);
		it->recipient = store_column_dup(st, 4);
		it->attempts = sqlite3_column_int(st, 5);
		it->created_at = sqlite3_column_int64(st, 6);
		it->delay_warned = sqlite3_column_int(st, 7) != 0;
		it->last_error = store_column_dup(st, 8);
		it->ref.segment = sqlite3_column_int64(st, 9);
		it->ref.offset = sqlite3_column_int64(st, 10);
		it->ref.size = sqlite3_column_int64(st, 11);
		it->ref.internal_date = sqlite3_column_int64(st, 12);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		store_queue_items_free(items, n);
		return -1;
	}
	*items_r = items;
	*n_r = n;
	return 0;
}

/* Runs a statement of up to three parameters (?1, ?2 numbers, ?3 text); the ones
 * it does not have are ignored. */
static int bind_run(sqlite3_stmt *st, int64_t a, int64_t b, const char *text)
{
	int n;

	if (st == NULL)
		return -1;
	n = sqlite3_bind_parameter_count(st);
	if (n >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (n >= 2)
		sqlite3_bind_int64(st, 2, b);
	if (n >= 3)
		sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_tx_queue_done(store_tx_t *tx, int64_t id, int64_t message_id)
{
	if (bind_run(store_stmt(tx->store, "DELETE FROM queue WHERE id = ?1"), id, 0, NULL) < 0)
		return -1;
	return store_message_release(tx, message_id);
}

int store_tx_queue_defer(store_tx_t *tx, int64_t id, int64_t next_attempt, const char *error)
{
	return bind_run(store_stmt(tx->store, "UPDATE queue SET attempts = attempts + 1, next_attempt = ?2,"
					       " last_error = ?3 WHERE id = ?1"),
			id, next_attempt, error);
}

int store_tx_queue_warned(store_tx_t *tx, int64_t id)
{
	return bind_run(store_stmt(tx->store, "UPDATE queue SET delay_warned = 1 WHERE id = ?1"), id,
			0, NULL);
}

int store_queue_reschedule(store_t *store, int64_t id, int64_t when)
{
	sqlite3_stmt *st = store_stmt(store, id > 0 ? "UPDATE queue SET next_attempt = ?2 WHERE id = ?1"
						    : "UPDATE queue SET next_attempt = ?2 WHERE id > ?1");

	if (bind_run(st, id, when, NULL) < 0)
		return -1;
	return sqlite3_changes(store->db) > 0 ? 1 : 0;
}

int store_queue_remove(store_t *store, int64_t id)
{
	sqlite3_stmt *st;
	store_tx_t tx = { .store = store }; /* for store_message_release: the same SQL, our connection */
	int64_t message_id = -1;
	int rc = -1;

	if (store_exec(store, "BEGIN IMMEDIATE") < 0)
		return -1;
	if ((st = store_stmt(store, "DELETE FROM queue WHERE id = ?1 RETURNING message_id")) != NULL) {
		int step;
		sqlite3_bind_int64(st, 1, id);
		if ((step = sqlite3_step(st)) == SQLITE_ROW) {
			message_id = sqlite3_column_int64(st, 0);
			step = sqlite3_step(st);
		}
		rc = step == SQLITE_DONE ? 0 : -1;
		sqlite3_reset(st);
	}
	if (rc == 0 && message_id >= 0)
		rc = store_message_release(&tx, message_id) < 0 ? -1 : 1;
	store_exec(store, rc < 0 ? "ROLLBACK" : "COMMIT");
	return rc;
}

/* ---- transports ---- */

void store_transport_clear(struct store_transport *t)
{
	free(t->domain);
	free(t->host);
	free(t->tls);
	free(t->auth_user);
	free(t->auth_password);
	memset(t, 0, sizeof(*t));
}

static void transport_read(sqlite3_stmt *st, struct store_transport *t)
{
	t->domain = store_column_dup(st, 0);
	t->host = store_column_dup(st, 1);
	t->port = sqlite3_column_int(st, 2);
	t->tls = store_column_dup(st, 3);
	t->auth_user = store_column_dup(st, 4);
	t->auth_password = store_column_dup(st, 5);
}

#define TRANSPORT_COLUMNS "SELECT domain, host, port, tls, auth_user, auth_password FROM transports "

int store_transport_find(store_t *store, const char *domain, struct store_transport *t)
{
	sqlite3_stmt *st = store_stmt(store, TRANSPORT_COLUMNS "WHERE domain = ?1 OR domain = '*'"
							       " ORDER BY domain = '*' LIMIT 1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		transport_read(st, t);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_transport_foreach(store_t *store, void (*cb)(const struct store_transport *t, void *arg), void *arg)
{
	sqlite3_stmt *st = store_stmt(store, TRANSPORT_COLUMNS "ORDER BY domain");
	struct store_transport t;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		transport_read(st, &t);
		cb(&t, arg);
		store_transport_clear(&t);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_transport_set(store_t *store, const struct store_transport *t)
{
	sqlite3_stmt *st = store_stmt(store, "INSERT OR REPLACE INTO transports(domain, host, port, tls,"
					     " auth_user, auth_password) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, t->domain, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, t->host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, t->port);
	sqlite3_bind_text(st, 4, t->tls, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, t->auth_user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, t->auth_password, -1, SQLITE_TRANSIENT);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_transport_remove(store_t *store, const char *domain)
{
	sqlite3_stmt *st = store_stmt(store, "DELETE FROM transports WHERE domain = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -1;
	return sqlite3_changes(store->db) > 0 ? 1 : 0;
}
