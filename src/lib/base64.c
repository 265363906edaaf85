/* base64: strict decoding and encoding through OpenSSL's EVP_*Block, and the
 * SASL PLAIN message split shared by SMTP and POP3 AUTH. */
#include <openssl/evp.h>
#include <string.h>

#include "lib.h"

int base64_decode(const char *in, size_t len, str_t *out)
{
	size_t pad = 0;
	int n;

	str_clear(out);
	if (len % 4 != 0 || len > (1u << 20))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '+' || c == '/' || (c == '=' && i >= len - 2);
		if (!ok || (pad > 0 && c != '='))
			return -1;
		if (c == '=')
			pad++;
	}
	str_reserve(out, len / 4 * 3 + 1);
	n = EVP_DecodeBlock((unsigned char *)out->data, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	out->len = (size_t)n - pad; /* DecodeBlock counts the padding as zero octets */
	out->data[out->len] = '\0';
	return 0;
}

void base64_encode(const void *in, size_t len, str_t *out)
{
	size_t need = 4 * ((len + 2) / 3);

	str_reserve(out, need + 1);
	EVP_EncodeBlock((unsigned char *)out->data + out->len, in, (int)len);
	out->len += need;
	out->data[out->len] = '\0';
}

int sasl_plain_split(const str_t *decoded, const char **authcid_r, const char **passwd_r)
{
	const char *authzid = decoded->data, *end = decoded->data + decoded->len;
	const char *authcid, *passwd;

	if (decoded->len == 0)
		return -1;
	authcid = memchr(authzid, '\0', decoded->len);
	if (authcid == NULL || ++authcid >= end)
		return -1;
	passwd = memchr(authcid, '\0', (size_t)(end - authcid));
	if (passwd == NULL || ++passwd > end)
		return -1;
	/* No embedded NUL in the password, and nothing after it. */
	if (memchr(passwd, '\0', (size_t)(end - passwd)) != NULL || *authcid == '\0')
		return -1;
	if (*authzid != '\0' && strcmp(authzid, authcid) != 0)
		return -1;
	*authcid_r = authcid;
	*passwd_r = passwd;
	return 0;
}
