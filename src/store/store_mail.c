/* store_mail: messages, mailboxes and the remote queue. A message's bytes are kept
 * once (content-addressed by SHA-256) however many mailboxes and queue rows refer
 * to it; reads are pread of byte ranges, never a re-serialisation. */
#include <errno.h>
#include <stdio.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_private.h"

static int blob_find_or_append(store_tx_t *tx, const void *bytes, size_t len, int64_t *blob_r)
{
	static const char find_sql[] = "SELECT id FROM blobs WHERE sha256 = ?1";
	static const char insert_sql[] =
		"INSERT INTO blobs(sha256, segment, offset, length) VALUES(?1, ?2, ?3, ?4)";
	unsigned char digest[SHA256_DIGEST_LENGTH];
	sqlite3_stmt *st;
	int64_t offset;

	SHA256(bytes, len, digest);
	if ((st = store_stmt(tx->store, find_sql)) == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, digest, sizeof(digest), SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*blob_r = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	if (store_segment_append(tx, bytes, len, &offset) < 0)
		return -1;
	if ((st = store_stmt(tx->store, insert_sql)) == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, digest, sizeof(digest), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tx->segment_id);
	sqlite3_bind_int64(st, 3, offset);
	sqlite3_bind_int64(st, 4, (int64_t)len);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -1;
	*blob_r = sqlite3_last_insert_rowid(tx->store->db);
	return 0;
}

static int message_insert(store_tx_t *tx, const char *msgid, const char *sender, int64_t blob_id,
			  int64_t *message_r)
{
	static const char sql[] =
		"INSERT INTO messages(msgid, thread_id, blob_id, sender, received_at)"
		" VALUES(?1, ?1, ?2, ?3, ?4)";
	sqlite3_stmt *st = store_stmt(tx->store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, msgid, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, blob_id);
	sqlite3_bind_text(st, 3, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		return -1;
	*message_r = sqlite3_last_insert_rowid(tx->store->db);
	return 0;
}

/* Takes the next UID and MODSEQ of a mailbox: by id, or (id 0) the owner's INBOX. */
static int mailbox_next_uid(store_tx_t *tx, int64_t mailbox_id, int64_t owner_id,
			    int64_t *mailbox_r, int64_t *uid_r, int64_t *modseq_r)
{
	static const char by_id_sql[] =
		"UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1"
		" WHERE id = ?1 RETURNING id, uidnext - 1, highestmodseq";
	static const char inbox_sql[] =
		"UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1"
		" WHERE owner_id = ?1 AND name = 'INBOX' RETURNING id, uidnext - 1, highestmodseq";
	sqlite3_stmt *st = store_stmt(tx->store, mailbox_id ? by_id_sql : inbox_sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id ? mailbox_id : owner_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		log_warnx("store: no such mailbox id=%lld owner=%lld", (long long)mailbox_id,
			  (long long)owner_id);
		sqlite3_reset(st);
		return -1;
	}
	*mailbox_r = sqlite3_column_int64(st, 0);
	*uid_r = sqlite3_column_int64(st, 1);
	*modseq_r = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	return 0;
}

/* Adds delta messages of octets to the owner of a mailbox. */
static int usage_add(store_tx_t *tx, int64_t mailbox_id, int64_t octets, int delta)
{
	static const char sql[] =
		"UPDATE recipients SET used_octets = used_octets + ?2, used_messages = used_messages + ?3"
		" WHERE id = (SELECT owner_id FROM mailboxes WHERE id = ?1)";
	sqlite3_stmt *st = store_stmt(tx->store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, octets);
	sqlite3_bind_int(st, 3, delta);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

/* The integer a one-row statement with one integer parameter yields; -1 if none. */
static int64_t tx_single_int(store_tx_t *tx, const char *sql, int64_t key)
{
	sqlite3_stmt *st = store_stmt(tx->store, sql);
	int64_t value = -1;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, key);
	if (sqlite3_step(st) == SQLITE_ROW)
		value = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return value;
}

static int64_t message_size(store_tx_t *tx, int64_t message_id)
{
	static const char sql[] =
		"SELECT b.length FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.id = ?1";

	return tx_single_int(tx, sql, message_id);
}

/* size: the message's octets, or -1 to look it up. */
static int mailbox_append(store_tx_t *tx, int64_t mailbox_id, int64_t owner_id, int64_t message_id,
			  int64_t size, unsigned flags, int64_t internal_date, uint32_t *uid_r)
{
	static const char insert_sql[] =
		"INSERT INTO mailbox_messages(mailbox_id, uid, message_id, flags, modseq, internal_date)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6)";
	sqlite3_stmt *st;
	int64_t uid, modseq;

	if (mailbox_next_uid(tx, mailbox_id, owner_id, &mailbox_id, &uid, &modseq) < 0 ||
	    (st = store_stmt(tx->store, insert_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, message_id);
	sqlite3_bind_int(st, 4, (int)flags);
	sqlite3_bind_int64(st, 5, modseq);
	sqlite3_bind_int64(st, 6, internal_date);
	if (uid_r != NULL)
		*uid_r = (uint32_t)uid;
	if (sqlite3_step(st) != SQLITE_DONE)
		return -1;
	return usage_add(tx, mailbox_id, size >= 0 ? size : message_size(tx, message_id), 1);
}

static int queue_insert(store_tx_t *tx, int64_t message_id, const char *recipient)
{
	static const char sql[] =
		"INSERT INTO queue(message_id, recipient, next_attempt, created_at, domain)"
		" VALUES(?1, ?2, ?3, ?3, lower(substr(?2, length(rtrim(?2, replace(?2, '@', ''))) + 1)))";
	sqlite3_stmt *st = store_stmt(tx->store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, message_id);
	sqlite3_bind_text(st, 2, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

/* Takes the mailbox's next MODSEQ; returns it, or -1. */
static int64_t next_modseq(store_tx_t *tx, int64_t mailbox_id)
{
	static const char sql[] =
		"UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1"
		" RETURNING highestmodseq";

	return tx_single_int(tx, sql, mailbox_id);
}

int store_tx_deliver(store_tx_t *tx, struct store_delivery *d)
{
	int64_t blob_id, message_id;

	if (blob_find_or_append(tx, d->bytes, d->len, &blob_id) < 0 ||
	    message_insert(tx, d->msgid, d->sender, blob_id, &message_id) < 0)
		goto fail;
	d->message_id = message_id;
	for (size_t i = 0; i < d->user_count; i++)
		if (mailbox_append(tx, 0, d->user_ids[i], message_id, (int64_t)d->len, 0,
				   (int64_t)time(NULL), NULL) < 0)
			goto fail;
	for (size_t i = 0; i < d->remote_count; i++)
		if (queue_insert(tx, message_id, d->remote[i]) < 0)
			goto fail;
	return 0;
fail:
	log_warnx("store: delivery failed msgid=%s error=\"%s\"", d->msgid,
		  sqlite3_errmsg(tx->store->db));
	return -1;
}

/* Drops the message row once no mailbox or queue entry refers to it. Its bytes stay
 * in the segment until compaction reclaims them. */
int store_message_release(store_tx_t *tx, int64_t message_id)
{
	static const char sql[] =
		"DELETE FROM messages WHERE id = ?1"
		" AND NOT EXISTS(SELECT 1 FROM mailbox_messages WHERE message_id = ?1)"
		" AND NOT EXISTS(SELECT 1 FROM queue WHERE message_id = ?1)";
	static const char text_sql[] =
		"DELETE FROM message_text WHERE rowid = ?1 AND NOT EXISTS(SELECT 1 FROM messages WHERE id = ?1)";
	sqlite3_stmt *st = store_stmt(tx->store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, message_id);
	if (sqlite3_step(st) != SQLITE_DONE || (st = store_stmt(tx->store, text_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, message_id);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_tx_expunge(store_tx_t *tx, int64_t mailbox_id, const uint32_t *uids, size_t count)
{
	static const char del_sql[] =
		"DELETE FROM mailbox_messages WHERE mailbox_id = ?1 AND uid = ?2 RETURNING message_id";
	static const char tomb_sql[] =
		"INSERT OR REPLACE INTO mailbox_expunged(mailbox_id, uid, modseq) VALUES(?1, ?2, ?3)";
	sqlite3_stmt *st;
	int64_t modseq = next_modseq(tx, mailbox_id);

	if (modseq < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		int64_t message_id = -1;
		if ((st = store_stmt(tx->store, del_sql)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, uids[i]);
		if (sqlite3_step(st) == SQLITE_ROW)
			message_id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (message_id < 0)
			continue;
		if (usage_add(tx, mailbox_id, -message_size(tx, message_id), -1) < 0 ||
		    store_message_release(tx, message_id) < 0 || (st = store_stmt(tx->store, tomb_sql)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, uids[i]);
		sqlite3_bind_int64(st, 3, modseq);
		if (sqlite3_step(st) != SQLITE_DONE)
			return -1;
	}
	return 0;
}

int store_mailbox_vanished(store_t *store, int64_t mailbox_id, uint64_t since, uint32_t **uids_r,
			   size_t *count_r)
{
	static const char sql[] =
		"SELECT uid FROM mailbox_expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid";
	sqlite3_stmt *st = store_stmt(store, sql);
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, (int64_t)since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n % 256 == 0)
			uids = xrealloc(uids, (n + 256) * sizeof(*uids));
		uids[n++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(uids);
		return -1;
	}
	*uids_r = uids;
	*count_r = n;
	return 0;
}

int store_tx_append(store_tx_t *tx, struct store_append *a, uint32_t *uid_r)
{
	int64_t blob_id, message_id;

	if (blob_find_or_append(tx, a->bytes, a->len, &blob_id) < 0 ||
	    message_insert(tx, a->msgid, a->sender, blob_id, &message_id) < 0 ||
	    mailbox_append(tx, a->mailbox_id, 0, message_id, (int64_t)a->len, a->flags,
			   a->internal_date, uid_r) < 0) {
		log_warnx("store: append failed msgid=%s error=\"%s\"", a->msgid,
			  sqlite3_errmsg(tx->store->db));
		return -1;
	}
	a->message_id = message_id;
	return 0;
}

int store_tx_set_flags(store_tx_t *tx, int64_t mailbox_id, const uint32_t *uids,
		       const unsigned *flags, size_t count)
{
	static const char set_sql[] =
		"UPDATE mailbox_messages SET flags = ?3, modseq = ?4"
		" WHERE mailbox_id = ?1 AND uid = ?2 AND flags != ?3";
	sqlite3_stmt *st;

	for (size_t i = 0; i < count; i++) {
		int64_t modseq = next_modseq(tx, mailbox_id);
		if (modseq < 0 || (st = store_stmt(tx->store, set_sql)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, uids[i]);
		sqlite3_bind_int(st, 3, (int)flags[i]);
		sqlite3_bind_int64(st, 4, modseq);
		if (sqlite3_step(st) != SQLITE_DONE)
			return -1;
	}
	return 0;
}

static int exec_bound(store_t *store, const char *sql, int64_t a, const char *text, const char *text2)
{
	sqlite3_stmt *st = store_stmt(store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	if (text != NULL)
		sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	if (text2 != NULL)
		sqlite3_bind_text(st, 3, text2, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_tx_mailbox_create(store_tx_t *tx, int64_t owner_id, const char *name)
{
	static const char sql[] =
		"INSERT INTO mailboxes(owner_id, name, uidvalidity) VALUES(?1, ?2,"
		" MAX(CAST(strftime('%s', 'now') AS INTEGER),"
		" (SELECT COALESCE(MAX(uidvalidity), 0) + 1 FROM mailboxes)))";

	return exec_bound(tx->store, sql, owner_id, name, NULL);
}

int store_tx_mailbox_delete(store_tx_t *tx, int64_t mailbox_id)
{
	static const char uids_sql[] = "SELECT uid FROM mailbox_messages WHERE mailbox_id = ?1";
	static const char delete_sql[] = "DELETE FROM mailboxes WHERE id = ?1";
	sqlite3_stmt *st = store_stmt(tx->store, uids_sql);
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uids = xrealloc(uids, (n + 1) * sizeof(*uids));
		uids[n++] = (uint32_t)sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	rc = rc == SQLITE_DONE ? store_tx_expunge(tx, mailbox_id, uids, n) : -1;
	free(uids);
	return rc < 0 ? -1 : exec_bound(tx->store, delete_sql, mailbox_id, NULL, NULL);
}

int store_tx_mailbox_rename(store_tx_t *tx, int64_t owner_id, const char *from, const char *to)
{
	static const char sql[] =
		"UPDATE mailboxes SET name = ?3 || substr(name, length(?2) + 1) WHERE owner_id = ?1"
		" AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')";

	return exec_bound(tx->store, sql, owner_id, from, to);
}

int store_tx_mailbox_subscribe(store_tx_t *tx, int64_t mailbox_id, bool subscribed)
{
	return exec_bound(tx->store, subscribed ? "UPDATE mailboxes SET subscribed = 1 WHERE id = ?1"
						: "UPDATE mailboxes SET subscribed = 0 WHERE id = ?1",
			  mailbox_id, NULL, NULL);
}

int store_tx_urlauth_key_ensure(store_tx_t *tx, int64_t mailbox_id, const char *fresh_key)
{
	return exec_bound(tx->store, "UPDATE mailboxes SET urlauth_key = ?2 WHERE id = ?1 AND urlauth_key IS NULL",
			  mailbox_id, fresh_key, NULL);
}

int store_tx_urlauth_keys_reset(store_tx_t *tx, int64_t owner_id, int64_t mailbox_id)
{
	if (mailbox_id > 0)
		return exec_bound(tx->store, "UPDATE mailboxes SET urlauth_key = NULL WHERE id = ?1", mailbox_id,
				  NULL, NULL);
	return exec_bound(tx->store, "UPDATE mailboxes SET urlauth_key = NULL WHERE owner_id = ?1", owner_id,
			  NULL, NULL);
}

int store_mailbox_urlauth_key(store_t *store, int64_t mailbox_id, char **key_r)
{
	sqlite3_stmt *st = store_stmt(store, "SELECT urlauth_key FROM mailboxes WHERE id = ?1");
	int rc;

	*key_r = NULL;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*key_r = store_column_dup(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? *key_r != NULL : rc == SQLITE_DONE ? 0 : -1;
}

static int keyword_bits(store_tx_t *tx, int64_t mailbox_id, const char *const *names, size_t count,
			uint64_t *bits_r);

/* Keyword bits of one mailbox as the bits of the same names in another. */
static int keywords_translate(store_tx_t *tx, int64_t src, int64_t dst, uint64_t kw, uint64_t *out_r)
{
	char *names[STORE_KEYWORDS_MAX];
	const char *wanted[STORE_KEYWORDS_MAX];
	size_t n = 0;
	int rc;

	*out_r = 0;
	if (kw == 0 || src == dst) {
		*out_r = kw;
		return 0;
	}
	if (store_mailbox_keywords(tx->store, src, names) < 0)
		return -1;
	for (int bit = 0; bit < STORE_KEYWORDS_MAX; bit++)
		if ((kw >> bit) & 1 && names[bit] != NULL)
			wanted[n++] = names[bit];
	rc = keyword_bits(tx, dst, wanted, n, out_r);
	for (int bit = 0; bit < STORE_KEYWORDS_MAX; bit++)
		free(names[bit]);
	return rc;
}

int store_tx_copy(store_tx_t *tx, int64_t src_mailbox, const uint32_t *uids, size_t count,
		  int64_t dst_mailbox, bool expunge_source, uint32_t *dst_uids_r)
{
	static const char sql[] =
		"SELECT message_id, flags, internal_date, keywords FROM mailbox_messages"
		" WHERE mailbox_id = ?1 AND uid = ?2";
	static const char kw_sql[] =
		"UPDATE mailbox_messages SET keywords = ?3 WHERE mailbox_id = ?1 AND uid = ?2";
	sqlite3_stmt *st;

	for (size_t i = 0; i < count; i++) {
		int64_t message_id, internal_date;
		unsigned flags;
		if ((st = store_stmt(tx->store, sql)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, src_mailbox);
		sqlite3_bind_int64(st, 2, uids[i]);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_reset(st);
			return -1; /* expunged meanwhile: the caller says NO */
		}
		message_id = sqlite3_column_int64(st, 0);
		flags = (unsigned)sqlite3_column_int(st, 1);
		internal_date = sqlite3_column_int64(st, 2);
		uint64_t kw = (uint64_t)sqlite3_column_int64(st, 3);
		sqlite3_reset(st);
		if (mailbox_append(tx, dst_mailbox, 0, message_id, -1, flags, internal_date,
				   &dst_uids_r[i]) < 0 ||
		    keywords_translate(tx, src_mailbox, dst_mailbox, kw, &kw) < 0 ||
		    (st = store_stmt(tx->store, kw_sql)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, dst_mailbox);
		sqlite3_bind_int64(st, 2, dst_uids_r[i]);
		sqlite3_bind_int64(st, 3, (int64_t)kw);
		if (sqlite3_step(st) != SQLITE_DONE)
			return -1;
	}
	return expunge_source ? store_tx_expunge(tx, src_mailbox, uids, count) : 0;
}

int store_mailbox_keywords(store_t *store, int64_t mailbox_id, char *names_r[STORE_KEYWORDS_MAX])
{
	sqlite3_stmt *st = store_stmt(store, "SELECT bit, name FROM mailbox_keywords WHERE mailbox_id = ?1");
	int rc;

	for (int i = 0; i < STORE_KEYWORDS_MAX; i++)
		names_r[i] = NULL;
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int bit = sqlite3_column_int(st, 0);
		if (bit >= 0 && bit < STORE_KEYWORDS_MAX && names_r[bit] == NULL)
			names_r[bit] = store_column_dup(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The bits of the named keywords, creating the ones the mailbox lacks. */
static int keyword_bits(store_tx_t *tx, int64_t mailbox_id, const char *const *names, size_t count,
			uint64_t *bits_r)
{
	static const char find_sql[] = "SELECT bit FROM mailbox_keywords WHERE mailbox_id = ?1 AND name = ?2";
	static const char add_sql[] =
		"INSERT INTO mailbox_keywords(mailbox_id, bit, name) SELECT ?1,"
		" COALESCE(MAX(bit) + 1, 0), ?2 FROM mailbox_keywords WHERE mailbox_id = ?1 RETURNING bit";
	uint64_t bits = 0;

	for (size_t i = 0; i < count; i++) {
		sqlite3_stmt *st = store_stmt(tx->store, find_sql);
		int bit = -1;
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_text(st, 2, names[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			bit = sqlite3_column_int(st, 0);
		sqlite3_reset(st);
		if (bit < 0) {
			if ((st = store_stmt(tx->store, add_sql)) == NULL)
				return -1;
			sqlite3_bind_int64(st, 1, mailbox_id);
			sqlite3_bind_text(st, 2, names[i], -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW)
				bit = sqlite3_column_int(st, 0);
			sqlite3_reset(st);
		}
		if (bit < 0 || bit >= STORE_KEYWORDS_MAX)
			return -1;
		bits |= 1ULL << bit;
	}
	*bits_r = bits;
	return 0;
}

int store_tx_change_flags(store_tx_t *tx, int64_t mailbox_id, const uint32_t *uids, size_t count,
			  const struct store_flag_change *change, unsigned *flags_r,
			  uint64_t *keywords_r, uint64_t *modseqs_r)
{
	static const char get_sql[] =
		"SELECT flags, keywords, modseq FROM mailbox_messages WHERE mailbox_id = ?1 AND uid = ?2";
	static const char set_sql[] =
		"UPDATE mailbox_messages SET flags = ?3, keywords = ?4, modseq = ?5"
		" WHERE mailbox_id = ?1 AND uid = ?2";
	uint64_t bits;
	sqlite3_stmt *st;

	if (keyword_bits(tx, mailbox_id, change->keywords, change->keyword_count, &bits) < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		unsigned flags;
		uint64_t kw, modseq;
		if ((st = store_stmt(tx->store, get_sql)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, uids[i]);
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_reset(st);
			flags_r[i] = ~0u; /* expunged meanwhile */
			continue;
		}
		flags = (unsigned)sqlite3_column_int(st, 0);
		kw = (uint64_t)sqlite3_column_int64(st, 1);
		modseqs_r[i] = (uint64_t)sqlite3_column_int64(st, 2);
		sqlite3_reset(st);
		if (change->unchanged_since != 0 && modseqs_r[i] > change->unchanged_since) {
			flags_r[i] = ~0u - 1; /* modified since: left alone, reported */
			continue;
		}
		flags_r[i] = change->op == '=' ? change->flags : change->op == '+' ? flags | change->flags
											   : flags & ~change->flags;
		keywords_r[i] = change->op == '=' ? bits : change->op == '+' ? kw | bits : kw & ~bits;
		if (flags_r[i] == flags && keywords_r[i] == kw)
			continue;
		int64_t next = next_modseq(tx, mailbox_id);
		if (next < 0 || (st = store_stmt(tx->store, set_sql)) == NULL)
			return -1;
		modseqs_r[i] = modseq = (uint64_t)next;
		sqlite3_bind_int64(st, 1, mailbox_id);
		sqlite3_bind_int64(st, 2, uids[i]);
		sqlite3_bind_int(st, 3, (int)flags_r[i]);
		sqlite3_bind_int64(st, 4, (int64_t)keywords_r[i]);
		sqlite3_bind_int64(st, 5, (int64_t)modseq);
		if (sqlite3_step(st) != SQLITE_DONE)
			return -1;
	}
	return 0;
}

int store_mailbox_foreach(store_t *store, int64_t owner_id,
			  void (*cb)(const struct store_mailbox *mb, bool subscribed, void *arg),
			  void *arg)
{
	static const char sql[] =
		"SELECT id, owner_id, name, special_use, uidvalidity, uidnext, highestmodseq, subscribed"
		" FROM mailboxes WHERE owner_id = ?1 ORDER BY name = 'INBOX' DESC, name";
	sqlite3_stmt *st = store_stmt(store, sql);
	struct store_mailbox mb;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, owner_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		mb.id = sqlite3_column_int64(st, 0);
		mb.owner_id = sqlite3_column_int64(st, 1);
		mb.name = (char *)sqlite3_column_text(st, 2);
		mb.special_use = (char *)sqlite3_column_text(st, 3);
		mb.uidvalidity = (uint32_t)sqlite3_column_int64(st, 4);
		mb.uidnext = (uint32_t)sqlite3_column_int64(st, 5);
		mb.highestmodseq = (uint64_t)sqlite3_column_int64(st, 6);
		cb(&mb, sqlite3_column_int(st, 7) != 0, arg);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The numbers of the one row an id-bound query gives: 0, or -1. */
static int row_numbers(store_t *store, const char *sql, int64_t id, int64_t *out, int n)
{
	sqlite3_stmt *st = store_stmt(store, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	for (int i = 0; rc == SQLITE_ROW && i < n; i++)
		out[i] = sqlite3_column_int64(st, i);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int store_mailbox_count(store_t *store, int64_t mailbox_id, struct store_mailbox_counts *c)
{
	int64_t n[4];

	if (row_numbers(store, "SELECT COUNT(*), COALESCE(SUM((mm.flags & 1) = 0), 0),"
			       " COALESCE(SUM((mm.flags & 8) != 0), 0), COALESCE(SUM(b.length), 0)"
			       " FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id"
			       " JOIN blobs b ON b.id = m.blob_id WHERE mm.mailbox_id = ?1",
			mailbox_id, n, 4) < 0)
		return -1;
	*c = (struct store_mailbox_counts){ n[0], n[1], n[2], n[3] };
	return 0;
}

int store_mailbox_state(store_t *store, int64_t mailbox_id, uint32_t *uidnext_r,
			uint64_t *highestmodseq_r)
{
	int64_t n[2];

	if (row_numbers(store, "SELECT uidnext, highestmodseq FROM mailboxes WHERE id = ?1", mailbox_id, n, 2) < 0)
		return -1;
	*uidnext_r = (uint32_t)n[0];
	*highestmodseq_r = (uint64_t)n[1];
	return 0;
}

void store_mailbox_clear(struct store_mailbox *mb)
{
	x_free(&mb->name);
	x_free(&mb->special_use);
}

int store_mailbox_by_name(store_t *store, int64_t owner_id, const char *name,
			  struct store_mailbox *mb)
{
	static const char sql[] =
		"SELECT id, owner_id, name, special_use, uidvalidity, uidnext, highestmodseq"
		" FROM mailboxes WHERE owner_id = ?1 AND name = ?2";
	sqlite3_stmt *st = store_stmt(store, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, owner_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	mb->id = sqlite3_column_int64(st, 0);
	mb->owner_id = sqlite3_column_int64(st, 1);
	mb->name = store_column_dup(st, 2);
	mb->special_use = store_column_dup(st, 3);
	mb->uidvalidity = (uint32_t)sqlite3_column_int64(st, 4);
	mb->uidnext = (uint32_t)sqlite3_column_int64(st, 5);
	mb->highestmodseq = (uint64_t)sqlite3_column_int64(st, 6);
	sqlite3_reset(st);
	return 1;
}

#define MESSAGE_REF_COLUMNS \
	"SELECT mm.uid, m.id, m.msgid, b.segment, b.offset, b.length, mm.flags, mm.modseq," \
	" mm.internal_date, mm.keywords, m.indexed" \
	" FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id" \
	" JOIN blobs b ON b.id = m.blob_id"

static void message_ref_read(sqlite3_stmt *st, struct store_message_ref *r)
{
	r->uid = (uint32_t)sqlite3_column_int64(st, 0);
	r->message_id = sqlite3_column_int64(st, 1);
	snprintf(r->msgid, sizeof(r->msgid), "%s", (const char *)sqlite3_column_text(st, 2));
	r->segment = sqlite3_column_int64(st, 3);
	r->offset = sqlite3_column_int64(st, 4);
	r->size = sqlite3_column_int64(st, 5);
	r->flags = (unsigned)sqlite3_column_int(st, 6);
	r->modseq = (uint64_t)sqlite3_column_int64(st, 7);
	r->internal_date = sqlite3_column_int64(st, 8);
	r->keywords = (uint64_t)sqlite3_column_int64(st, 9);
	r->indexed = sqlite3_column_int(st, 10) != 0;
}

int store_mailbox_messages(store_t *store, int64_t mailbox_id,
			   struct store_message_ref **refs_r, size_t *count_r)
{
	sqlite3_stmt *st = store_stmt(store, MESSAGE_REF_COLUMNS " WHERE mm.mailbox_id = ?1 ORDER BY mm.uid");
	struct store_message_ref *refs = NULL;
	size_t count = 0, cap = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 64;
			refs = xrealloc(refs, cap * sizeof(*refs));
		}
		message_ref_read(st, &refs[count++]);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(refs);
		return -1;
	}
	*refs_r = refs;
	*count_r = count;
	return 0;
}

int store_message_by_uid(store_t *store, int64_t mailbox_id, uint32_t uid, struct store_message_ref *ref)
{
	sqlite3_stmt *st = store_stmt(store, MESSAGE_REF_COLUMNS " WHERE mm.mailbox_id = ?1 AND mm.uid = ?2");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mailbox_id);
	sqlite3_bind_int64(st, 2, uid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		message_ref_read(st, ref);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

ssize_t store_message_read(store_t *store, const struct store_message_ref *ref, uint64_t off,
			   void *buf, size_t len)
{
	int fd = store_segment_fd(store, ref->segment);
	ssize_t n;

	if (fd < 0)
		return -1;
	if (off >= (uint64_t)ref->size)
		return 0;
	if (len > (uint64_t)ref->size - off)
		len = (size_t)((uint64_t)ref->size - off);
	do
		n = pread(fd, buf, len, ref->offset + (off_t)off);
	while (n < 0 && errno == EINTR);
	return n;
}

int store_message_mime_get(store_t *store, int64_t message_id, struct store_mime *out)
{
	static const char sql[] =
		"SELECT envelope, bodystructure, body, parts FROM message_mime WHERE message_id = ?1";
	sqlite3_stmt *st = store_stmt(store, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, message_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->envelope = store_column_dup(st, 0);
		out->bodystructure = store_column_dup(st, 1);
		out->body = store_column_dup(st, 2);
		out->parts = store_column_dup(st, 3);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

void store_mime_clear(struct store_mime *m)
{
	x_free(&m->envelope);
	x_free(&m->bodystructure);
	x_free(&m->body);
	x_free(&m->parts);
}

int store_tx_message_mime_put(store_tx_t *tx, int64_t message_id, const struct store_mime *m)
{
	static const char sql[] =
		"INSERT OR REPLACE INTO message_mime(message_id, envelope, bodystructure, body, parts)"
		" SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS(SELECT 1 FROM messages WHERE id = ?1)";
	sqlite3_stmt *st = store_stmt(tx->store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, message_id);
	sqlite3_bind_text(st, 2, m->envelope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m->bodystructure, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->body, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, m->parts, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_tx_index_text(store_tx_t *tx, int64_t message_id, const char *headers, const char *body)
{
	static const char insert_sql[] =
		"INSERT INTO message_text(rowid, headers, body) SELECT ?1, ?2, ?3"
		" WHERE EXISTS(SELECT 1 FROM messages WHERE id = ?1 AND indexed = 0)";
	static const char mark_sql[] = "UPDATE messages SET indexed = 1 WHERE id = ?1";
	sqlite3_stmt *st = store_stmt(tx->store, insert_sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, message_id);
	sqlite3_bind_text(st, 2, headers, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE || (st = store_stmt(tx->store, mark_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, message_id);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_tx_unindexed(store_tx_t *tx, int64_t *ids, int max)
{
	sqlite3_stmt *st = store_stmt(tx->store, "SELECT id FROM messages WHERE indexed = 0 LIMIT ?1");
	int n = 0, rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int(st, 1, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max)
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? n : -1;
}

int store_tx_message_bytes(store_tx_t *tx, int64_t message_id, str_t *out)
{
	static const char sql[] =
		"SELECT b.segment, b.offset, b.length FROM messages m JOIN blobs b ON b.id = m.blob_id"
		" WHERE m.id = ?1";
	sqlite3_stmt *st = store_stmt(tx->store, sql);
	struct store_message_ref ref = { 0 };
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, message_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ref.segment = sqlite3_column_int64(st, 0);
		ref.offset = sqlite3_column_int64(st, 1);
		ref.size = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return -1;
	str_clear(out);
	str_reserve(out, (size_t)ref.size);
	if (store_message_read(tx->store, &ref, 0, out->data, (size_t)ref.size) != ref.size)
		return -1;
	out->len = (size_t)ref.size;
	out->data[out->len] = '\0';
	return 0;
}

int store_text_search(store_t *store, const char *term, bool body_only, int64_t **ids_r,
		      size_t *count_r)
{
	static const char sql[] = "SELECT rowid FROM message_text WHERE message_text MATCH ?1 ORDER BY rowid";
	sqlite3_stmt *st;
	str_t query;
	int64_t *ids = NULL;
	size_t n = 0, chars = 0;
	int rc;


	for (const char *p = term; *p != '\0'; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80; /* UTF-8 characters, not octets */
	if (chars < 3)
		return 1; /* trigrams need three characters */
	str_init(&query);
	str_append_cstr(&query, body_only ? "body : \"" : "\"");
	for (const char *p = term; *p != '\0'; p++)
		str_append(&query, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
	str_append(&query, "\"", 1);
	if ((st = store_stmt(store, sql)) == NULL) {
		str_free(&query);
		return -1;
	}
	sqlite3_bind_text(st, 1, query.data, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n % 256 == 0)
			ids = xrealloc(ids, (n + 256) * sizeof(*ids));
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	str_free(&query);
	if (rc != SQLITE_DONE) {
		free(ids);
		return -1;
	}
	*ids_r = ids;
	*count_r = n;
	return 0;
}

