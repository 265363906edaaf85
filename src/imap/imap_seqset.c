/* imap_seqset: sequence sets (RFC 3501 sequence-set), for message numbers and UIDs. */
#include <stdlib.h>
#include <string.h>

#include "imap.h"

/* One number or "*"; returns the characters used, 0 if none. */
static size_t seq_number(const char *s, uint32_t star, uint32_t *n_r)
{
	uint64_t n = 0;
	size_t i = 0;

	if (s[0] == '*') {
		*n_r = star;
		return 1;
	}
	if (s[0] < '1' || s[0] > '9')
		return 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		n = n * 10 + (uint64_t)(s[i] - '0');
		if (n > UINT32_MAX)
			return 0;
	}
	*n_r = (uint32_t)n;
	return i;
}

int imap_seqset_parse(const char *text, uint32_t star, struct imap_seqset *set)
{
	const char *p = text;

	memset(set, 0, sizeof(*set));
	for (;;) {
		uint32_t lo, hi;
		size_t used = seq_number(p, star, &lo);
		if (used == 0)
			goto fail;
		p += used;
		hi = lo;
		if (*p == ':') {
			if ((used = seq_number(p + 1, star, &hi)) == 0)
				goto fail;
			p += used + 1;
		}
		set->ranges = xrealloc(set->ranges, (set->count + 1) * sizeof(*set->ranges));
		set->ranges[set->count].lo = lo < hi ? lo : hi;
		set->ranges[set->count].hi = lo < hi ? hi : lo;
		set->count++;
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			goto fail;
	}
fail:
	imap_seqset_free(set);
	return -1;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	for (size_t i = 0; i < set->count; i++)
		if (n >= set->ranges[i].lo && n <= set->ranges[i].hi)
			return true;
	return false;
}

void imap_seqset_free(struct imap_seqset *set)
{
	x_free(&set->ranges);
	set->count = 0;
}

void imap_seqset_format(const uint32_t *numbers, size_t count, str_t *out)
{
	for (size_t i = 0; i < count;) {
		size_t k = i;
		while (k + 1 < count && numbers[k + 1] == numbers[k] + 1)
			k++;
		str_appendf(out, i ? ",%u" : "%u", numbers[i]);
		if (k > i)
			str_appendf(out, ":%u", numbers[k]);
		i = k + 1;
	}
}
