/* cmd_config: `sealpost config`: every bounded setting with the value in force
 * for a data directory, its meaning and its range, from the one parameter table. */
#include <stdio.h>

#include "cli.h"

static const char usage_text[] =
	"usage: sealpost config [--data DIR]\n"
	"Prints every limit with the value sealpost.conf gives it, its meaning and range.\n"
	"Set one by adding 'name = value' to sealpost.conf.\n";

int cmd_config(int argc, char **argv)
{
	const char *data = NULL;
	struct config cfg = { 0 };
	str_t out;
	int c;

	if (cli_wants_help(argc, argv))
		return fputs(usage_text, stdout), 0;
	c = cli_parse_data_option(argc, argv, &data);
	if (c < 0 || c != argc)
		return fputs(usage_text, stderr), 2;
	if (cli_load_config(cli_data_dir(data), &cfg) < 0)
		return 1;
	str_init(&out);
	param_print(&out);
	fputs(out.data, stdout);
	str_free(&out);
	config_free(&cfg);
	return 0;
}
