/* imap_mutf7: mailbox names between UTF-8 (IMAP4rev2, URLs) and the modified
 * UTF-7 of RFC 3501 5.1.3 in which they are stored, through iconv's UTF-7-IMAP. */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"

#define NAME_MAX_OCTETS 1024

static char *convert(const char *to, const char *from, const char *text)
{
	iconv_t cd = iconv_open(to, from);
	char out[4 * NAME_MAX_OCTETS + 8], *in = (char *)text, *o = out;
	size_t in_left = strlen(text), out_left = sizeof(out) - 1;
	bool ok;

	if (cd == (iconv_t)-1 || in_left > NAME_MAX_OCTETS)
		return cd == (iconv_t)-1 ? NULL : (iconv_close(cd), NULL);
	ok = iconv(cd, &in, &in_left, &o, &out_left) != (size_t)-1 &&
	     iconv(cd, NULL, NULL, &o, &out_left) != (size_t)-1; /* closes an open shift */
	iconv_close(cd);
	if (!ok || memchr(out, '\0', (size_t)(o - out)) != NULL)
		return NULL;
	*o = '\0';
	return xstrdup(out);
}

char *imap_utf8_to_mutf7(const char *utf8)
{
	return convert("UTF-7-IMAP", "UTF-8", utf8);
}

/* Only the one spelling RFC 3501 allows: what converts back to the same bytes
 * (no open shift, no needless base64, padding bits zero). */
char *imap_mutf7_to_utf8(const char *mutf7)
{
	char *utf8 = convert("UTF-8", "UTF-7-IMAP", mutf7), *again;
	bool canonical;

	if (utf8 == NULL)
		return NULL;
	again = imap_utf8_to_mutf7(utf8);
	canonical = again != NULL && strcmp(again, mutf7) == 0;
	free(again);
	if (!canonical)
		x_free(&utf8);
	return utf8;
}
