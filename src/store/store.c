/* store: opening the database, pragmas, schema migrations and the statement cache.
 * Migrations are numbered by PRAGMA user_version and only ever appended. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_private.h"

static const char *const migrations[] = {
	/* 1: directory, blobs, messages, mailboxes, queue */
	"CREATE TABLE orgs(id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
	"CREATE TABLE sites(id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL REFERENCES orgs(id),"
	" name TEXT NOT NULL COLLATE NOCASE, UNIQUE(org_id, name));"
	"CREATE TABLE domains(name TEXT PRIMARY KEY COLLATE NOCASE,"
	" site_id INTEGER NOT NULL REFERENCES sites(id));"
	"CREATE TABLE recipients(id INTEGER PRIMARY KEY, guid TEXT NOT NULL UNIQUE,"
	" kind TEXT NOT NULL CHECK(kind IN ('user','alias','group')),"
	" site_id INTEGER NOT NULL REFERENCES sites(id), cn TEXT NOT NULL COLLATE NOCASE,"
	" local_part TEXT NOT NULL COLLATE NOCASE, domain TEXT NOT NULL COLLATE NOCASE,"
	" display_name TEXT NOT NULL DEFAULT '', hidden INTEGER NOT NULL DEFAULT 0,"
	" role TEXT NOT NULL DEFAULT 'user' CHECK(role IN ('user','admin','journal-officer')),"
	" password_hash TEXT, target TEXT, created_at INTEGER NOT NULL,"
	" UNIQUE(local_part, domain), UNIQUE(site_id, cn));"
	"CREATE TABLE group_members(group_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,"
	" address TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY(group_id, address));"
	"CREATE TABLE segments(id INTEGER PRIMARY KEY, length INTEGER NOT NULL);"
	"CREATE TABLE blobs(id INTEGER PRIMARY KEY, sha256 BLOB NOT NULL UNIQUE,"
	" segment INTEGER NOT NULL, offset INTEGER NOT NULL,"
	" length INTEGER NOT NULL);"
	"CREATE TABLE messages(id INTEGER PRIMARY KEY, msgid TEXT NOT NULL UNIQUE,"
	" thread_id TEXT NOT NULL, blob_id INTEGER NOT NULL REFERENCES blobs(id),"
	" sender TEXT NOT NULL, received_at INTEGER NOT NULL);"
	"CREATE TABLE mailboxes(id INTEGER PRIMARY KEY,"
	" owner_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,"
	" name TEXT NOT NULL, special_use TEXT, uidvalidity INTEGER NOT NULL,"
	" uidnext INTEGER NOT NULL DEFAULT 1, highestmodseq INTEGER NOT NULL DEFAULT 1,"
	" subscribed INTEGER NOT NULL DEFAULT 1, UNIQUE(owner_id, name));"
	"CREATE TABLE mailbox_messages(mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id)"
	" ON DELETE CASCADE, uid INTEGER NOT NULL, message_id INTEGER NOT NULL REFERENCES messages(id),"
	" flags INTEGER NOT NULL DEFAULT 0, modseq INTEGER NOT NULL, internal_date INTEGER NOT NULL,"
	" PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX mailbox_messages_by_message ON mailbox_messages(message_id);"
	"CREATE TABLE queue(id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL REFERENCES messages(id),"
	" recipient TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'waiting', attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt INTEGER NOT NULL, last_error TEXT, created_at INTEGER NOT NULL);"
	"CREATE INDEX queue_by_message ON queue(message_id);",
	/* 2: what GMime found in a message, so FETCH never parses it twice */
	"CREATE TABLE message_mime(message_id INTEGER PRIMARY KEY REFERENCES messages(id)"
	" ON DELETE CASCADE, envelope TEXT NOT NULL, bodystructure TEXT NOT NULL,"
	" body TEXT NOT NULL, parts TEXT NOT NULL);",
	/* 3: IMAP keywords, a bit each per mailbox (at most 64 per mailbox) */
	"CREATE TABLE mailbox_keywords(mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id)"
	" ON DELETE CASCADE, bit INTEGER NOT NULL, name TEXT NOT NULL COLLATE NOCASE,"
	" PRIMARY KEY(mailbox_id, bit), UNIQUE(mailbox_id, name));"
	"ALTER TABLE mailbox_messages ADD COLUMN keywords INTEGER NOT NULL DEFAULT 0;",
	/* 4: per-user storage quota in octets; NULL takes quota_default */
	"ALTER TABLE recipients ADD COLUMN quota INTEGER;",
	/* 5: which UIDs went at which MODSEQ, for QRESYNC's VANISHED */
	"CREATE TABLE mailbox_expunged(mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id)"
	" ON DELETE CASCADE, uid INTEGER NOT NULL, modseq INTEGER NOT NULL,"
	" PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID;",
	/* 6: the full-text index for SEARCH TEXT/BODY (trigram: substring matches) */
	"CREATE VIRTUAL TABLE message_text USING fts5(headers, body, tokenize='trigram');"
	"ALTER TABLE messages ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0;",
	/* 7: what each user's mailboxes hold, kept by the writer (quota checks are hot) */
	"ALTER TABLE recipients ADD COLUMN used_octets INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE recipients ADD COLUMN used_messages INTEGER NOT NULL DEFAULT 0;"
	"UPDATE recipients SET used_octets = (SELECT COALESCE(SUM(b.length), 0) FROM mailboxes mb"
	" JOIN mailbox_messages mm ON mm.mailbox_id = mb.id JOIN messages m ON m.id = mm.message_id"
	" JOIN blobs b ON b.id = m.blob_id WHERE mb.owner_id = recipients.id),"
	" used_messages = (SELECT COUNT(*) FROM mailboxes mb JOIN mailbox_messages mm"
	" ON mm.mailbox_id = mb.id WHERE mb.owner_id = recipients.id);",
	/* 8: URLAUTH (RFC 4467): each mailbox's access key, made on first use */
	"ALTER TABLE mailboxes ADD COLUMN urlauth_key TEXT;",
	/* 9: outbound delivery: due rows by time and by domain, delay warnings, transports */
	"ALTER TABLE queue ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE queue ADD COLUMN domain TEXT NOT NULL DEFAULT '';"
	"UPDATE queue SET domain = lower(substr(recipient,"
	" length(rtrim(recipient, replace(recipient, '@', ''))) + 1));" /* after the last @ */
	"CREATE INDEX queue_due ON queue(next_attempt);"
	"CREATE INDEX queue_due_by_domain ON queue(domain, next_attempt);"
	"CREATE TABLE transports(domain TEXT PRIMARY KEY COLLATE NOCASE, host TEXT NOT NULL,"
	" port INTEGER NOT NULL, tls TEXT NOT NULL DEFAULT 'may', auth_user TEXT, auth_password TEXT);",
	/* 10: the administrator's policy: settings over the defaults, and lists */
	"CREATE TABLE policy_settings(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE policy_lists(list TEXT NOT NULL, value TEXT NOT NULL COLLATE NOCASE,"
	" PRIMARY KEY(list, value)) WITHOUT ROWID;",
};

sqlite3_stmt *store_stmt(store_t *store, const char *sql)
{
	struct stmt_slot *free_slot = NULL;

	for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
		struct stmt_slot *slot = &store->stmts[i];
		if (slot->sql == sql) {
			sqlite3_reset(slot->stmt);
			sqlite3_clear_bindings(slot->stmt);
			return slot->stmt;
		}
		if (slot->sql == NULL && free_slot == NULL)
			free_slot = slot;
	}
	if (free_slot == NULL)
		fatal("store: statement cache full; raise STORE_STMT_CACHE");
	if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &free_slot->stmt,
			       NULL) != SQLITE_OK) {
		log_warnx("store: prepare failed sql=\"%s\" error=\"%s\"", sql, sqlite3_errmsg(store->db));
		return NULL;
	}
	free_slot->sql = sql;
	return free_slot->stmt;
}

int store_exec(store_t *store, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("store: exec failed error=\"%s\"", msg ? msg : "?");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

char *store_column_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *text = sqlite3_column_text(st, col);

	return text == NULL ? NULL : xstrdup((const char *)text);
}

int store_migrate(store_t *store, char **err_r)
{
	sqlite3_stmt *st;
	int version;
	const int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));

	if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (version > latest) {
		*err_r = xasprintf("database schema %d is newer than this sealpost (%d)", version, latest);
		return -1;
	}
	for (int v = version; v < latest; v++) {
		char *sql = xasprintf("BEGIN IMMEDIATE; %s PRAGMA user_version=%d; COMMIT;",
				      migrations[v], v + 1);
		int rc = store_exec(store, sql);
		free(sql);
		if (rc < 0) {
			store_exec(store, "ROLLBACK");
			goto fail;
		}
	}
	return 0;
fail:
	*err_r = xasprintf("schema migration failed: %s", sqlite3_errmsg(store->db));
	return -1;
}

int store_open_db(const char *datadir, bool writer, store_t **store_r, char **err_r)
{
	store_t *store = xcalloc(1, sizeof(*store));
	char *path = xasprintf("%s/sealpost.db", datadir);
	int rc;

	store->datadir = xstrdup(datadir);
	store->blobdir = xasprintf("%s/blobs", datadir);
	rc = sqlite3_open_v2(path, &store->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	free(path);
	if (rc != SQLITE_OK) {
		*err_r = xasprintf("cannot open database in %s: %s", datadir,
				   store->db ? sqlite3_errmsg(store->db) : "out of memory");
		store_close(&store);
		return -1;
	}
	sqlite3_busy_timeout(store->db, 10000);
	/* FULL: the WAL is fsynced at every COMMIT, so an acknowledged message survives
	 * power loss, not only a crash of the process. */
	if (store_exec(store, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
			      " PRAGMA foreign_keys=ON;") < 0 ||
	    (writer && store_exec(store, "PRAGMA wal_autocheckpoint=4000;") < 0)) {
		*err_r = xasprintf("cannot configure database: %s", sqlite3_errmsg(store->db));
		store_close(&store);
		return -1;
	}
	*store_r = store;
	return 0;
}

int store_open(const char *datadir, store_t **store_r, char **err_r)
{
	if (fs_mkdir_p(datadir, 0700) < 0) {
		*err_r = xasprintf("cannot create %s", datadir);
		return -1;
	}
	if (store_open_db(datadir, false, store_r, err_r) < 0)
		return -1;
	if (store_migrate(*store_r, err_r) < 0) {
		store_close(store_r);
		return -1;
	}
	return 0;
}

void store_close(store_t **storep)
{
	store_t *store = *storep;

	if (store == NULL)
		return;
	for (size_t i = 0; i < STORE_STMT_CACHE; i++)
		sqlite3_finalize(store->stmts[i].stmt);
	for (size_t i = 0; i < store->segment_fd_count; i++)
		if (store->segment_fds[i] >= 0)
			close(store->segment_fds[i]);
	free(store->segment_fds);
	sqlite3_close(store->db);
	free(store->datadir);
	free(store->blobdir);
	free(store);
	*storep = NULL;
}

int store_transaction(store_t *store, int (*fn)(store_t *, void *), void *arg)
{
	if (store_exec(store, "BEGIN IMMEDIATE") < 0)
		return -1;
	if (fn(store, arg) < 0) {
		store_exec(store, "ROLLBACK");
		return -1;
	}
	if (store_exec(store, "COMMIT") < 0) {
		store_exec(store, "ROLLBACK");
		return -1;
	}
	return 0;
}

int store_foreach_pair(store_t *store, const char *sql, void (*cb)(const char *a, const char *b, void *arg),
		       void *arg)
{
	sqlite3_stmt *st = store_stmt(store, sql);
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1), arg);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
