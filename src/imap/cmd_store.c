/* cmd_store: STORE and UID STORE (FLAGS, +FLAGS, -FLAGS, each with .SILENT). The
 * change is durable before the tagged OK; then the new flags are reported. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"

struct store_job {
	int64_t mailbox_id;
	uint32_t *uids;
	unsigned *flags;
	size_t count;
	bool silent;
};

static void job_free(struct store_job *j)
{
	free(j->uids);
	free(j->flags);
	free(j);
}

static int store_run(store_tx_t *tx, void *arg)
{
	struct store_job *j = arg;

	return store_tx_set_flags(tx, j->mailbox_id, j->uids, j->flags, j->count);
}

static void store_written(struct imap_session *s, void *arg, int ok)
{
	struct store_job *j = arg;
	str_t flags;

	if (s == NULL || !ok) {
		if (s != NULL)
			imap_command_done(s, "NO", "[SERVERBUG] Flags could not be stored");
		job_free(j);
		return;
	}
	str_init(&flags);
	for (size_t i = 0, k = 0; i < s->view.count && k < j->count; i++) {
		struct store_message_ref *m = &s->view.msgs[i];
		if (m->uid != j->uids[k])
			continue;
		m->flags = j->flags[k++];
		if (j->silent)
			continue;
		str_clear(&flags);
		imap_format_flags(m->flags, &flags);
		if (s->cmd.uid)
			imap_untagged(s, "%zu FETCH (UID %u FLAGS %s)", i + 1, m->uid, flags.data);
		else
			imap_untagged(s, "%zu FETCH (FLAGS %s)", i + 1, flags.data);
	}
	str_free(&flags);
	job_free(j);
	imap_command_done(s, "OK", "STORE completed");
}

/* "FLAGS", "+FLAGS.SILENT"...: returns the operation ('=', '+', '-') or 0. */
static char parse_operation(const char *item, bool *silent_r)
{
	char op = *item == '+' || *item == '-' ? *item++ : '=';

	*silent_r = false;
	if (strcasecmp(item, "FLAGS.SILENT") == 0)
		*silent_r = true;
	else if (strcasecmp(item, "FLAGS") != 0)
		return 0;
	return op;
}

void cmd_store(struct imap_session *s)
{
	const struct imap_arg *a = s->cmd.args, *list;
	struct store_job *j;
	size_t *idx = NULL, n = 0, nflags;
	unsigned flags;
	bool silent;
	char op;

	if (s->cmd.argc < 3 || a[0].type != IMAP_ARG_ATOM || a[1].type != IMAP_ARG_ATOM ||
	    (op = parse_operation(a[1].str, &silent)) == 0) {
		imap_command_done(s, "BAD", "Syntax: STORE set [+|-]FLAGS[.SILENT] (flags)");
		return;
	}
	list = a[2].type == IMAP_ARG_LIST && s->cmd.argc == 3 ? a[2].children : &a[2];
	nflags = a[2].type == IMAP_ARG_LIST && s->cmd.argc == 3 ? a[2].count : s->cmd.argc - 2;
	if (imap_parse_flags(list, nflags, &flags) < 0) {
		imap_command_done(s, "BAD", "Unknown flag (keywords are not supported yet)");
		return;
	}
	if (s->view.readonly) {
		imap_command_done(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (imap_view_select_set(s, a[0].str, s->cmd.uid, &idx, &n) < 0) {
		imap_command_done(s, "BAD", "Invalid message set");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->mailbox_id = s->view.id;
	j->silent = silent;
	j->uids = xcalloc(n ? n : 1, sizeof(uint32_t));
	j->flags = xcalloc(n ? n : 1, sizeof(unsigned));
	for (size_t i = 0; i < n; i++) {
		unsigned old = s->view.msgs[idx[i]].flags;
		j->uids[j->count] = s->view.msgs[idx[i]].uid;
		j->flags[j->count++] = op == '=' ? flags : op == '+' ? old | flags : old & ~flags;
	}
	free(idx);
	imap_writer_run(s, store_run, j, store_written);
}
