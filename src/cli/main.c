/* main: `sealpost NOUN ...`: finds the subcommand in one table and runs it. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} subcommands[] = {
	{ "init", cmd_init, "create a data directory" },
	{ "user", cmd_user, "add, list, show, remove users; set passwords" },
	{ "alias", cmd_alias, "add, list, remove aliases" },
	{ "group", cmd_group, "distribution lists and their members" },
	{ "site", cmd_site, "add and list sites of the organisation" },
	{ "domain", cmd_domain, "add and list the domains we take mail for" },
	{ "queue", cmd_queue, "mail waiting for remote delivery: list, show, flush, retry, remove" },
	{ "transport", cmd_transport, "where mail for a domain goes: host, TLS policy, smart host" },
	{ "policy", cmd_policy, "controls against unsolicited mail and relaying: show, set, add, remove" },
	{ "config", cmd_config, "print every limit and its value" },
	{ "serve", cmd_serve, "run the server" },
};

static int usage(FILE *out)
{
	fprintf(out, "usage: sealpost COMMAND [ARGS] [--data DIR]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "\nEvery command takes --help. DIR defaults to $SEALPOST_DATA, then ./sealpost-data.\n");
	return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return usage(stdout);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	return cli_error("unknown command '%s' (see: sealpost --help)", argv[1]) + 1;
}
