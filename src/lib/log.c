/* log: timestamped key=value lines on stderr; fatal() exits. Thread-safe via stdio locks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib.h"

static enum log_level log_threshold = LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

static void log_vline(enum log_level level, const char *fmt, va_list ap, const char *suffix)
{
	char stamp[32];
	struct timespec ts;
	struct tm tm;

	if (level < log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ %s ", stamp, ts.tv_nsec / 1000000, level_names[level]);
	vfprintf(stderr, fmt, ap);
	if (suffix != NULL)
		fprintf(stderr, " error=\"%s\"", suffix);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(level, fmt, ap, NULL);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	char buf[128];
	const char *text;
	va_list ap;
	int saved = errno;

	text = strerror_r(saved, buf, sizeof(buf));
	va_start(ap, fmt);
	log_vline(LOG_WARN, fmt, ap, text);
	va_end(ap);
	errno = saved;
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
