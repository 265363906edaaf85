/* fuzz_pop3: POP3 command verbs and message-number parsing. */
#include <stdint.h>
#include <stdlib.h>

#include "pop3/pop3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = xstrndup((const char *)data, size);
	const char *args, *rest;
	unsigned long n;

	pop3_parse_verb(line, &args);
	if (pop3_parse_number(args, 1, 1000, &n, &rest) == 0 && (n < 1 || n > 1000))
		abort();
	pop3_parse_number(args, 0, ~0UL, &n, NULL);
	free(line);
	return 0;
}
