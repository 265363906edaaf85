/* cmd_mailbox: SELECT and EXAMINE, UNSELECT, LIST and LSUB, STATUS. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"

static bool arg_is_string(const struct imap_arg *a)
{
	return a->type != IMAP_ARG_LIST;
}

/* SELECT's (QRESYNC (uidvalidity modseq [known-uids ...])) of RFC 7162 3.2.5. */
struct qresync_param {
	bool given;
	uint32_t uidvalidity;
	uint64_t modseq;
	const char *known_uids;
};

static int parse_select_params(struct imap_session *s, const struct imap_arg *params,
			       struct qresync_param *q)
{
	const struct imap_arg *p = params->children, *v;
	char *end;

	if (params->count != 1 && params->count != 2)
		return -1;
	if (params->count == 1 && p[0].type == IMAP_ARG_ATOM && strcasecmp(p[0].str, "CONDSTORE") == 0) {
		s->condstore = true;
		return 0;
	}
	if (params->count != 2 || p[0].type != IMAP_ARG_ATOM || strcasecmp(p[0].str, "QRESYNC") != 0 ||
	    p[1].type != IMAP_ARG_LIST || p[1].count < 2 || !s->qresync)
		return -1; /* QRESYNC must be ENABLEd first (RFC 7162 3.2.3) */
	v = p[1].children;
	if (v[0].type != IMAP_ARG_ATOM || v[1].type != IMAP_ARG_ATOM)
		return -1;
	q->uidvalidity = (uint32_t)strtoul(v[0].str, &end, 10);
	if (*end != '\0')
		return -1;
	q->modseq = strtoull(v[1].str, &end, 10);
	if (*end != '\0')
		return -1;
	q->known_uids = p[1].count >= 3 && v[2].type == IMAP_ARG_ATOM ? v[2].str : NULL;
	q->given = true;
	return 0;
}

/* After SELECT: what vanished and what changed since the client's MODSEQ. */
static void qresync_report(struct imap_session *s, const struct qresync_param *q)
{
	struct imap_seqset known = { 0 };
	uint32_t *gone = NULL, *shown;
	size_t ngone = 0, nshown = 0;
	str_t line;

	if (q->uidvalidity != s->view.uidvalidity)
		return; /* the client must start over */
	if (q->known_uids != NULL && imap_seqset_parse(q->known_uids, UINT32_MAX, &known) < 0)
		q = NULL;
	if (q != NULL && store_mailbox_vanished(s->server->store, s->view.id, q->modseq, &gone, &ngone) == 0) {
		shown = xcalloc(ngone ? ngone : 1, sizeof(uint32_t));
		for (size_t i = 0; i < ngone; i++)
			if (known.count == 0 || imap_seqset_contains(&known, gone[i]))
				shown[nshown++] = gone[i];
		if (nshown > 0) {
			str_init(&line);
			imap_seqset_format(shown, nshown, &line);
			imap_untagged(s, "VANISHED (EARLIER) %s", line.data);
			str_free(&line);
		}
		free(shown);
		free(gone);
	}
	str_init(&line);
	for (size_t i = 0; q != NULL && i < s->view.count; i++) {
		const struct store_message_ref *m = &s->view.msgs[i];
		if (m->modseq <= q->modseq)
			continue;
		str_clear(&line);
		imap_format_flags(&s->view, m->flags, m->keywords, &line);
		imap_untagged(s, "%zu FETCH (UID %u FLAGS %s MODSEQ (%llu))", i + 1, m->uid, line.data,
			      (unsigned long long)m->modseq);
	}
	str_free(&line);
	imap_seqset_free(&known);
}

void cmd_select(struct imap_session *s)
{
	struct store_mailbox mb = { 0 };
	bool readonly = strcmp(s->cmd.name, "EXAMINE") == 0;
	size_t unseen = 0;
	str_t flags;

	const struct imap_arg *params = s->cmd.argc == 2 ? &s->cmd.args[1] : NULL;
	struct qresync_param q = { 0 };

	if (s->cmd.argc < 1 || s->cmd.argc > 2 || !arg_is_string(&s->cmd.args[0]) ||
	    (params != NULL && (params->type != IMAP_ARG_LIST || parse_select_params(s, params, &q) < 0))) {
		imap_command_done(s, "BAD", "Syntax: %s mailbox [(CONDSTORE) | (QRESYNC (uidvalidity modseq [uids]))]",
				  s->cmd.name);
		return;
	}
	if ((s->qresync || s->rev2) && s->state == IMAP_STATE_SELECTED)
		imap_untagged(s, "OK [CLOSED] Previous mailbox closed"); /* RFC 7162 3.2.11, RFC 9051 */
	s->state = IMAP_STATE_AUTH; /* a failed SELECT leaves no mailbox selected */
	imap_view_close(s);
	if (imap_mailbox_find(s, s->cmd.args[0].str, &mb) != 1 ||
	    imap_view_open(s, mb.id, mb.name, readonly) < 0) {
		store_mailbox_clear(&mb);
		imap_command_done(s, "NO", "[NONEXISTENT] No such mailbox");
		return;
	}
	s->view.uidvalidity = mb.uidvalidity;
	store_mailbox_clear(&mb);
	s->state = IMAP_STATE_SELECTED;
	for (size_t i = 0; i < s->view.count && unseen == 0; i++)
		if (!(s->view.msgs[i].flags & STORE_FLAG_SEEN))
			unseen = i + 1;
	str_init(&flags);
	imap_format_flags(&s->view, IMAP_FLAGS_ALL, ~0ULL, &flags);
	imap_untagged(s, "FLAGS %s", flags.data);
	flags.data[--flags.len] = '\0'; /* reopen the list to add \* */
	str_append_cstr(&flags, flags.len > 1 ? " \\*)" : "\\*)");
	imap_untagged(s, "OK [PERMANENTFLAGS %s] Flags permitted", readonly ? "()" : flags.data);
	imap_untagged(s, "%zu EXISTS", s->view.count);
	if (s->rev2) { /* RFC 9051 6.3.2: LIST instead of RECENT and UNSEEN */
		str_clear(&flags);
		str_append_cstr(&flags, "LIST () \"/\" ");
		imap_name_out(s, s->view.name, &flags);
		imap_untagged(s, "%s", flags.data);
	} else {
		imap_untagged(s, "0 RECENT");
		if (unseen > 0)
			imap_untagged(s, "OK [UNSEEN %zu] First unseen", unseen);
	}
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", s->view.uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID", s->view.uidnext);
	imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest", (unsigned long long)s->view.highestmodseq);
	if (q.given)
		qresync_report(s, &q);
	str_free(&flags);
	imap_command_done(s, "OK", "[%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE",
			  s->cmd.name);
}

void cmd_unselect(struct imap_session *s)
{
	imap_view_close(s);
	s->state = IMAP_STATE_AUTH;
	imap_command_done(s, "OK", "UNSELECT completed");
}

/* '*' matches anything, '%' anything but the hierarchy delimiter '/'. */
static bool pattern_match(const char *pat, const char *name)
{
	for (; *pat != '\0'; pat++, name++) {
		if (*pat == '*' || *pat == '%') {
			for (const char *n = name;; n++) {
				if (pattern_match(pat + 1, n))
					return true;
				if (*n == '\0' || (*pat == '%' && *n == '/'))
					return false;
			}
		}
		if (*name == '\0' || *pat != *name)
			return false;
	}
	return *name == '\0';
}

struct list_entry {
	int64_t id;
	char *name;
	char *special_use;
	bool subscribed;
};

struct list_ctx {
	struct list_entry *entries;
	size_t count;
};

static void list_collect(const struct store_mailbox *mb, bool subscribed, void *arg)
{
	struct list_ctx *l = arg;

	l->entries = xrealloc(l->entries, (l->count + 1) * sizeof(*l->entries));
	l->entries[l->count].id = mb->id;
	l->entries[l->count].name = xstrdup(mb->name);
	l->entries[l->count].special_use = mb->special_use ? xstrdup(mb->special_use) : NULL;
	l->entries[l->count++].subscribed = subscribed;
}

static bool has_children(const struct list_ctx *l, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < l->count; i++)
		if (strncmp(l->entries[i].name, name, len) == 0 && l->entries[i].name[len] == '/')
			return true;
	return false;
}

static bool list_matches(const char *pattern, const char *name)
{
	return pattern_match(pattern, name) ||
	       (strcmp(name, "INBOX") == 0 && strncasecmp(pattern, "INBOX", 5) == 0 &&
		pattern_match(pattern + 5, ""));
}

static bool status_items_valid(const struct imap_arg *items);

/* What an extended LIST asked for (RFC 5258, 5819, 6154). */
struct list_options {
	bool lsub;
	bool only_subscribed;  /* selection SUBSCRIBED (and LSUB) */
	bool only_special_use; /* selection SPECIAL-USE */
	bool show_subscribed;  /* RETURN (SUBSCRIBED) */
	const struct imap_arg *status; /* RETURN (STATUS (...)) */
	const struct imap_arg *patterns;
	size_t pattern_count;
	const char *reference;
};

/* The reference and pattern joined, in the stored form of names (patterns'
 * wildcards are ASCII, which modified UTF-7 keeps as it is). */
static bool any_pattern_matches(const struct imap_session *s, const struct list_options *o, const char *name)
{
	for (size_t i = 0; i < o->pattern_count; i++) {
		char *joined = xasprintf("%s%s", o->reference, o->patterns[i].str);
		char *pattern = s->rev2 ? imap_utf8_to_mutf7(joined) : NULL;
		bool m = list_matches(pattern ? pattern : joined, name);
		free(pattern);
		free(joined);
		if (m)
			return true;
	}
	return false;
}

static void list_reply(struct imap_session *s, const struct list_ctx *l, const struct list_options *o)
{
	str_t line;

	str_init(&line);
	for (size_t i = 0; i < l->count; i++) {
		const struct list_entry *e = &l->entries[i];
		if (!any_pattern_matches(s, o, e->name) || (o->only_subscribed && !e->subscribed) ||
		    (o->only_special_use && e->special_use == NULL))
			continue;
		str_clear(&line);
		str_appendf(&line, "%s (%s%s%s%s) \"/\" ", o->lsub ? "LSUB" : "LIST",
			    has_children(l, e->name) ? "\\HasChildren" : "\\HasNoChildren",
			    o->show_subscribed && e->subscribed ? " \\Subscribed" : "",
			    e->special_use ? " " : "", e->special_use ? e->special_use : "");
		imap_name_out(s, e->name, &line);
		imap_untagged(s, "%s", line.data);
		if (o->status != NULL)
			imap_status_reply(s, e->id, e->name, o->status);
	}
	str_free(&line);
}

static bool has_atom(const struct imap_arg *list, const char *atom)
{
	for (size_t i = 0; i < list->count; i++)
		if (list->children[i].type == IMAP_ARG_ATOM && strcasecmp(list->children[i].str, atom) == 0)
			return true;
	return false;
}

/* LIST [(selection)] reference pattern|(patterns) [RETURN (options)]; returns 0 or -1. */
static int parse_list(struct imap_session *s, struct list_options *o)
{
	const struct imap_arg *a = s->cmd.args;
	size_t i = 0, argc = s->cmd.argc;

	o->lsub = o->only_subscribed = strcmp(s->cmd.name, "LSUB") == 0;
	if (!o->lsub && i < argc && a[i].type == IMAP_ARG_LIST) {
		o->only_subscribed = has_atom(&a[i], "SUBSCRIBED");
		o->only_special_use = has_atom(&a[i], "SPECIAL-USE");
		o->show_subscribed = o->only_subscribed;
		if (has_atom(&a[i], "RECURSIVEMATCH") && !o->only_subscribed)
			return -1; /* RFC 5258 3.1: never alone */
		i++;
	}
	if (i + 2 > argc || !arg_is_string(&a[i]))
		return -1;
	o->reference = a[i++].str;
	o->patterns = a[i].type == IMAP_ARG_LIST ? a[i].children : &a[i];
	o->pattern_count = a[i].type == IMAP_ARG_LIST ? a[i].count : 1;
	for (size_t k = 0; k < o->pattern_count; k++)
		if (!arg_is_string(&o->patterns[k]))
			return -1;
	i++;
	if (i == argc)
		return 0;
	if (o->lsub || i + 2 != argc || a[i].type != IMAP_ARG_ATOM || strcasecmp(a[i].str, "RETURN") != 0 ||
	    a[i + 1].type != IMAP_ARG_LIST)
		return -1;
	for (size_t k = 0; k < a[i + 1].count; k++) {
		const struct imap_arg *opt = &a[i + 1].children[k];
		if (opt->type == IMAP_ARG_ATOM && strcasecmp(opt->str, "STATUS") == 0 &&
		    k + 1 < a[i + 1].count && opt[1].type == IMAP_ARG_LIST && status_items_valid(&opt[1]))
			o->status = &opt[1], k++;
		else if (opt->type == IMAP_ARG_ATOM && strcasecmp(opt->str, "SUBSCRIBED") == 0)
			o->show_subscribed = true;
		else if (opt->type != IMAP_ARG_ATOM || (strcasecmp(opt->str, "CHILDREN") != 0 &&
							strcasecmp(opt->str, "SPECIAL-USE") != 0))
			return -1;
	}
	return 0;
}

void cmd_list(struct imap_session *s)
{
	struct list_ctx l = { 0 };
	struct list_options o = { 0 };

	if (parse_list(s, &o) < 0) {
		imap_command_done(s, "BAD", "Syntax: %s [(options)] reference pattern [RETURN (options)]",
				  s->cmd.name);
		return;
	}
	if (!o.lsub && o.pattern_count == 1 && o.patterns[0].str[0] == '\0') {
		imap_untagged(s, "LIST (\\Noselect) \"/\" \"\"");
		imap_command_done(s, "OK", "LIST completed");
		return;
	}
	if (store_mailbox_foreach(s->server->store, s->owner_id, list_collect, &l) < 0) {
		imap_command_done(s, "NO", "[SERVERBUG] Cannot list mailboxes");
	} else {
		list_reply(s, &l, &o);
		imap_command_done(s, "OK", "%s completed", s->cmd.name);
	}
	for (size_t i = 0; i < l.count; i++) {
		free(l.entries[i].name);
		free(l.entries[i].special_use);
	}
	free(l.entries);
}

static const char *const status_names[] = { "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY",
					     "UNSEEN", "HIGHESTMODSEQ", "SIZE", "DELETED" };
#define STATUS_ITEMS (sizeof(status_names) / sizeof(status_names[0]))

static bool status_items_valid(const struct imap_arg *items)
{
	for (size_t i = 0; i < items->count; i++) {
		size_t k = 0;
		while (k < STATUS_ITEMS && (items->children[i].type != IMAP_ARG_ATOM ||
					    strcasecmp(items->children[i].str, status_names[k]) != 0))
			k++;
		if (k == STATUS_ITEMS)
			return false;
	}
	return items->count > 0;
}

int imap_status_reply(struct imap_session *s, int64_t mailbox_id, const char *name,
		      const struct imap_arg *items)
{
	struct store_mailbox mb = { 0 };
	struct store_mailbox_counts c;
	str_t line;

	if (store_mailbox_by_name(s->server->store, s->owner_id, name, &mb) != 1 || mb.id != mailbox_id ||
	    store_mailbox_count(s->server->store, mb.id, &c) < 0) {
		store_mailbox_clear(&mb);
		return -1;
	}
	const unsigned long long values[] = { (unsigned long long)c.messages, 0, mb.uidnext, mb.uidvalidity,
					       (unsigned long long)c.unseen, mb.highestmodseq,
					       (unsigned long long)c.octets, (unsigned long long)c.deleted };
	str_init(&line);
	str_append_cstr(&line, "STATUS ");
	imap_name_out(s, mb.name, &line);
	str_append_cstr(&line, " (");
	for (size_t i = 0; i < items->count; i++) {
		size_t k = 0;
		while (strcasecmp(items->children[i].str, status_names[k]) != 0)
			k++;
		str_appendf(&line, "%s%s %llu", i ? " " : "", status_names[k], values[k]);
	}
	str_append_cstr(&line, ")");
	imap_untagged(s, "%s", line.data);
	str_free(&line);
	store_mailbox_clear(&mb);
	return 0;
}

void cmd_status(struct imap_session *s)
{
	const struct imap_arg *items = s->cmd.argc == 2 ? &s->cmd.args[1] : NULL;
	struct store_mailbox mb = { 0 };

	if (items == NULL || !arg_is_string(&s->cmd.args[0]) || items->type != IMAP_ARG_LIST ||
	    !status_items_valid(items)) {
		imap_command_done(s, "BAD", "Syntax: STATUS mailbox (MESSAGES|RECENT|UIDNEXT|UIDVALIDITY|UNSEEN|HIGHESTMODSEQ|SIZE|DELETED ...)");
		return;
	}
	if (imap_mailbox_find(s, s->cmd.args[0].str, &mb) != 1 ||
	    imap_status_reply(s, mb.id, mb.name, items) < 0)
		imap_command_done(s, "NO", "[NONEXISTENT] No such mailbox");
	else
		imap_command_done(s, "OK", "STATUS completed");
	store_mailbox_clear(&mb);
}
