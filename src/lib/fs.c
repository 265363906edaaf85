/* fs: file helpers that keep the durability rules: atomic replace with fsync of
 * file and directory, full writes, recursive mkdir. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib.h"

int fs_write_full(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	close(fd);
	return ret;
}

int fs_write_atomic(const char *path, const void *data, size_t len, int mode)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	char *dircopy = xstrdup(path);
	int fd, ret = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto out;
	if (fs_write_full(fd, data, len) < 0 || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		goto out;
	}
	ret = fs_fsync_dir(dirname(dircopy));
out:
	free(tmp);
	free(dircopy);
	return ret;
}

int fs_read_all(const char *path, str_t *out)
{
	char buf[8192];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		str_append(out, buf, (size_t)n);
	}
	close(fd);
	if (out->data == NULL)
		str_append(out, "", 0);
	return 0;
}

int fs_mkdir_p(const char *path, int mode)
{
	char *copy = xstrdup(path);

	for (char *p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST) {
			free(copy);
			return -1;
		}
		*p = '/';
	}
	free(copy);
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

bool fs_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}
