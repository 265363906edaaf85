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
	uint64_t *modseqs;
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
	free(j->modseqs);
	free(j);
}

static int store_run(store_tx_t *tx, void *arg)
{
	struct store_job *j = arg;

	return store_tx_change_flags(tx, j->mailbox_id, j->uids, j->count, &j->change, j->flags,
				     j->keywords, j->modseqs);
}

/* Reports the new flags (and MODSEQ under CONDSTORE); collects in modified the
 * numbers UNCHANGEDSINCE left alone. */
static void report(struct imap_session *s, const struct store_job *j, str_t *modified)
{
	str_t flags;

	str_init(&flags);
	for (size_t i = 0, k = 0; i < s->view.count && k < j->count; i++) {
		struct store_message_ref *m = &s->view.msgs[i];
		if (m->uid != j->uids[k])
			continue;
		if (j->flags[k] == ~0u - 1) {
			str_appendf(modified, "%s%u", modified->len ? "," : "",
				    s->cmd.uid ? m->uid : (uint32_t)(i + 1));
			k++;
			continue;
		}
		if (j->flags[k] != ~0u) {
			m->flags = j->flags[k];
			m->keywords = j->keywords[k];
			m->modseq = j->modseqs[k];
			s->view.generation++;
		}
		k++;
		if (j->silent && !s->condstore)
			continue;
		str_clear(&flags);
		if (s->cmd.uid)
			str_appendf(&flags, "UID %u ", m->uid);
		if (!j->silent) {
			str_append_cstr(&flags, "FLAGS ");
			imap_format_flags(&s->view, m->flags, m->keywords, &flags);
		}
		if (s->condstore)
			str_appendf(&flags, "%sMODSEQ (%llu)", j->silent ? "" : " ",
				    (unsigned long long)m->modseq);
		imap_untagged(s, "%zu FETCH (%s)", i + 1, flags.data);
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
		str_t modified;
		str_init(&modified);
		if (j->change.keyword_count > 0)
			imap_view_load_keywords(s); /* new names may have got bits */
		report(s, j, &modified);
		if (modified.len > 0)
			imap_command_done(s, "OK", "[MODIFIED %s] Conditional STORE failed", modified.data);
		else
			imap_command_done(s, "OK", "STORE completed");
		str_free(&modified);
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
	j->modseqs = xcalloc(n ? n : 1, sizeof(uint64_t));
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

/* "(UNCHANGEDSINCE n)" after the set (RFC 7162 3.1.3); 0 if absent, -1 if bad. */
static int parse_unchanged_since(const struct imap_arg *a, uint64_t *since_r)
{
	char *end;

	if (a->type != IMAP_ARG_LIST)
		return 0;
	if (a->count != 2 || a->children[0].type != IMAP_ARG_ATOM ||
	    strcasecmp(a->children[0].str, "UNCHANGEDSINCE") != 0 || a->children[1].type != IMAP_ARG_ATOM)
		return -1;
	*since_r = strtoull(a->children[1].str, &end, 10);
	return *end == '\0' && *since_r > 0 ? 1 : -1;
}

void cmd_store(struct imap_session *s)
{
	const struct imap_arg *a = s->cmd.args, *rest, *list;
	struct imap_flag_list fl;
	size_t *idx = NULL, n = 0, nrest, nflags;
	uint64_t since = 0;
	int modifier = s->cmd.argc > 1 ? parse_unchanged_since(&a[1], &since) : 0;
	struct store_job *j;
	bool silent;
	char op;

	rest = a + 1 + (modifier > 0);
	nrest = s->cmd.argc >= 1 + (size_t)(modifier > 0) ? s->cmd.argc - 1 - (modifier > 0) : 0;
	if (modifier < 0 || nrest < 2 || a[0].type != IMAP_ARG_ATOM || rest[0].type != IMAP_ARG_ATOM ||
	    (op = parse_operation(rest[0].str, &silent)) == 0) {
		imap_command_done(s, "BAD", "Syntax: STORE set [(UNCHANGEDSINCE n)] [+|-]FLAGS[.SILENT] (flags)");
		return;
	}
	list = rest[1].type == IMAP_ARG_LIST && nrest == 2 ? rest[1].children : &rest[1];
	nflags = rest[1].type == IMAP_ARG_LIST && nrest == 2 ? rest[1].count : nrest - 1;
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
	if (modifier > 0)
		s->condstore = true;
	j = job_new(s, &fl, op, silent, idx, n);
	j->change.unchanged_since = since;
	free(idx);
	imap_writer_run(s, store_run, j, store_written);
}
