/* pop3_parse: command verbs and message numbers; pure functions over one line. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pop3.h"

static const char *const verb_names[POP3_CMD_COUNT] = {
	[POP3_CMD_CAPA] = "CAPA", [POP3_CMD_USER] = "USER", [POP3_CMD_PASS] = "PASS",
	[POP3_CMD_AUTH] = "AUTH", [POP3_CMD_STLS] = "STLS", [POP3_CMD_STAT] = "STAT",
	[POP3_CMD_LIST] = "LIST", [POP3_CMD_UIDL] = "UIDL", [POP3_CMD_RETR] = "RETR",
	[POP3_CMD_TOP] = "TOP", [POP3_CMD_DELE] = "DELE", [POP3_CMD_NOOP] = "NOOP",
	[POP3_CMD_RSET] = "RSET", [POP3_CMD_QUIT] = "QUIT",
};

enum pop3_verb pop3_parse_verb(const char *line, const char **args_r)
{
	return (enum pop3_verb)verb_lookup(line, verb_names, POP3_CMD_COUNT, args_r);
}

int pop3_parse_number(const char *text, unsigned long min, unsigned long max,
		      unsigned long *n_r, const char **rest_r)
{
	unsigned long n = 0;
	const char *p = text;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned long d = (unsigned long)(*p - '0');
		if (d > max || n > (max - d) / 10)
			return -1; /* larger than max, so no overflow is possible */
		n = n * 10 + d;
	}
	if (n < min)
		return -1;
	if (*p == ' ' && rest_r != NULL)
		*rest_r = p + 1;
	else if (*p != '\0')
		return -1;
	else if (rest_r != NULL)
		*rest_r = p;
	*n_r = n;
	return 0;
}
