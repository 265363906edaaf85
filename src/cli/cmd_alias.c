/* cmd_alias: `sealpost alias add|list|show|remove`. An alias is a local address
 * that forwards to one TARGET address (local or remote; a DN is taken too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
	"usage: sealpost alias add ALIAS TARGET\n"
	"       sealpost alias list\n"
	"       sealpost alias show|remove ALIAS\n"
	"Every form takes --data DIR. TARGET may be an address or a DN.\n";

static int alias_add(store_t *store, const char *alias, const char *target)
{
	struct store_recipient r = { .kind = STORE_RCPT_ALIAS };
	int rc;

	r.target = cli_address_of(store, target);
	if (r.target == NULL)
		return cli_error("'%s' is not an address or a known DN", target);
	rc = cli_recipient_create(store, alias, &r);
	if (rc == 0)
		printf("added alias %s@%s -> %s\n", r.local_part, r.domain, r.target);
	store_recipient_clear(&r);
	return rc;
}

static int alias_verb(store_t *store, const struct cli_recipient_options *o)
{
	if (strcmp(o->verb, "add") == 0 && o->target && o->second)
		return alias_add(store, o->target, o->second);
	return -2;
}

int cmd_alias(int argc, char **argv)
{
	return cli_recipient_command(argc, argv, usage_text, STORE_RCPT_ALIAS, alias_verb);
}
