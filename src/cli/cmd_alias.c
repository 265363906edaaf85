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

int cmd_alias(int argc, char **argv)
{
	struct cli_recipient_options o = { 0 };
	store_t *store;
	int rc;

	if (cli_wants_help(argc, argv))
		return fputs(usage_text, stdout), 0;
	if (cli_recipient_parse(argc, argv, &o) < 0)
		return fputs(usage_text, stderr), 2;
	if ((store = cli_open_store(cli_data_dir(o.data))) == NULL)
		return 1;
	if (strcmp(o.verb, "add") == 0 && o.target && o.second)
		rc = alias_add(store, o.target, o.second);
	else if (strcmp(o.verb, "list") == 0 && !o.target)
		rc = cli_recipient_list(store, STORE_RCPT_ALIAS);
	else if (strcmp(o.verb, "show") == 0 && o.target && !o.second)
		rc = cli_recipient_show(store, o.target, STORE_RCPT_ALIAS);
	else if (strcmp(o.verb, "remove") == 0 && o.target && !o.second)
		rc = cli_recipient_remove(store, o.target, STORE_RCPT_ALIAS);
	else
		rc = (fputs(usage_text, stderr), 2);
	store_close(&store);
	cli_recipient_options_free(&o);
	return rc;
}
