/* imap_view: the selected mailbox as the client knows it, and telling the client
 * what changed since (EXPUNGE, FETCH FLAGS, EXISTS), by comparing UID lists. Also
 * flags, sequence sets over the view, and finding mailboxes by IMAP name. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"

static const struct {
	unsigned flag;
	const char *name;
} flag_names[] = {
	{ STORE_FLAG_ANSWERED, "\\Answered" }, { STORE_FLAG_FLAGGED, "\\Flagged" },
	{ STORE_FLAG_DELETED, "\\Deleted" },   { STORE_FLAG_SEEN, "\\Seen" },
	{ STORE_FLAG_DRAFT, "\\Draft" },
};

void imap_format_flags(const struct imap_view *v, unsigned flags, uint64_t keywords, str_t *out)
{
	bool first = true;

	str_append(out, "(", 1);
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (!(flags & flag_names[i].flag))
			continue;
		if (!first)
			str_append(out, " ", 1);
		str_append_cstr(out, flag_names[i].name);
		first = false;
	}
	for (int bit = 0; v != NULL && bit < STORE_KEYWORDS_MAX; bit++) {
		if (!(keywords & (1ULL << bit)) || v->keywords[bit] == NULL)
			continue;
		if (!first)
			str_append(out, " ", 1);
		str_append_cstr(out, v->keywords[bit]);
		first = false;
	}
	str_append(out, ")", 1);
}

/* A keyword is an atom: no specials, no '\\' (that would be a system flag). */
static bool keyword_valid(const char *k)
{
	if (*k == '\0' || strlen(k) > 100)
		return false;
	for (; *k != '\0'; k++)
		if (*k <= 0x20 || *k >= 0x7f || strchr("(){%*\"\\]", *k) != NULL)
			return false;
	return true;
}

int imap_parse_flags(const struct imap_arg *args, size_t count, struct imap_flag_list *list)
{
	memset(list, 0, sizeof(*list));
	for (size_t i = 0; i < count; i++) {
		size_t j;
		if (args[i].type != IMAP_ARG_ATOM)
			return -1;
		for (j = 0; j < sizeof(flag_names) / sizeof(flag_names[0]); j++)
			if (strcasecmp(args[i].str, flag_names[j].name) == 0)
				break;
		if (j < sizeof(flag_names) / sizeof(flag_names[0])) {
			list->flags |= flag_names[j].flag;
		} else if (strcasecmp(args[i].str, "\\Recent") == 0) {
			continue; /* the server's to set, never the client's: ignored */
		} else if (keyword_valid(args[i].str) && list->keyword_count < STORE_KEYWORDS_MAX) {
			list->keywords[list->keyword_count++] = args[i].str;
		} else {
			return -1;
		}
	}
	return 0;
}

static void keywords_free(struct imap_view *v)
{
	for (int i = 0; i < STORE_KEYWORDS_MAX; i++)
		x_free(&v->keywords[i]);
}

void imap_view_load_keywords(struct imap_session *s)
{
	keywords_free(&s->view);
	store_mailbox_keywords(s->server->store, s->view.id, s->view.keywords);
}

char *imap_name_in(const struct imap_session *s, const char *name)
{
	if (strcasecmp(name, "INBOX") == 0)
		return xstrdup("INBOX");
	return s->rev2 ? imap_utf8_to_mutf7(name) : xstrdup(name);
}

void imap_name_out(const struct imap_session *s, const char *stored, str_t *out)
{
	char *utf8 = s->rev2 ? imap_mutf7_to_utf8(stored) : NULL;
	const char *name = utf8 ? utf8 : stored;

	imap_append_string(out, name, strlen(name));
	free(utf8);
}

int imap_mailbox_find(struct imap_session *s, const char *name, struct store_mailbox *mb)
{
	char *stored = imap_name_in(s, name);
	int rc = stored ? store_mailbox_by_name(s->server->store, s->owner_id, stored, mb) : 0;

	free(stored);
	return rc;
}

static int view_load(struct imap_session *s, struct store_message_ref **msgs_r, size_t *count_r)
{
	if (store_mailbox_state(s->server->store, s->view.id, &s->view.uidnext,
				&s->view.highestmodseq) < 0)
		return -1;
	return store_mailbox_messages(s->server->store, s->view.id, msgs_r, count_r);
}

int imap_view_open(struct imap_session *s, int64_t mailbox_id, const char *name, bool readonly)
{
	imap_view_close(s);
	s->view.id = mailbox_id;
	s->view.name = xstrdup(name);
	s->view.readonly = readonly;
	if (view_load(s, &s->view.msgs, &s->view.count) < 0) {
		imap_view_close(s);
		return -1;
	}
	imap_view_load_keywords(s);
	return 0;
}

void imap_view_close(struct imap_session *s)
{
	keywords_free(&s->view);
	imap_contexts_free(&s->view);
	x_free(&s->view.saved);
	x_free(&s->view.name);
	x_free(&s->view.msgs);
	memset(&s->view, 0, sizeof(s->view));
}

void imap_view_remove(struct imap_session *s, const uint32_t *uids, size_t count, bool report)
{
	size_t out = 0, k = 0;
	str_t set;

	if (report)
		imap_contexts_expunge(s, uids, count); /* while the numbers still hold */
	s->view.generation++;
	for (size_t i = 0; i < s->view.count; i++) {
		while (k < count && uids[k] < s->view.msgs[i].uid)
			k++;
		if (k < count && s->view.msgs[i].uid == uids[k]) {
			/* Each number is the one the message has at that moment (RFC 3501 7.4.1). */
			if (report && !s->qresync)
				imap_untagged(s, "%zu EXPUNGE", out + 1);
			continue;
		}
		s->view.msgs[out++] = s->view.msgs[i];
	}
	if (report && s->qresync && s->view.count > out) {
		str_init(&set);
		imap_seqset_format(uids, count, &set);
		imap_untagged(s, "VANISHED %s", set.data);
		str_free(&set);
	}
	s->view.count = out;
}

/* What changed since the client last heard: gone UIDs are reported (EXPUNGE or
 * VANISHED), changed flags FETCHed, new messages counted into EXISTS. Both lists
 * are in UID order. */
static void view_report(struct imap_session *s, struct store_message_ref *fresh, size_t fresh_count)
{
	uint32_t *gone = xcalloc(s->view.count ? s->view.count : 1, sizeof(uint32_t));
	size_t ngone = 0, j = 0;
	str_t flags;

	for (size_t i = 0; i < s->view.count; i++) {
		while (j < fresh_count && fresh[j].uid < s->view.msgs[i].uid)
			j++; /* cannot happen: UIDs only grow; be safe */
		if (j >= fresh_count || fresh[j].uid != s->view.msgs[i].uid)
			gone[ngone++] = s->view.msgs[i].uid;
	}
	imap_view_remove(s, gone, ngone, true);
	free(gone);
	str_init(&flags);
	for (size_t i = 0; i < s->view.count && i < fresh_count; i++) {
		if (fresh[i].flags == s->view.msgs[i].flags && fresh[i].keywords == s->view.msgs[i].keywords)
			continue;
		str_clear(&flags);
		imap_format_flags(&s->view, fresh[i].flags, fresh[i].keywords, &flags);
		if (s->condstore)
			str_appendf(&flags, " MODSEQ (%llu)", (unsigned long long)fresh[i].modseq);
		imap_untagged(s, "%zu FETCH (UID %u FLAGS %s)", i + 1, fresh[i].uid, flags.data);
	}
	if (fresh_count > s->view.count)
		imap_untagged(s, "%zu EXISTS", fresh_count);
	str_free(&flags);
}

/* Does fresh lack a message the view has (an expunge the client has not heard of)? */
static bool view_lost_any(const struct imap_view *v, const struct store_message_ref *fresh, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < v->count; i++) {
		while (j < n && fresh[j].uid < v->msgs[i].uid)
			j++;
		if (j >= n || fresh[j].uid != v->msgs[i].uid)
			return true;
	}
	return false;
}

static size_t view_sync(struct imap_session *s, bool expunges_ok)
{
	struct store_message_ref *fresh;
	size_t fresh_count, kept;
	uint32_t uidnext;
	uint64_t modseq;

	if (s->state != IMAP_STATE_SELECTED ||
	    store_mailbox_state(s->server->store, s->view.id, &uidnext, &modseq) < 0)
		return 0;
	if (uidnext == s->view.uidnext && modseq == s->view.highestmodseq)
		return 0;
	if (view_load(s, &fresh, &fresh_count) < 0)
		return 0;
	if (!expunges_ok && view_lost_any(&s->view, fresh, fresh_count)) {
		free(fresh); /* told later, when expunges may be (NOOP, IDLE...) */
		return 0;
	}
	imap_view_load_keywords(s); /* another session may have added some */
	view_report(s, fresh, fresh_count);
	kept = s->view.count;
	free(s->view.msgs);
	s->view.msgs = fresh;
	s->view.count = fresh_count;
	s->view.generation++;
	imap_contexts_refresh(s);
	return fresh_count - kept;
}

size_t imap_view_sync(struct imap_session *s)
{
	return view_sync(s, true);
}

size_t imap_view_sync_no_expunge(struct imap_session *s)
{
	return view_sync(s, false);
}

int imap_view_select_set(struct imap_session *s, const char *text, bool uid, size_t **idx_r,
			 size_t *count_r)
{
	struct imap_view *v = &s->view;
	uint32_t star = uid ? (v->count ? v->msgs[v->count - 1].uid : 0) : (uint32_t)v->count;
	struct imap_seqset set;
	size_t *idx = NULL, n = 0;

	if (strcmp(text, "$") == 0) { /* SEARCHRES: the last saved result, by UID */
		for (size_t i = 0, k = 0; i < v->count && k < v->saved_count; i++) {
			while (k < v->saved_count && v->saved[k] < v->msgs[i].uid)
				k++;
			if (k < v->saved_count && v->saved[k] == v->msgs[i].uid) {
				if (n % 64 == 0)
					idx = xrealloc(idx, (n + 64) * sizeof(*idx));
				idx[n++] = i;
			}
		}
		*idx_r = idx;
		*count_r = n;
		return 0;
	}
	if (imap_seqset_parse(text, star, &set) < 0)
		return -1;
	/* Message numbers beyond the mailbox are an error; UIDs are not (RFC 3501 6.4.8). */
	for (size_t r = 0; !uid && r < set.count; r++) {
		if (set.ranges[r].hi > v->count || set.ranges[r].lo == 0) {
			imap_seqset_free(&set);
			return -1;
		}
	}
	for (size_t i = 0; i < v->count; i++) {
		uint32_t key = uid ? v->msgs[i].uid : (uint32_t)(i + 1);
		if (!imap_seqset_contains(&set, key))
			continue;
		if (n % 64 == 0)
			idx = xrealloc(idx, (n + 64) * sizeof(*idx));
		idx[n++] = i;
	}
	imap_seqset_free(&set);
	*idx_r = idx;
	*count_r = n;
	return 0;
}
