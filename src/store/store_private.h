/* store_private: what the store's own files share; nothing outside store/ includes it. */
#ifndef SEALPOST_STORE_PRIVATE_H
#define SEALPOST_STORE_PRIVATE_H

#include <sqlite3.h>

#include "store.h"

#define STORE_STMT_CACHE 64
#define STORE_SEGMENT_MAX (1LL << 30) /* a new segment starts past 1 GiB */

struct stmt_slot {
	const char *sql; /* identity is the address of a static SQL string */
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	char *datadir;
	char *blobdir;
	struct stmt_slot stmts[STORE_STMT_CACHE];
	int *segment_fds; /* read-only fds, indexed by segment id; -1 = not open */
	size_t segment_fd_count;
};

/* The writer's view of the active segment, used by store_tx_* on its thread. */
struct store_tx {
	store_t *store;
	int segment_fd;
	int64_t segment_id;
	int64_t segment_len; /* bytes written, synced or not */
	bool segment_dirty;  /* appended since the last fdatasync */
};

/* Returns a reset, cached prepared statement for a static SQL string; NULL on error. */
sqlite3_stmt *store_stmt(store_t *store, const char *sql);
int store_exec(store_t *store, const char *sql);
/* Opens the database without the writer's pragmas; used by store_open and the writer. */
int store_open_db(const char *datadir, bool writer, store_t **store_r, char **err_r);
int store_migrate(store_t *store, char **err_r);
char *store_column_dup(sqlite3_stmt *st, int col);
/* Calls cb with the two text columns of every row of a static query. */
int store_foreach_pair(store_t *store, const char *sql, void (*cb)(const char *a, const char *b, void *arg),
		       void *arg);
/* Drops a message row nobody refers to any more (store_mail.c). */
int store_message_release(store_tx_t *tx, int64_t message_id);

/* Segments. */
int store_segment_open_active(store_tx_t *tx);
int store_segment_append(store_tx_t *tx, const void *data, size_t len, int64_t *offset_r);
int store_segment_sync(store_tx_t *tx);
int store_segment_fd(store_t *store, int64_t segment_id);

#endif
