/* fuzz_smtp: every SMTP parser of client input: verbs, paths, mailbox syntax, MAIL
 * parameters, and the DATA decoder fed in chunk sizes taken from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

static void parse_line(const char *line)
{
	const char *args, *bad;
	char *addr = NULL, *params = NULL;
	struct smtp_mail_params p;

	smtp_parse_verb(line, &args);
	if (smtp_parse_path(args, "FROM", true, &addr, &params) == SMTP_PATH_OK) {
		smtp_parse_mail_params(params, &p, &bad);
		free(addr);
		free(params);
	}
	smtp_mailbox_valid(line, line[0] & 1);
}

static void decode_data(const uint8_t *data, size_t size)
{
	str_t out;
	struct smtp_data d;
	size_t pos = 0;
	bool done = false;

	str_init(&out);
	smtp_data_init(&d, &out, 4096);
	while (pos < size && !done) {
		size_t chunk = 1 + data[pos] % 17;
		if (chunk > size - pos)
			chunk = size - pos;
		pos += smtp_data_feed(&d, (const char *)data + pos, chunk, &done);
	}
	if (out.len > 4096)
		abort();
	str_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = xstrndup((const char *)data, size);

	parse_line(line);
	free(line);
	decode_data(data, size);
	return 0;
}
