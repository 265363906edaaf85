/* cmd_store: STORE and UID STORE (FLAGS, +FLAGS, -FLAGS, each with .SILENT) for
 * system flags and keywords. The writer computes each new value from what is
 * stored now, so concurrent sessions do not undo each other; the change is
 * durable before the tagged OK, then the new flags are reported. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"

struct store_job {
	int64_t mailbox_id;
	uint32_t *uids;
	unsigned *flags;
	uint64_t *keywords;
	size_t count;
	bool silent;
	struct store_flag_change change;
	char **names; /* owned copies of the keyword names */
};

static void job_free(struct store_job *j)
{
	for (size_t i = 0; i < j->change.keyword_count; i++)
		free(j->names[i]);
	free(j->names);
	free(j->uids);
	free(j->flags);
	free(j->keywords);
	free(j);
}

static int store_run(store_tx_t *tx, void *arg)
{
	struct store_job *j = arg;

	return store_tx_change_flags(tx, j->mailbox_id, j->uids, j->count, &j->change, j->flags,
				     j->keywords);
}

static void report(struct imap_session *s, const struct store_job *j)
{
	str_t flags;

	str_init(&flags);
	for (size_t i = 0, k = 0; i < s->view.count && k < j->count; i++) {
		struct store_message_ref *m = &s->view.msgs[i];
		if (m->uid != j->uids[k])
			continue;
		if (j->flags[k] != ~0u) {
			m->flags = j->flags[k];
			m->keywords = j->keywords[k];
		}
		k++;
		if (j->silent)
			continue;
		str_clear(&flags);
		imap_format_flags(&s->view, m->flags, m->keywords, &flags);
		if (s->cmd.uid)
			imap_untagged(s, "%zu FETCH (UID %u FLAGS %s)", i + 1, m->uid, flags.data);
		else
			imap_untagged(s, "%zu FETCH (FLAGS %s)", i + 1, flags.data);
	}
	str_free(&flags);
}

static void store_written(struct imap_session *s, void *arg, int ok)
{
	struct store_job *j = arg;

	if (s != NULL && !ok) {
		imap_command_done(s, "NO", "[LIMIT] Flags could not be stored (at most %d keywords per mailbox)",
				  STORE_KEYWORDS_MAX);
	} else if (s != NULL) {
		if (j->change.keyword_count > 0)
			imap_view_load_keywords(s); /* new names may have got bits */
		report(s, j);
		imap_command_done(s, "OK", "STORE completed");
	}
	job_free(j);
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

static struct store_job *job_new(struct imap_session *s, const struct imap_flag_list *fl,
				 char op, bool silent, const size_t *idx, size_t n)
{
	struct store_job *j = xcalloc(1, sizeof(*j));

	j->mailbox_id = s->view.id;
	j->silent = silent;
	j->uids = xcalloc(n ? n : 1, sizeof(uint32_t));
	j->flags = xcalloc(n ? n : 1, sizeof(unsigned));
	j->keywords = xcalloc(n ? n : 1, sizeof(uint64_t));
	for (size_t i = 0; i < n; i++)
		j->uids[j->count++] = s->view.msgs[idx[i]].uid;
	j->names = xcalloc(fl->keyword_count ? fl->keyword_count : 1, sizeof(char *));
	for (size_t i = 0; i < fl->keyword_count; i++)
		j->names[i] = xstrdup(fl->keywords[i]);
	j->change = (struct store_flag_change){ .op = op, .flags = fl->flags,
						.keywords = (const char *const *)j->names,
						.keyword_count = fl->keyword_count };
	return j;
}

void cmd_store(struct imap_session *s)
{
	const struct imap_arg *a = s->cmd.args, *list;
	struct imap_flag_list fl;
	size_t *idx = NULL, n = 0, nflags;
	bool silent;
	char op;

	if (s->cmd.argc < 3 || a[0].type != IMAP_ARG_ATOM || a[1].type != IMAP_ARG_ATOM ||
	    (op = parse_operation(a[1].str, &silent)) == 0) {
		imap_command_done(s, "BAD", "Syntax: STORE set [+|-]FLAGS[.SILENT] (flags)");
		return;
	}
	list = a[2].type == IMAP_ARG_LIST && s->cmd.argc == 3 ? a[2].children : &a[2];
	nflags = a[2].type == IMAP_ARG_LIST && s->cmd.argc == 3 ? a[2].count : s->cmd.argc - 2;
	if (imap_parse_flags(list, nflags, &fl) < 0) {
		imap_command_done(s, "BAD", "Invalid flag");
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
	imap_writer_run(s, store_run, job_new(s, &fl, op, silent, idx, n), store_written);
	free(idx);
}
