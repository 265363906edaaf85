/* cmd_group: `sealpost group add|list|show|remove`: distribution lists. `add`
 * creates the list if it is new and adds each --member (address or DN; members
 * may be lists themselves). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "directory/directory.h"

static const char usage_text[] =
	"usage: sealpost group add LIST_ADDRESS --member ADDR [--member ADDR ...] [--name NAME] [--hidden]\n"
	"       sealpost group list\n"
	"       sealpost group show|remove LIST_ADDRESS\n"
	"Every form takes --data DIR. A member may be an address or a DN.\n";

struct group_add {
	const struct cli_recipient_options *o;
	int64_t group_id;
};

static int group_add_in_tx(store_t *store, void *arg)
{
	struct group_add *g = arg;
	struct store_recipient r = { .kind = STORE_RCPT_GROUP };
	int found = directory_resolve(store, g->o->target, &r);

	if (found == 1 && r.kind != STORE_RCPT_GROUP) {
		store_recipient_clear(&r);
		return cli_error("%s exists and is not a list", g->o->target), -1;
	}
	if (found == 0) {
		r.display_name = xstrdup(g->o->name ? g->o->name : "");
		r.hidden = g->o->hidden;
		found = cli_recipient_create(store, g->o->target, &r) == 0 ? 1 : -1;
	}
	g->group_id = r.id;
	store_recipient_clear(&r);
	if (found != 1)
		return -1;
	for (size_t i = 0; i < g->o->member_count; i++) {
		char *address = cli_address_of(store, g->o->members[i]);
		int rc = address ? store_group_add_member(store, g->group_id, address) : -1;
		if (address == NULL)
			cli_error("'%s' is not an address or a known DN", g->o->members[i]);
		free(address);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int group_verb(store_t *store, const struct cli_recipient_options *o)
{
	struct group_add g = { .o = o };

	if (strcmp(o->verb, "add") != 0 || !o->target || o->second || o->member_count == 0)
		return -2;
	if (store_transaction(store, group_add_in_tx, &g) < 0)
		return 1;
	printf("list %s has %zu new member(s)\n", o->target, o->member_count);
	return 0;
}

int cmd_group(int argc, char **argv)
{
	return cli_recipient_command(argc, argv, usage_text, STORE_RCPT_GROUP, group_verb);
}
