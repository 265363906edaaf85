/* cmd_queue: `sealpost queue list`: mail accepted for remote recipients, waiting
 * for outbound delivery. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char usage_text[] =
	"usage: sealpost queue list [--data DIR]\n"
	"Lists each remote recipient waiting for delivery: id, message id, age, size,\n"
	"state, attempts, sender and recipient.\n";

static void print_entry(const struct store_queue_entry *e, void *arg)
{
	size_t *count = arg;
	long age = (long)(time(NULL) - e->created_at);

	printf("%lld\t%s\t%lds\t%lld\t%s\t%d\t<%s>\t<%s>\n", (long long)e->id, e->msgid, age,
	       (long long)e->size, e->state, e->attempts, e->sender, e->recipient);
	(*count)++;
}

int cmd_queue(int argc, char **argv)
{
	const char *data = NULL;
	store_t *store;
	size_t count = 0;
	int c, rc = 0;

	if (cli_wants_help(argc, argv))
		return fputs(usage_text, stdout), 0;
	c = cli_parse_data_option(argc, argv, &data);
	if (c < 0 || c + 1 != argc || strcmp(argv[c], "list") != 0)
		return fputs(usage_text, stderr), 2;
	if ((store = cli_open_store(cli_data_dir(data))) == NULL)
		return 1;
	if (store_queue_foreach(store, print_entry, &count) < 0)
		rc = cli_error("cannot read the queue");
	else
		fprintf(stderr, "%zu recipient(s) queued\n", count);
	store_close(&store);
	return rc;
}
