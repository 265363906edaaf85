/* fuzz_auth: what AUTH and a login hand us: base64, the SASL PLAIN split, and
 * addresses and DNs as the directory parses them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "directory/directory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	char *a = NULL, *b = NULL, *c = NULL;
	const char *user, *pass;
	str_t decoded;

	str_init(&decoded);
	if (base64_decode(text, strlen(text), &decoded) == 0)
		sasl_plain_split(&decoded, &user, &pass);
	str_free(&decoded);
	if (directory_address_split(text, &a, &b) == 0) {
		free(a);
		free(b);
	}
	if (directory_dn_parse(text, &a, &b, &c) == 0) {
		free(a);
		free(b);
		free(c);
	}
	free(text);
	return 0;
}
