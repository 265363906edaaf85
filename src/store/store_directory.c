/* store_directory: rows of the directory (organisation, sites, domains, recipients,
 * list members). The rules about names and DNs live in directory/, not here. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_private.h"

static const char *const special_mailboxes[][2] = {
	{ "INBOX", NULL }, { "Sent", "\\Sent" }, { "Drafts", "\\Drafts" },
	{ "Trash", "\\Trash" }, { "Junk", "\\Junk" },
};
static const char *const kind_names[] = { "user", "alias", "group" };

static int step_done(sqlite3_stmt *st)
{
	return st != NULL && sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_org_create(store_t *store, const char *org, int64_t *id_r)
{
	sqlite3_stmt *st = store_stmt(store, "INSERT INTO orgs(name) VALUES(?1)");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, org, -1, SQLITE_STATIC);
	if (step_done(st) < 0)
		return -1;
	*id_r = sqlite3_last_insert_rowid(store->db);
	return 0;
}

static int single_text(store_t *store, const char *sql, int64_t arg, char **text_r)
{
	sqlite3_stmt *st = store_stmt(store, sql);
	int rc;

	if (st == NULL)
		return -1;
	if (arg >= 0)
		sqlite3_bind_int64(st, 1, arg);
	rc = sqlite3_step(st);
	*text_r = rc == SQLITE_ROW ? store_column_dup(st, 0) : NULL;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_org_name(store_t *store, char **name_r)
{
	return single_text(store, "SELECT name FROM orgs ORDER BY id LIMIT 1", -1, name_r);
}

int store_site_create(store_t *store, const char *site, int64_t *id_r)
{
	static const char sql[] =
		"INSERT INTO sites(org_id, name) SELECT id, ?1 FROM orgs ORDER BY id LIMIT 1";
	sqlite3_stmt *st = store_stmt(store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
	if (step_done(st) < 0 || sqlite3_changes(store->db) != 1)
		return -1;
	*id_r = sqlite3_last_insert_rowid(store->db);
	return 0;
}

/* One integer looked up by one text key: 1 found (id_r may be NULL), 0 not, -1 error. */
static int single_id(store_t *store, const char *sql, const char *key, int64_t *id_r)
{
	sqlite3_stmt *st = store_stmt(store, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && id_r != NULL)
		*id_r = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_site_find(store_t *store, const char *site, int64_t *id_r)
{
	return single_id(store, "SELECT id FROM sites WHERE name = ?1", site, id_r);
}

int store_site_name(store_t *store, int64_t site_id, char **name_r)
{
	return single_text(store, "SELECT name FROM sites WHERE id = ?1", site_id, name_r);
}

int store_domain_add(store_t *store, const char *domain, int64_t site_id)
{
	sqlite3_stmt *st = store_stmt(store, "INSERT INTO domains(name, site_id) VALUES(?1, ?2)");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, site_id);
	return step_done(st);
}

int store_domain_site(store_t *store, const char *domain, int64_t *site_r)
{
	return single_id(store, "SELECT site_id FROM domains WHERE name = ?1", domain, site_r);
}

int store_domain_is_local(store_t *store, const char *domain)
{
	return store_domain_site(store, domain, NULL);
}

int store_domain_first(store_t *store, char **domain_r, int64_t *site_r)
{
	sqlite3_stmt *st = store_stmt(store, "SELECT name, site_id FROM domains ORDER BY rowid LIMIT 1");
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*domain_r = store_column_dup(st, 0);
		*site_r = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_site_foreach(store_t *store, void (*cb)(const char *site, void *arg), void *arg)
{
	sqlite3_stmt *st = store_stmt(store, "SELECT name FROM sites ORDER BY id");
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb((const char *)sqlite3_column_text(st, 0), arg);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_domain_foreach(store_t *store, void (*cb)(const char *domain, const char *site, void *arg),
			 void *arg)
{
	static const char sql[] =
		"SELECT d.name, s.name FROM domains d JOIN sites s ON s.id = d.site_id ORDER BY d.rowid";

	return store_foreach_pair(store, sql, cb, arg);
}

void store_recipient_clear(struct store_recipient *r)
{
	x_free(&r->guid);
	x_free(&r->cn);
	x_free(&r->local_part);
	x_free(&r->domain);
	x_free(&r->display_name);
	x_free(&r->role);
	x_free(&r->password_hash);
	x_free(&r->target);
}

static int mailboxes_create(store_t *store, int64_t owner_id)
{
	static const char sql[] =
		"INSERT INTO mailboxes(owner_id, name, special_use, uidvalidity) VALUES(?1, ?2, ?3, ?4)";
	int64_t uidvalidity = (int64_t)time(NULL);

	for (size_t i = 0; i < sizeof(special_mailboxes) / sizeof(special_mailboxes[0]); i++) {
		sqlite3_stmt *st = store_stmt(store, sql);
		if (st == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, owner_id);
		sqlite3_bind_text(st, 2, special_mailboxes[i][0], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, special_mailboxes[i][1], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, uidvalidity);
		if (step_done(st) < 0)
			return -1;
	}
	return 0;
}

int store_recipient_add(store_t *store, struct store_recipient *r, char **err_r)
{
	static const char sql[] =
		"INSERT INTO recipients(guid, kind, site_id, cn, local_part, domain, display_name,"
		" hidden, role, password_hash, target, created_at)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
	sqlite3_stmt *st = store_stmt(store, sql);
	char guid[33];

	if (st == NULL)
		goto fail;
	id_random_hex(guid, 16);
	sqlite3_bind_text(st, 1, guid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind_names[r->kind], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r->site_id);
	sqlite3_bind_text(st, 4, r->cn, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->local_part, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, r->display_name ? r->display_name : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, r->hidden);
	sqlite3_bind_text(st, 9, r->role ? r->role : "user", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, r->password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, r->target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, (int64_t)time(NULL));
	if (step_done(st) < 0)
		goto fail;
	r->id = sqlite3_last_insert_rowid(store->db);
	free(r->guid);
	r->guid = xstrdup(guid);
	if (r->kind == STORE_RCPT_USER && mailboxes_create(store, r->id) < 0)
		goto fail;
	return 0;
fail:
	*err_r = sqlite3_extended_errcode(store->db) == SQLITE_CONSTRAINT_UNIQUE
		? xstrdup("that address or name is already taken")
		: xasprintf("database error: %s", sqlite3_errmsg(store->db));
	return -1;
}

#define RECIPIENT_COLUMNS \
	"SELECT id, guid, kind, site_id, cn, local_part, domain, display_name, hidden, role," \
	" password_hash, target, quota FROM recipients "

static void recipient_from_row(sqlite3_stmt *st, struct store_recipient *r)
{
	const char *kind = (const char *)sqlite3_column_text(st, 2);

	r->id = sqlite3_column_int64(st, 0);
	r->guid = store_column_dup(st, 1);
	r->kind = strcmp(kind, "alias") == 0 ? STORE_RCPT_ALIAS
		: strcmp(kind, "group") == 0 ? STORE_RCPT_GROUP : STORE_RCPT_USER;
	r->site_id = sqlite3_column_int64(st, 3);
	r->cn = store_column_dup(st, 4);
	r->local_part = store_column_dup(st, 5);
	r->domain = store_column_dup(st, 6);
	r->display_name = store_column_dup(st, 7);
	r->hidden = sqlite3_column_int(st, 8) != 0;
	r->role = store_column_dup(st, 9);
	r->password_hash = store_column_dup(st, 10);
	r->target = store_column_dup(st, 11);
	r->quota = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 12);
}

/* Steps a bound statement; fills r from the first row. Returns 1, 0 or -1. */
static int recipient_fetch_one(sqlite3_stmt *st, struct store_recipient *r)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		recipient_from_row(st, r);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_recipient_by_address(store_t *store, const char *local_part, const char *domain,
			       struct store_recipient *r)
{
	static const char sql[] = RECIPIENT_COLUMNS "WHERE local_part = ?1 AND domain = ?2";
	sqlite3_stmt *st = store_stmt(store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, local_part, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, domain, -1, SQLITE_STATIC);
	return recipient_fetch_one(st, r);
}

int store_recipient_by_cn(store_t *store, int64_t site_id, const char *cn,
			  struct store_recipient *r)
{
	static const char sql[] = RECIPIENT_COLUMNS "WHERE site_id = ?1 AND cn = ?2";
	sqlite3_stmt *st = store_stmt(store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, site_id);
	sqlite3_bind_text(st, 2, cn, -1, SQLITE_STATIC);
	return recipient_fetch_one(st, r);
}

int store_recipient_by_id(store_t *store, int64_t id, struct store_recipient *r)
{
	static const char sql[] = RECIPIENT_COLUMNS "WHERE id = ?1";
	sqlite3_stmt *st = store_stmt(store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return recipient_fetch_one(st, r);
}

int store_recipient_foreach(store_t *store, store_recipient_cb *cb, void *arg)
{
	static const char sql[] = RECIPIENT_COLUMNS "ORDER BY domain, local_part";
	sqlite3_stmt *st = store_stmt(store, sql);
	struct store_recipient r;
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		recipient_from_row(st, &r);
		cb(&r, arg);
		store_recipient_clear(&r);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Removes a recipient with its mailboxes; message rows nobody else needs go too. */
int store_recipient_remove(store_t *store, int64_t id)
{
	static const char unlink_sql[] =
		"DELETE FROM mailbox_messages WHERE mailbox_id IN"
		" (SELECT id FROM mailboxes WHERE owner_id = ?1)";
	static const char orphan_sql[] =
		"DELETE FROM messages WHERE NOT EXISTS(SELECT 1 FROM mailbox_messages mm"
		" WHERE mm.message_id = messages.id) AND NOT EXISTS(SELECT 1 FROM queue q"
		" WHERE q.message_id = messages.id)";
	static const char delete_sql[] = "DELETE FROM recipients WHERE id = ?1";
	sqlite3_stmt *st;

	if ((st = store_stmt(store, unlink_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (step_done(st) < 0 || step_done(store_stmt(store, orphan_sql)) < 0)
		return -1;
	if ((st = store_stmt(store, delete_sql)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return step_done(st) == 0 && sqlite3_changes(store->db) == 1 ? 0 : -1;
}

int store_recipient_set_password(store_t *store, int64_t id, const char *hash)
{
	sqlite3_stmt *st = store_stmt(store, "UPDATE recipients SET password_hash = ?2 WHERE id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	return step_done(st) == 0 && sqlite3_changes(store->db) == 1 ? 0 : -1;
}

int store_recipient_set_quota(store_t *store, int64_t id, int64_t quota)
{
	sqlite3_stmt *st = store_stmt(store, "UPDATE recipients SET quota = ?2 WHERE id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (quota < 0)
		sqlite3_bind_null(st, 2);
	else
		sqlite3_bind_int64(st, 2, quota);
	return step_done(st) == 0 && sqlite3_changes(store->db) == 1 ? 0 : -1;
}

int store_user_usage(store_t *store, int64_t owner_id, int64_t *octets_r, int64_t *messages_r)
{
	static const char sql[] =
		"SELECT used_octets, used_messages FROM recipients WHERE id = ?1";
	sqlite3_stmt *st = store_stmt(store, sql);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, owner_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*octets_r = sqlite3_column_int64(st, 0);
		*messages_r = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int store_group_add_member(store_t *store, int64_t group_id, const char *address)
{
	static const char sql[] =
		"INSERT OR IGNORE INTO group_members(group_id, address) VALUES(?1, ?2)";
	sqlite3_stmt *st = store_stmt(store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
	return step_done(st);
}

int store_group_members(store_t *store, int64_t group_id,
			void (*cb)(const char *address, void *arg), void *arg)
{
	static const char sql[] =
		"SELECT address FROM group_members WHERE group_id = ?1 ORDER BY address";
	sqlite3_stmt *st = store_stmt(store, sql);
	char **addrs = NULL;
	size_t n = 0;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, group_id);
	/* Collect first: cb may recurse into the store and reuse this statement. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		addrs = xrealloc(addrs, (n + 1) * sizeof(*addrs));
		addrs[n++] = store_column_dup(st, 0);
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		if (rc == SQLITE_DONE)
			cb(addrs[i], arg);
		free(addrs[i]);
	}
	free(addrs);
	return rc == SQLITE_DONE ? 0 : -1;
}
