/* cmd_queue: `sealpost queue list|show ID|flush|retry ID|remove ID`: the remote
 * queue, one row per recipient. flush and retry make rows due now (a running
 * server looks within a second); remove drops a row without telling its sender. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char usage_text[] =
	"usage: sealpost queue list|flush [--data DIR]\n"
	"       sealpost queue show|retry|remove ID [--data DIR]\n"
	"list: each remote recipient waiting: id, message id, age, size, attempts, next\n"
	"attempt, sender and recipient. show: one row with its last error. flush: every\n"
	"row is tried now. retry: this row is tried now. remove: the row is dropped (no\n"
	"report to the sender).\n";

struct show {
	int64_t id;
	size_t count;
};

static void print_entry(const struct store_queue_entry *e, void *arg)
{
	struct show *s = arg;
	long age = (long)(time(NULL) - e->created_at), next = (long)(e->next_attempt - time(NULL));

	if (s->id > 0 && e->id != s->id)
		return;
	s->count++;
	if (s->id > 0) {
		printf("id: %lld\nmessage: %s\nsender: <%s>\nrecipient: <%s>\nsize: %lld\nage: %lds\n"
		       "attempts: %d\nnext attempt: in %lds\nlast error: %s\n",
		       (long long)e->id, e->msgid, e->sender, e->recipient, (long long)e->size, age, e->attempts,
		       next > 0 ? next : 0, e->last_error ? e->last_error : "(none yet)");
		return;
	}
	printf("%lld\t%s\t%lds\t%lld\t%d\t%lds\t<%s>\t<%s>\n", (long long)e->id, e->msgid, age, (long long)e->size,
	       e->attempts, next > 0 ? next : 0, e->sender, e->recipient);
}

static int64_t parse_id(const char *text)
{
	char *end;
	long long id = strtoll(text, &end, 10);

	return *end == '\0' && id > 0 ? id : -1;
}

static int run(store_t *store, int n, char **words)
{
	static const char *const takes_id[] = { "show", "retry", "remove" };
	const char *verb = words[0], *operand = n > 1 ? words[1] : NULL;
	struct show s = { 0 };
	bool needs_id = false;
	int rc;

	for (size_t i = 0; i < 3; i++)
		needs_id |= strcmp(verb, takes_id[i]) == 0;
	if ((!needs_id && strcmp(verb, "list") != 0 && strcmp(verb, "flush") != 0) || n != (needs_id ? 2 : 1))
		return 2;
	if (strcmp(verb, "list") == 0 || strcmp(verb, "show") == 0) {
		if (operand != NULL && (s.id = parse_id(operand)) < 0)
			return cli_error("'%s' is not a queue id", operand);
		if (store_queue_foreach(store, print_entry, &s) < 0)
			return cli_error("cannot read the queue");
		if (s.id > 0 && s.count == 0)
			return cli_error("no queue entry %s", operand);
		if (s.id == 0)
			fprintf(stderr, "%zu recipient(s) queued\n", s.count);
		return 0;
	}
	if (strcmp(verb, "flush") == 0)
		return store_queue_reschedule(store, 0, (int64_t)time(NULL)) < 0 ? cli_error("cannot change the queue") : 0;
	if ((s.id = parse_id(operand)) < 0)
		return cli_error("'%s' is not a queue id", operand);
	rc = strcmp(verb, "retry") == 0 ? store_queue_reschedule(store, s.id, (int64_t)time(NULL))
					: store_queue_remove(store, s.id);
	if (rc < 0)
		return cli_error("cannot change the queue");
	return rc == 0 ? cli_error("no queue entry %s", operand) : 0;
}

int cmd_queue(int argc, char **argv)
{
	return cli_store_command(argc, argv, usage_text, run);
}
