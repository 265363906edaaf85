/* store_policy: the administrator's policy against unsolicited mail and relaying:
 * settings that override parameter defaults, and named lists (networks, names,
 * addresses). The CLI writes them; the server reads them as they are now. */
#include <stdlib.h>

#include "store_private.h"

int store_policy_set(store_t *store, const char *name, const char *value)
{
	sqlite3_stmt *st = store_stmt(store, value ? "INSERT OR REPLACE INTO policy_settings(name, value) VALUES(?1, ?2)"
						   : "DELETE FROM policy_settings WHERE name = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (value != NULL)
		sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_policy_settings(store_t *store, void (*cb)(const char *name, const char *value, void *arg), void *arg)
{
	return store_foreach_pair(store, "SELECT name, value FROM policy_settings ORDER BY name", cb, arg);
}

int store_policy_list_change(store_t *store, const char *list, const char *value, bool add)
{
	sqlite3_stmt *st = store_stmt(store, add ? "INSERT OR IGNORE INTO policy_lists(list, value) VALUES(?1, ?2)"
						 : "DELETE FROM policy_lists WHERE list = ?1 AND value = ?2");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, list, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		return -1;
	return sqlite3_changes(store->db) > 0 ? 1 : 0;
}

int store_policy_list_has(store_t *store, const char *list, const char *value)
{
	sqlite3_stmt *st = store_stmt(store, "SELECT 1 FROM policy_lists WHERE list = ?1 AND value = ?2");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, list, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_policy_list(store_t *store, const char *list, void (*cb)(const char *value, void *arg), void *arg)
{
	sqlite3_stmt *st = store_stmt(store, list ? "SELECT list, value FROM policy_lists WHERE list = ?1 ORDER BY value"
						  : "SELECT list, value FROM policy_lists ORDER BY list, value");
	int rc;

	if (st == NULL)
		return -1;
	if (list != NULL)
		sqlite3_bind_text(st, 1, list, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (list != NULL) {
			cb((const char *)sqlite3_column_text(st, 1), arg);
		} else {
			char *both = xasprintf("%s\t%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
			cb(both, arg);
			free(both);
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}
