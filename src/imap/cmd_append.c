/* cmd_append: APPEND mailbox [(flags)] [date] literal. Stored straight into the
 * mailbox (saving to Sent is not a transmission), durable before OK, answered
 * with APPENDUID (UIDPLUS). */
#include <string.h>
#include <time.h>

#include "imap_private.h"

struct append_job {
	struct store_append a;
	struct store_flag_change keywords;
	char *names[STORE_KEYWORDS_MAX];
	char msgid[33];
	uint32_t uidvalidity, uid;
	bool selected;
};

static int append_run(store_tx_t *tx, void *arg)
{
	struct append_job *j = arg;

	unsigned flags;
	uint64_t kw, modseq;

	if (store_tx_append(tx, &j->a, &j->uid) < 0)
		return -1;
	return j->keywords.keyword_count == 0 ? 0
		: store_tx_change_flags(tx, j->a.mailbox_id, &j->uid, 1, &j->keywords, &flags, &kw, &modseq);
}

static void append_written(struct imap_session *s, void *arg, int ok)
{
	struct append_job *j = arg;

	if (s != NULL && !ok) {
		imap_command_done(s, "NO", "[SERVERBUG] Message could not be stored");
	} else if (s != NULL) {
		if (j->selected)
			imap_view_sync(s); /* the client hears EXISTS before OK */
		imap_command_done(s, "OK", "[APPENDUID %u %u] APPEND completed", j->uidvalidity, j->uid);
	}
	for (size_t i = 0; i < j->keywords.keyword_count; i++)
		free(j->names[i]);
	free(j);
}

/* "28-Nov-2026 05:00:00 +0100" (RFC 3501 date-time); returns -1 if malformed. */
static int64_t parse_date_time(const char *text)
{
	struct tm tm = { 0 };
	const char *end = strptime(text, "%d-%b-%Y %H:%M:%S %z", &tm);

	if (end == NULL || *end != '\0')
		return -1;
	return (int64_t)timegm(&tm) - tm.tm_gmtoff;
}

void cmd_append(struct imap_session *s)
{
	const struct imap_arg *a = s->cmd.args, *msg = s->cmd.argc ? &a[s->cmd.argc - 1] : NULL;
	struct store_mailbox mb = { 0 };
	struct append_job *j;
	struct imap_flag_list fl = { 0 };
	int64_t date = (int64_t)time(NULL);
	size_t i = 1;

	if (s->cmd.argc < 2 || s->cmd.argc > 4 || a[0].type == IMAP_ARG_LIST ||
	    msg->type != IMAP_ARG_LITERAL) {
		imap_command_done(s, "BAD", "Syntax: APPEND mailbox [(flags)] [date] literal");
		return;
	}
	if (i < s->cmd.argc - 1 && a[i].type == IMAP_ARG_LIST) {
		if (imap_parse_flags(a[i].children, a[i].count, &fl) < 0) {
			imap_command_done(s, "BAD", "Invalid flag");
			return;
		}
		i++;
	}
	if (i < s->cmd.argc - 1) {
		if (a[i].type != IMAP_ARG_STRING || (date = parse_date_time(a[i].str)) < 0) {
			imap_command_done(s, "BAD", "Invalid date-time");
			return;
		}
		i++;
	}
	if (i != s->cmd.argc - 1 || msg->len == 0) {
		imap_command_done(s, "BAD", "Syntax: APPEND mailbox [(flags)] [date] literal");
		return;
	}
	if (imap_mailbox_find(s, a[0].str, &mb) != 1) {
		imap_command_done(s, "NO", "[TRYCREATE] No such mailbox");
		return;
	}
	if (!imap_quota_allows(s, (int64_t)msg->len)) {
		store_mailbox_clear(&mb);
		imap_command_done(s, "NO", "[OVERQUOTA] Quota exceeded");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	id_random_hex(j->msgid, 16);
	j->a = (struct store_append){ .mailbox_id = mb.id, .bytes = msg->str, .len = msg->len,
				      .msgid = j->msgid, .sender = "", .flags = fl.flags,
				      .internal_date = date };
	for (size_t k = 0; k < fl.keyword_count; k++)
		j->names[k] = xstrdup(fl.keywords[k]);
	j->keywords = (struct store_flag_change){ .op = '+', .keywords = (const char *const *)j->names,
						  .keyword_count = fl.keyword_count };
	j->uidvalidity = mb.uidvalidity;
	j->selected = s->state == IMAP_STATE_SELECTED && s->view.id == mb.id;
	store_mailbox_clear(&mb);
	imap_writer_run(s, append_run, j, append_written); /* msg stays alive: cmd is open */
}
