/* cmd_mailbox: SELECT and EXAMINE, UNSELECT, LIST and LSUB, STATUS. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"

static bool arg_is_string(const struct imap_arg *a)
{
	return a->type != IMAP_ARG_LIST;
}

void cmd_select(struct imap_session *s)
{
	struct store_mailbox mb = { 0 };
	bool readonly = strcmp(s->cmd.name, "EXAMINE") == 0;
	size_t unseen = 0;
	str_t flags;

	const struct imap_arg *params = s->cmd.argc == 2 ? &s->cmd.args[1] : NULL;

	if (s->cmd.argc < 1 || s->cmd.argc > 2 || !arg_is_string(&s->cmd.args[0]) ||
	    (params != NULL && (params->type != IMAP_ARG_LIST || params->count != 1 ||
				params->children[0].type != IMAP_ARG_ATOM ||
				strcasecmp(params->children[0].str, "CONDSTORE") != 0))) {
		imap_command_done(s, "BAD", "Syntax: %s mailbox [(CONDSTORE)]", s->cmd.name);
		return;
	}
	if (params != NULL)
		s->condstore = true;
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
	imap_untagged(s, "0 RECENT");
	if (unseen > 0)
		imap_untagged(s, "OK [UNSEEN %zu] First unseen", unseen);
	imap_untagged(s, "OK [UIDVALIDITY %u] UIDs valid", s->view.uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %u] Predicted next UID", s->view.uidnext);
	imap_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest", (unsigned long long)s->view.highestmodseq);
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

static void list_reply(struct imap_session *s, const struct list_ctx *l, const char *pattern,
		       bool lsub)
{
	str_t line;

	str_init(&line);
	for (size_t i = 0; i < l->count; i++) {
		const struct list_entry *e = &l->entries[i];
		if (!list_matches(pattern, e->name) || (lsub && !e->subscribed))
			continue;
		str_clear(&line);
		str_appendf(&line, "%s (%s%s%s) \"/\" ", lsub ? "LSUB" : "LIST",
			    has_children(l, e->name) ? "\\HasChildren" : "\\HasNoChildren",
			    e->special_use ? " " : "", e->special_use ? e->special_use : "");
		imap_append_string(&line, e->name, strlen(e->name));
		imap_untagged(s, "%s", line.data);
	}
	str_free(&line);
}

void cmd_list(struct imap_session *s)
{
	struct list_ctx l = { 0 };
	bool lsub = strcmp(s->cmd.name, "LSUB") == 0;
	char *pattern;

	if (s->cmd.argc != 2 || !arg_is_string(&s->cmd.args[0]) || !arg_is_string(&s->cmd.args[1])) {
		imap_command_done(s, "BAD", "Syntax: %s reference pattern", s->cmd.name);
		return;
	}
	if (s->cmd.args[1].str[0] == '\0' && !lsub) {
		imap_untagged(s, "LIST (\\Noselect) \"/\" \"\"");
		imap_command_done(s, "OK", "LIST completed");
		return;
	}
	pattern = xasprintf("%s%s", s->cmd.args[0].str, s->cmd.args[1].str);
	if (store_mailbox_foreach(s->server->store, s->owner_id, list_collect, &l) < 0) {
		imap_command_done(s, "NO", "[SERVERBUG] Cannot list mailboxes");
	} else {
		list_reply(s, &l, pattern, lsub);
		imap_command_done(s, "OK", "%s completed", s->cmd.name);
	}
	for (size_t i = 0; i < l.count; i++) {
		free(l.entries[i].name);
		free(l.entries[i].special_use);
	}
	free(l.entries);
	free(pattern);
}

void cmd_status(struct imap_session *s)
{
	const struct imap_arg *items = s->cmd.argc == 2 ? &s->cmd.args[1] : NULL;
	struct store_mailbox mb = { 0 };
	struct store_message_ref *refs = NULL;
	size_t count = 0, unseen = 0;
	str_t line;

	if (items == NULL || !arg_is_string(&s->cmd.args[0]) || items->type != IMAP_ARG_LIST) {
		imap_command_done(s, "BAD", "Syntax: STATUS mailbox (items)");
		return;
	}
	if (imap_mailbox_find(s, s->cmd.args[0].str, &mb) != 1 ||
	    store_mailbox_messages(s->server->store, mb.id, &refs, &count) < 0) {
		store_mailbox_clear(&mb);
		imap_command_done(s, "NO", "[NONEXISTENT] No such mailbox");
		return;
	}
	for (size_t i = 0; i < count; i++)
		unseen += !(refs[i].flags & STORE_FLAG_SEEN);
	str_init(&line);
	str_append_cstr(&line, "STATUS ");
	imap_append_string(&line, mb.name, strlen(mb.name));
	str_append_cstr(&line, " (");
	for (size_t i = 0; i < items->count; i++) {
		const char *item = items->children[i].type == IMAP_ARG_ATOM ? items->children[i].str : "";
		const unsigned long long values[] = { count, 0, mb.uidnext, mb.uidvalidity, unseen,
						       mb.highestmodseq };
		static const char *const names[] = { "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY",
						     "UNSEEN", "HIGHESTMODSEQ" };
		size_t k = 0;
		while (k < 6 && strcasecmp(item, names[k]) != 0)
			k++;
		if (k == 6) {
			imap_command_done(s, "BAD", "Unknown STATUS item");
			goto out;
		}
		str_appendf(&line, "%s%s %llu", i ? " " : "", names[k], values[k]);
	}
	str_append_cstr(&line, ")");
	imap_untagged(s, "%s", line.data);
	imap_command_done(s, "OK", "STATUS completed");
out:
	str_free(&line);
	free(refs);
	store_mailbox_clear(&mb);
}
