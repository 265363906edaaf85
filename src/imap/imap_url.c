/* imap_url: IMAP URLs that name one message or part (RFC 5092), with the URLAUTH
 * parts of RFC 4467: "imap://user@host/Mailbox;UIDVALIDITY=n/;UID=n/;SECTION=s
 * /;PARTIAL=o.l;EXPIRE=t;URLAUTH=access:mech:token", or the same path after "/"
 * alone (relative to this server). A pure parser: no I/O. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap.h"

#define URL_MAX 4096

/* Characters a URL may carry as they are (RFC 3986 unreserved, sub-delims,
 * ':', '@', '/'); anything else must be %-encoded. */
static bool url_char(unsigned char c)
{
	return isalnum(c) || strchr("-._~!$&'()*+,;=:@/%", c) != NULL;
}

/* %-decodes text[0..len) into a new string; NULL if malformed or it hides a NUL. */
static char *decode(const char *text, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (text[i] != '%') {
			*o++ = text[i];
			continue;
		}
		if (i + 2 >= len || !isxdigit((unsigned char)text[i + 1]) || !isxdigit((unsigned char)text[i + 2]))
			goto bad;
		char hex[3] = { text[i + 1], text[i + 2], '\0' };
		*o = (char)strtol(hex, NULL, 16);
		if (*o++ == '\0')
			goto bad;
		i += 2;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* First case-insensitive occurrence of needle in text[0..len), or NULL. */
static const char *find_ci(const char *text, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(text + i, needle, n) == 0)
			return text + i;
	return NULL;
}

/* A whole decimal number from 1 to UINT32_MAX in text[0..len). */
static bool parse_nz32(const char *text, size_t len, uint32_t *n_r)
{
	uint64_t n = 0;

	if (len == 0 || len > 10 || text[0] == '0')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)text[i]))
			return false;
		n = n * 10 + (uint64_t)(text[i] - '0');
	}
	if (n > UINT32_MAX)
		return false;
	*n_r = (uint32_t)n;
	return true;
}

/* RFC 3339 date-time: "2026-11-29T10:00:00Z", "...T10:00:00.5+01:00". */
static int64_t parse_expire(const char *text, size_t len)
{
	char buf[64], *p;
	struct tm tm = { 0 };
	int64_t t;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if ((p = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	t = (int64_t)timegm(&tm);
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return t;
	if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
	    p[3] == ':' && isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) && p[6] == '\0') {
		int64_t off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		return *p == '+' ? t - off : t + off;
	}
	return -1;
}

/* ";URLAUTH=access[:mechanism:token]"; text starts after "=". */
static int parse_urlauth(const char *text, size_t len, struct imap_url *url)
{
	const char *colon = memchr(text, ':', len), *colon2;
	size_t alen = colon ? (size_t)(colon - text) : len;

	url->access = xstrndup(text, alen);
	if (strcasecmp(url->access, "anonymous") == 0) {
		url->access_kind = IMAP_URL_ANONYMOUS;
	} else if (strcasecmp(url->access, "authuser") == 0) {
		url->access_kind = IMAP_URL_AUTHUSER;
	} else if (strncasecmp(url->access, "user+", 5) == 0 || strncasecmp(url->access, "submit+", 7) == 0) {
		bool submit = tolower((unsigned char)url->access[0]) == 's';
		url->access_kind = submit ? IMAP_URL_SUBMIT : IMAP_URL_USER;
		url->access_user = decode(url->access + (submit ? 7 : 5), alen - (submit ? 7 : 5));
		if (url->access_user == NULL || url->access_user[0] == '\0')
			return -1;
	} else {
		return -1;
	}
	if (colon == NULL)
		return 0;
	colon2 = memchr(colon + 1, ':', len - alen - 1);
	if (colon2 == NULL || colon2 == colon + 1)
		return -1;
	url->mechanism = xstrndup(colon + 1, (size_t)(colon2 - colon - 1));
	url->token = xstrndup(colon2 + 1, len - (size_t)(colon2 + 1 - text));
	if (strlen(url->token) < 32)
		return -1;
	for (const char *t = url->token; *t; t++)
		if (!isxdigit((unsigned char)*t))
			return -1;
	return 0;
}

/* "/;SECTION=s" and "/;PARTIAL=o[.l]" after the UID. */
static int parse_part(const char *p, const char *end, struct imap_url *url)
{
	const char *partial = find_ci(p, (size_t)(end - p), "/;PARTIAL=");

	if (strncasecmp(p, "/;SECTION=", 10) == 0) {
		const char *stop = partial ? partial : end;
		if ((url->section = decode(p + 10, (size_t)(stop - p - 10))) == NULL || url->section[0] == '\0')
			return -1;
		p = stop;
	}
	if (p == end)
		return 0;
	if (p != partial)
		return -1;
	p += 10;
	char buf[48], *dot, *e;
	if ((size_t)(end - p) >= sizeof(buf) || p == end || !isdigit((unsigned char)*p))
		return -1;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	url->partial = true;
	url->partial_off = strtoull(buf, &e, 10);
	url->partial_len = UINT64_MAX;
	if ((dot = e)[0] == '.') {
		url->partial_len = strtoull(dot + 1, &e, 10);
		if (!isdigit((unsigned char)dot[1]) || url->partial_len == 0)
			return -1;
	}
	return *e == '\0' ? 0 : -1;
}

/* mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=p] in path[0..len). */
static int parse_message_path(const char *path, size_t len, struct imap_url *url)
{
	const char *end = path + len, *uid = find_ci(path, len, "/;UID="), *p, *validity;
	size_t box_len;

	if (uid == NULL)
		return -1;
	box_len = (size_t)(uid - path);
	validity = find_ci(path, box_len, ";UIDVALIDITY=");
	if (validity != NULL) {
		if (!parse_nz32(validity + 13, (size_t)(uid - validity - 13), &url->uidvalidity))
			return -1;
		box_len = (size_t)(validity - path);
	}
	if (box_len == 0 || (url->mailbox = decode(path, box_len)) == NULL)
		return -1;
	for (p = uid + 6; p < end && isdigit((unsigned char)*p); p++)
		;
	if (!parse_nz32(uid + 6, (size_t)(p - uid - 6), &url->uid))
		return -1;
	return parse_part(p, end, url);
}

int imap_url_parse(const char *text, struct imap_url *url)
{
	size_t len = strlen(text);
	const char *path, *auth, *expire, *end;

	memset(url, 0, sizeof(*url));
	url->expire = -1;
	if (len == 0 || len > URL_MAX)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!url_char((unsigned char)text[i]))
			return -1;
	if (strncasecmp(text, "imap://", 7) == 0) {
		const char *host = text + 7, *slash = strchr(host, '/'), *at;
		if (slash == NULL)
			return -1;
		at = memrchr(host, '@', (size_t)(slash - host));
		if (at != NULL) {
			const char *semi = find_ci(host, (size_t)(at - host), ";AUTH=");
			url->user = decode(host, (size_t)((semi ? semi : at) - host));
			if (url->user == NULL || url->user[0] == '\0')
				goto bad;
		}
		path = slash + 1;
	} else if (text[0] == '/') {
		path = text + 1;
	} else {
		return -1;
	}
	end = text + len;
	auth = find_ci(path, (size_t)(end - path), ";URLAUTH=");
	expire = find_ci(path, (size_t)((auth ? auth : end) - path), ";EXPIRE=");
	if (auth != NULL) {
		if (parse_urlauth(auth + 9, (size_t)(end - auth - 9), url) < 0)
			goto bad;
		url->rump_len = (size_t)(auth + 9 - text) + strlen(url->access);
	}
	if (expire != NULL && (url->expire = parse_expire(expire + 8, (size_t)((auth ? auth : end) - expire - 8))) < 0)
		goto bad;
	if (parse_message_path(path, (size_t)((expire ? expire : auth ? auth : end) - path), url) < 0)
		goto bad;
	return 0;
bad:
	imap_url_free(url);
	return -1;
}

void imap_url_free(struct imap_url *url)
{
	free(url->user);
	free(url->mailbox);
	free(url->section);
	free(url->access);
	free(url->access_user);
	free(url->mechanism);
	free(url->token);
	memset(url, 0, sizeof(*url));
	url->expire = -1;
}
