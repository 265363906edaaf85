/* ids: random hex identifiers and the clock formats mail needs. */
#include <openssl/rand.h>
#include <stdio.h>
#include <time.h>

#include "lib.h"

void id_random_hex(char *buf, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];

	if (nbytes > sizeof(raw))
		fatal("id_random_hex: %zu bytes is too many", nbytes);
	if (RAND_bytes(raw, (int)nbytes) != 1)
		fatal("RAND_bytes failed");
	for (size_t i = 0; i < nbytes; i++) {
		buf[2 * i] = hex[raw[i] >> 4];
		buf[2 * i + 1] = hex[raw[i] & 15];
	}
	buf[2 * nbytes] = '\0';
}

void time_rfc5322(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
