/* fuzz_mime: any bytes as a stored message through GMime to ENVELOPE,
 * BODYSTRUCTURE and part ranges, and through the 7-bit downgrade. Invariants:
 * every range lies inside the message; a downgraded message has no 8-bit octet. */
#include <stdint.h>
#include <stdlib.h>

#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct mime_summary s;
	str_t seven;

	if (!ready) {
		mime_init();
		ready = 1;
	}
	str_init(&seven);
	if (mime_downgrade_7bit((const char *)data, size, &seven) == 0)
		for (size_t i = 0; i < seven.len; i++)
			if ((unsigned char)seven.data[i] >= 0x80)
				abort();
	str_free(&seven);
	if (mime_summarise((const char *)data, size, &s) < 0)
		return 0;
	for (size_t i = 0; i < s.part_count; i++) {
		const struct mime_part *p = &s.parts[i];
		if (p->header_start > p->body_start || p->body_start > p->body_end || p->body_end > size)
			abort();
	}
	mime_summary_free(&s);
	return 0;
}
