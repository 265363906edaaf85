/* smtp_parse: command verbs, paths, mailbox syntax and MAIL parameters.
 * Pure functions over one line; every check here is a hostile-input check. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp.h"

static const char *const verb_names[SMTP_CMD_COUNT] = {
	[SMTP_CMD_HELO] = "HELO", [SMTP_CMD_EHLO] = "EHLO", [SMTP_CMD_MAIL] = "MAIL",
	[SMTP_CMD_RCPT] = "RCPT", [SMTP_CMD_DATA] = "DATA", [SMTP_CMD_RSET] = "RSET",
	[SMTP_CMD_NOOP] = "NOOP", [SMTP_CMD_QUIT] = "QUIT", [SMTP_CMD_VRFY] = "VRFY",
	[SMTP_CMD_EXPN] = "EXPN", [SMTP_CMD_HELP] = "HELP", [SMTP_CMD_STARTTLS] = "STARTTLS",
	[SMTP_CMD_AUTH] = "AUTH",
};

enum smtp_verb smtp_parse_verb(const char *line, const char **args_r)
{
	return (enum smtp_verb)verb_lookup(line, verb_names, SMTP_CMD_COUNT, args_r);
}

static bool is_atext(unsigned char c, bool utf8)
{
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL || (utf8 && c >= 0x80);
}

/* Dot-string or Quoted-string; returns the length consumed, 0 if invalid. */
static size_t local_part_len(const char *s, bool utf8)
{
	size_t i = 0;

	if (s[0] == '"') {
		for (i = 1; s[i] != '"'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '\\') {
				if (s[++i] < 0x20 || s[i] == 0x7f)
					return 0;
			} else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
				return 0;
			}
		}
		return i + 1;
	}
	for (;;) {
		size_t start = i;
		while (s[i] != '\0' && is_atext((unsigned char)s[i], utf8))
			i++;
		if (i == start)
			return 0; /* empty atom: leading, trailing or double dot */
		if (s[i] != '.')
			return i;
		i++;
	}
}

static bool domain_valid(const char *d, bool utf8)
{
	size_t len = strlen(d);

	if (len == 0 || len > 253)
		return false;
	if (d[0] == '[') {
		if (d[len - 1] != ']' || len < 3)
			return false;
		for (size_t i = 1; i < len - 1; i++)
			if (d[i] < 0x21 || d[i] > 0x7e || d[i] == '[' || d[i] == ']' || d[i] == '\\')
				return false;
		return true;
	}
	for (const char *label = d;;) {
		size_t n = 0;
		while (isalnum((unsigned char)label[n]) || label[n] == '-' ||
		       (utf8 && (unsigned char)label[n] >= 0x80))
			n++;
		if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
			return false;
		if (label[n] == '\0')
			return true;
		if (label[n] != '.')
			return false;
		label += n + 1;
	}
}

bool smtp_mailbox_valid(const char *address, bool utf8)
{
	size_t llen, total = strlen(address);

	if (total == 0 || total > DIRECTORY_PATH_MAX)
		return false;
	llen = local_part_len(address, utf8);
	if (llen == 0 || llen > 64 || address[llen] != '@')
		return false;
	return domain_valid(address + llen + 1, utf8);
}

/* Finds the '>' closing the path, skipping quoted strings. */
static const char *path_end(const char *p)
{
	bool quoted = false;

	for (; *p != '\0'; p++) {
		if (quoted && *p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '>' && !quoted)
			return p;
	}
	return NULL;
}

enum smtp_path_result smtp_parse_path(const char *args, const char *keyword, bool allow_null,
				      char **address_r, char **params_r)
{
	size_t klen = strlen(keyword);
	const char *p = args, *end;
	char *addr;

	if (strncasecmp(p, keyword, klen) != 0 || p[klen] != ':')
		return SMTP_PATH_SYNTAX;
	p += klen + 1;
	while (*p == ' ')
		p++; /* "MAIL FROM: <a@b>" is common enough to accept */
	if (*p++ != '<' || (end = path_end(p)) == NULL)
		return SMTP_PATH_SYNTAX;
	if (end[1] != '\0' && end[1] != ' ')
		return SMTP_PATH_SYNTAX;
	if (*p == '@') { /* source route: "@a,@b:" */
		const char *colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL)
			return SMTP_PATH_BAD_ADDRESS;
		p = colon + 1;
	}
	addr = xstrndup(p, (size_t)(end - p));
	if (!(addr[0] == '\0' && allow_null) && !smtp_mailbox_valid(addr, true)) {
		free(addr);
		return SMTP_PATH_BAD_ADDRESS;
	}
	for (end++; *end == ' '; end++)
		;
	*address_r = addr;
	*params_r = xstrdup(end);
	return SMTP_PATH_OK;
}

int smtp_parse_mail_params(const char *params, struct smtp_mail_params *p, const char **bad_r)
{
	char *copy = xstrdup(params), *save = NULL, *end;
	int rc = 0;

	p->size = -1;
	p->body_8bit = false;
	p->smtputf8 = false;
	for (char *tok = strtok_r(copy, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		if (strncasecmp(tok, "SIZE=", 5) == 0) {
			p->size = strtoll(tok + 5, &end, 10);
			if (*end != '\0' || end == tok + 5 || p->size < 0)
				rc = -1;
		} else if (strcasecmp(tok, "BODY=8BITMIME") == 0) {
			p->body_8bit = true;
		} else if (strcasecmp(tok, "BODY=7BIT") == 0) {
			p->body_8bit = false;
		} else if (strcasecmp(tok, "SMTPUTF8") == 0) {
			p->smtputf8 = true;
		} else if (strncasecmp(tok, "AUTH=", 5) == 0) {
			/* RFC 4954 5: accepted and not trusted; we do not relay identities. */
		} else {
			rc = -1;
		}
		if (rc < 0) {
			*bad_r = params + (tok - copy);
			break;
		}
	}
	free(copy);
	return rc;
}
