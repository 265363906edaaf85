/* cmd_append: APPEND mailbox [(flags)] [date] literal, repeated for MULTIAPPEND
 * (RFC 3502), where CATENATE (RFC 4469) may stand for the literal: a message
 * joined from literal text and the bytes IMAP URLs name. All the messages are
 * stored in one writer job, so all or none.
 * Stored straight into the mailbox (saving to Sent is not a transmission), durable
 * before OK, answered with APPENDUID (UIDPLUS). */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_private.h"

#define APPEND_MAX 1000 /* messages in one MULTIAPPEND */

struct append_message {
	struct store_append a;
	struct store_flag_change keywords;
	char *names[STORE_KEYWORDS_MAX];
	char msgid[33];
	str_t joined; /* CATENATE's message */
};

struct append_job {
	struct append_message *msgs;
	size_t count;
	uint32_t *uids;
	uint32_t uidvalidity;
	bool selected;
};

static int append_run(store_tx_t *tx, void *arg)
{
	struct append_job *j = arg;
	unsigned flags;
	uint64_t kw, modseq;

	for (size_t i = 0; i < j->count; i++) {
		struct append_message *m = &j->msgs[i];
		if (store_tx_append(tx, &m->a, &j->uids[i]) < 0)
			return -1;
		if (m->keywords.keyword_count > 0 &&
		    store_tx_change_flags(tx, m->a.mailbox_id, &j->uids[i], 1, &m->keywords, &flags, &kw,
					  &modseq) < 0)
			return -1;
	}
	return 0;
}

static void job_free(struct append_job *j)
{
	for (size_t i = 0; i < j->count; i++)
	{
		for (size_t k = 0; k < j->msgs[i].keywords.keyword_count; k++)
			free(j->msgs[i].names[k]);
		str_free(&j->msgs[i].joined);
	}
	free(j->msgs);
	free(j->uids);
	free(j);
}

static void append_written(struct imap_session *s, void *arg, int ok)
{
	struct append_job *j = arg;
	str_t uids;

	if (s != NULL && !ok) {
		imap_command_done(s, "NO", "[SERVERBUG] Message could not be stored");
	} else if (s != NULL) {
		if (j->selected)
			imap_view_sync(s); /* the client hears EXISTS before OK */
		str_init(&uids);
		imap_seqset_format(j->uids, j->count, &uids);
		imap_command_done(s, "OK", "[APPENDUID %u %s] APPEND completed", j->uidvalidity, uids.data);
		str_free(&uids);
	}
	job_free(j);
}

/* "28-Nov-2026 05:00:00 +0100" (RFC 3501 date-time); returns -1 if malformed. */
static int64_t parse_date_time(const char *text)
{
	struct tm tm = { 0 };
	const char *end = strptime(text, "%d-%b-%Y %H:%M:%S %z", &tm);

	long offset;

	if (end == NULL || *end != '\0')
		return -1;
	offset = tm.tm_gmtoff; /* read before timegm, which resets it */
	return (int64_t)timegm(&tm) - offset;
}

/* CATENATE (TEXT literal / URL url ...): the joined message into out. before is
 * what the command's earlier messages hold: all of them together stay within
 * message_size_max, as its literals do (a URL could otherwise multiply stored
 * bytes in memory). Returns 0, or -1 with the reply in why ("BAD ..." or "NO ..."). */
static int catenate(struct imap_session *s, const struct imap_arg *list, int64_t before, str_t *out, str_t *why)
{
	for (size_t i = 0; i < list->count; i += 2) {
		const struct imap_arg *kind = &list->children[i], *value = kind + 1;
		if (i + 1 >= list->count || kind->type != IMAP_ARG_ATOM) {
			str_append_cstr(why, "BAD Syntax: CATENATE (TEXT literal / URL url ...)");
			return -1;
		}
		if (strcasecmp(kind->str, "TEXT") == 0 && value->type == IMAP_ARG_LITERAL) {
			str_append(out, value->str, value->len);
		} else if (strcasecmp(kind->str, "URL") == 0 && value->type != IMAP_ARG_LIST) {
			if (imap_url_fetch(s, value->str, false, out) < 0) {
				str_appendf(why, "NO [BADURL %s] The URL names nothing this user may read",
					    imap_url_printable(value->str));
				return -1;
			}
		} else {
			str_append_cstr(why, "BAD Syntax: CATENATE (TEXT literal / URL url ...)");
			return -1;
		}
		if (before + (int64_t)out->len > param_get(P_MESSAGE_SIZE_MAX)) {
			str_append_cstr(why, "NO [TOOBIG] The joined message is larger than the limit");
			return -1;
		}
	}
	if (out->len == 0) {
		str_append_cstr(why, "BAD CATENATE needs at least one part");
		return -1;
	}
	return 0;
}

/* One "[(flags)] [date] literal|CATENATE (...)" group from args[*pos]; returns
 * 0, or -1 with the reply in why. */
static int parse_message(struct imap_session *s, size_t *pos, int64_t before, struct append_message *m,
			 str_t *why)
{
	const struct imap_arg *a = s->cmd.args;
	struct imap_flag_list fl = { 0 };
	int64_t date = (int64_t)time(NULL);

	if (*pos < s->cmd.argc && a[*pos].type == IMAP_ARG_LIST) {
		if (imap_parse_flags(a[*pos].children, a[*pos].count, &fl) < 0)
			return str_append_cstr(why, "BAD Invalid flag"), -1;
		(*pos)++;
	}
	if (*pos < s->cmd.argc && a[*pos].type == IMAP_ARG_STRING) {
		if ((date = parse_date_time(a[*pos].str)) < 0)
			return str_append_cstr(why, "BAD Invalid date-time"), -1;
		(*pos)++;
	}
	str_init(&m->joined);
	if (*pos + 1 < s->cmd.argc && a[*pos].type == IMAP_ARG_ATOM && strcasecmp(a[*pos].str, "CATENATE") == 0 &&
	    a[*pos + 1].type == IMAP_ARG_LIST) {
		if (catenate(s, &a[*pos + 1], before, &m->joined, why) < 0)
			return -1;
		(*pos)++;
	} else if (*pos >= s->cmd.argc || a[*pos].type != IMAP_ARG_LITERAL || a[*pos].len == 0) {
		return str_append_cstr(why, "BAD Syntax: APPEND mailbox [(flags)] [date] literal ..."), -1;
	}
	id_random_hex(m->msgid, 16);
	/* msgid and keyword pointers are set once the array stops moving (parse_messages). */
	m->a = (struct store_append){ .bytes = m->joined.data ? m->joined.data : a[*pos].str,
				      .len = m->joined.data ? m->joined.len : a[*pos].len, .sender = "",
				      .flags = fl.flags, .internal_date = date };
	for (size_t k = 0; k < fl.keyword_count; k++)
		m->names[k] = xstrdup(fl.keywords[k]);
	m->keywords = (struct store_flag_change){ .op = '+', .keyword_count = fl.keyword_count };
	(*pos)++;
	return 0;
}

static struct append_job *parse_messages(struct imap_session *s, int64_t *octets_r)
{
	struct append_job *j = xcalloc(1, sizeof(*j));
	size_t pos = 1;
	str_t why;

	*octets_r = 0;
	str_init(&why);
	while (pos < s->cmd.argc || j->count == 0) {
		if (j->count == APPEND_MAX) {
			str_append_cstr(&why, "BAD Too many messages in one APPEND");
			goto bad;
		}
		j->msgs = xrealloc(j->msgs, (j->count + 1) * sizeof(*j->msgs));
		memset(&j->msgs[j->count], 0, sizeof(*j->msgs));
		if (parse_message(s, &pos, *octets_r, &j->msgs[j->count++], &why) < 0)
			goto bad;
		*octets_r += (int64_t)j->msgs[j->count - 1].a.len;
	}
	for (size_t i = 0; i < j->count; i++) {
		j->msgs[i].a.msgid = j->msgs[i].msgid;
		j->msgs[i].keywords.keywords = (const char *const *)j->msgs[i].names;
	}
	j->uids = xcalloc(j->count, sizeof(uint32_t));
	return j;
bad:
	job_free(j);
	imap_command_done(s, why.data[0] == 'N' ? "NO" : "BAD", "%s", strchr(why.data, ' ') + 1);
	str_free(&why);
	return NULL;
}

void cmd_append(struct imap_session *s)
{
	struct store_mailbox mb = { 0 };
	struct append_job *j;
	int64_t octets;

	if (s->cmd.argc < 2 || s->cmd.args[0].type == IMAP_ARG_LIST) {
		imap_command_done(s, "BAD", "Syntax: APPEND mailbox [(flags)] [date] literal ...");
		return;
	}
	if ((j = parse_messages(s, &octets)) == NULL)
		return;
	if (imap_mailbox_find(s, s->cmd.args[0].str, &mb) != 1) {
		job_free(j);
		imap_command_done(s, "NO", "[TRYCREATE] No such mailbox");
		return;
	}
	if (!imap_quota_allows(s, octets)) {
		job_free(j);
		store_mailbox_clear(&mb);
		imap_command_done(s, "NO", "[OVERQUOTA] Quota exceeded");
		return;
	}
	for (size_t i = 0; i < j->count; i++)
		j->msgs[i].a.mailbox_id = mb.id;
	j->uidvalidity = mb.uidvalidity;
	j->selected = s->state == IMAP_STATE_SELECTED && s->view.id == mb.id;
	store_mailbox_clear(&mb);
	imap_writer_run(s, append_run, j, append_written); /* literals stay alive: cmd is open */
}
