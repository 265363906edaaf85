/* store_segment: append-only segment files holding message bytes.
 * Invariant: bytes up to segments.length are durable and indexed; anything past it
 * is the tail of a batch that never committed, and is cut off when the writer starts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_private.h"

static char *segment_path(store_t *store, int64_t id)
{
	return xasprintf("%s/%08lld.seg", store->blobdir, (long long)id);
}

static int segment_record(store_t *store, int64_t id, int64_t length)
{
	static const char sql[] =
		"INSERT INTO segments(id, length) VALUES(?1, ?2)"
		" ON CONFLICT(id) DO UPDATE SET length = excluded.length";
	sqlite3_stmt *st = store_stmt(store, sql);

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, length);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

static int segment_open_file(store_tx_t *tx, int64_t id, int64_t committed)
{
	char *path = segment_path(tx->store, id);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		log_warn("store: cannot open segment path=%s", path);
		free(path);
		return -1;
	}
	free(path);
	/* Cut off what a crashed batch wrote but never committed. */
	if (ftruncate(fd, committed) < 0 || fsync(fd) < 0) {
		log_warn("store: cannot trim segment id=%lld", (long long)id);
		close(fd);
		return -1;
	}
	tx->segment_fd = fd;
	tx->segment_id = id;
	tx->segment_len = committed;
	tx->segment_dirty = false;
	return 0;
}

int store_segment_open_active(store_tx_t *tx)
{
	sqlite3_stmt *st;
	int64_t id = 1, length = 0;

	if (fs_mkdir_p(tx->store->blobdir, 0700) < 0) {
		log_warn("store: cannot create %s", tx->store->blobdir);
		return -1;
	}
	st = store_stmt(tx->store, "SELECT id, length FROM segments ORDER BY id DESC LIMIT 1");
	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		length = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (segment_open_file(tx, id, length) < 0)
		return -1;
	return fs_fsync_dir(tx->store->blobdir);
}

/* Starts a new segment once the active one is full; called before an append. */
static int segment_rotate_if_full(store_tx_t *tx)
{
	if (tx->segment_len < STORE_SEGMENT_MAX)
		return 0;
	if (store_segment_sync(tx) < 0)
		return -1;
	close(tx->segment_fd);
	tx->segment_fd = -1;
	if (segment_open_file(tx, tx->segment_id + 1, 0) < 0)
		return -1;
	if (fs_fsync_dir(tx->store->blobdir) < 0)
		return -1;
	return segment_record(tx->store, tx->segment_id, 0);
}

int store_segment_append(store_tx_t *tx, const void *data, size_t len, int64_t *offset_r)
{
	const char *p = data;
	size_t done = 0;

	if (segment_rotate_if_full(tx) < 0)
		return -1;
	while (done < len) {
		ssize_t n = pwrite(tx->segment_fd, p + done, len - done, tx->segment_len + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("store: segment write failed id=%lld", (long long)tx->segment_id);
			return -1;
		}
		done += (size_t)n;
	}
	*offset_r = tx->segment_len;
	tx->segment_len += (int64_t)len;
	tx->segment_dirty = true;
	return 0;
}

/* Makes the appended bytes durable and records the new committed length; the
 * caller's COMMIT makes that record durable in turn. */
int store_segment_sync(store_tx_t *tx)
{
	if (!tx->segment_dirty)
		return 0;
	if (fdatasync(tx->segment_fd) < 0) {
		log_warn("store: fdatasync failed id=%lld", (long long)tx->segment_id);
		return -1;
	}
	tx->segment_dirty = false;
	return segment_record(tx->store, tx->segment_id, tx->segment_len);
}

int store_segment_fd(store_t *store, int64_t id)
{
	char *path;
	int fd;

	if (id <= 0 || id > 1000000)
		return -1;
	if ((size_t)id >= store->segment_fd_count) {
		size_t n = (size_t)id + 16;
		store->segment_fds = xrealloc(store->segment_fds, n * sizeof(int));
		for (size_t i = store->segment_fd_count; i < n; i++)
			store->segment_fds[i] = -1;
		store->segment_fd_count = n;
	}
	if (store->segment_fds[id] >= 0)
		return store->segment_fds[id];
	path = segment_path(store, id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		log_warn("store: cannot open segment path=%s", path);
	free(path);
	store->segment_fds[id] = fd;
	return fd;
}
