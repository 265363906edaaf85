/* fuzz_mime: any bytes as a stored message through GMime to ENVELOPE,
 * BODYSTRUCTURE and part ranges. Invariant: every range lies inside the message. */
#include <stdint.h>
#include <stdlib.h>

#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct mime_summary s;

	if (!ready) {
		mime_init();
		ready = 1;
	}
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
