/* cmd_notify: NOTIFY (RFC 5465). NOTIFY SET [STATUS] (filter events)... says
 * which mailboxes the client wants to hear about unasked, NOTIFY NONE stops it.
 * While it is set, a timer looks twice a second (between commands, or in IDLE):
 * the selected mailbox is synced as NOOP would (EXISTS, EXPUNGE, FETCH, plus the
 * FETCH items MessageNew asked for); other mailboxes are compared with what the
 * session last saw of them (UIDNEXT, HIGHESTMODSEQ, counts, name, subscription)
 * and reported as STATUS and LIST responses. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"

#define NOTIFY_POLL_MS 500
#define GROUPS_MAX 32
#define NAMES_MAX 100

enum {
	EV_NEW = 1, EV_EXPUNGE = 2, EV_FLAGS = 4, EV_MAILBOX_NAME = 8, EV_SUBSCRIPTION = 16,
	EV_MESSAGES = EV_NEW | EV_EXPUNGE | EV_FLAGS,
};
enum filter { F_SELECTED, F_SELECTED_DELAYED, F_INBOXES, F_PERSONAL, F_SUBSCRIBED, F_SUBTREE, F_MAILBOXES };
static const char *const filter_names[] = { "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL",
					    "SUBSCRIBED", "SUBTREE", "MAILBOXES" };
static const struct { const char *name; unsigned event; } event_names[] = {
	{ "MessageNew", EV_NEW }, { "MessageExpunge", EV_EXPUNGE }, { "FlagChange", EV_FLAGS },
	{ "MailboxName", EV_MAILBOX_NAME }, { "SubscriptionChange", EV_SUBSCRIPTION },
};

struct group {
	enum filter filter;
	char **names; /* SUBTREE, MAILBOXES */
	size_t name_count;
	unsigned events;
	struct imap_arg fetch; /* MessageNew's items (a copy); count 0 if none */
};

/* What the session last saw of one of the user's mailboxes. */
struct seen_mailbox {
	int64_t id;
	char *name;
	bool subscribed;
	uint32_t uidnext;
	uint64_t modseq;
	int64_t messages, unseen;
};

struct imap_notify {
	struct group *groups;
	size_t group_count;
	struct seen_mailbox *seen;
	size_t seen_count;
	net_timer_t *timer;
};

static void seen_free(struct seen_mailbox *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].name);
	free(m);
}

static void groups_free(struct group *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < g[i].name_count; k++)
			free(g[i].names[k]);
		free(g[i].names);
		imap_arg_free(&g[i].fetch);
	}
	free(g);
}

void imap_notify_free(struct imap_session *s)
{
	if (s->notify == NULL)
		return;
	groups_free(s->notify->groups, s->notify->group_count);
	seen_free(s->notify->seen, s->notify->seen_count);
	net_timer_free(&s->notify->timer);
	x_free(&s->notify);
}

/* ---- which group speaks for a mailbox ---- */

static bool filter_matches(const struct group *g, const struct seen_mailbox *m)
{
	switch (g->filter) {
	case F_INBOXES: return strcmp(m->name, "INBOX") == 0; /* the only one mail is delivered to */
	case F_PERSONAL: return true;
	case F_SUBSCRIBED: return m->subscribed;
	case F_MAILBOXES:
	case F_SUBTREE:
		for (size_t i = 0; i < g->name_count; i++) {
			size_t len = strlen(g->names[i]);
			if (strcmp(m->name, g->names[i]) == 0 ||
			    (g->filter == F_SUBTREE && strncmp(m->name, g->names[i], len) == 0 && m->name[len] == '/'))
				return true;
		}
		return false;
	default:
		return false;
	}
}

/* The first group whose filter names this (not selected) mailbox, or NULL. */
static const struct group *group_for(const struct imap_session *s, const struct seen_mailbox *m)
{
	for (size_t i = 0; i < s->notify->group_count; i++)
		if (filter_matches(&s->notify->groups[i], m))
			return &s->notify->groups[i];
	return NULL;
}

static const struct group *selected_group(const struct imap_session *s)
{
	for (size_t i = 0; s->notify != NULL && i < s->notify->group_count; i++)
		if (s->notify->groups[i].filter <= F_SELECTED_DELAYED)
			return &s->notify->groups[i];
	return NULL;
}

/* ---- the poll ---- */

static void status_line(struct imap_session *s, const struct seen_mailbox *m)
{
	static struct imap_arg atoms[] = {
		{ IMAP_ARG_ATOM, "MESSAGES", 8, NULL, 0 }, { IMAP_ARG_ATOM, "UIDNEXT", 7, NULL, 0 },
		{ IMAP_ARG_ATOM, "UNSEEN", 6, NULL, 0 },   { IMAP_ARG_ATOM, "HIGHESTMODSEQ", 13, NULL, 0 },
	};
	struct imap_arg items = { .type = IMAP_ARG_LIST, .children = atoms, .count = s->condstore ? 4 : 3 };

	imap_status_reply(s, m->id, m->name, &items);
}

static void list_line(struct imap_session *s, const char *attributes, const char *name, const char *old_name)
{
	str_t line;

	str_init(&line);
	str_appendf(&line, "LIST (%s) \"/\" ", attributes);
	imap_name_out(s, name, &line);
	if (old_name != NULL) {
		str_append_cstr(&line, " (\"OLDNAME\" (");
		imap_name_out(s, old_name, &line);
		str_append_cstr(&line, "))");
	}
	imap_untagged(s, "%s", line.data);
	str_free(&line);
}

static void collect(const struct store_mailbox *mb, bool subscribed, void *arg)
{
	struct imap_notify *n = arg;
	struct seen_mailbox *m;

	n->seen = xrealloc(n->seen, (n->seen_count + 1) * sizeof(*n->seen));
	m = &n->seen[n->seen_count++];
	*m = (struct seen_mailbox){ mb->id, xstrdup(mb->name), subscribed, mb->uidnext, mb->highestmodseq, 0, 0 };
}

static const struct seen_mailbox *find_seen(const struct seen_mailbox *list, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].id == id)
			return &list[i];
	return NULL;
}

/* The user's mailboxes now. Counting costs a scan of the mailbox, so it is done
 * only where UIDNEXT or HIGHESTMODSEQ moved since before (a list, or NULL). */
static int snapshot(struct imap_session *s, const struct seen_mailbox *before, size_t nbefore,
		    struct seen_mailbox **out, size_t *count)
{
	struct imap_notify now = { 0 };

	if (store_mailbox_foreach(s->server->store, s->owner_id, collect, &now) < 0) {
		seen_free(now.seen, now.seen_count);
		return -1;
	}
	for (size_t i = 0; i < now.seen_count; i++) {
		struct seen_mailbox *m = &now.seen[i];
		const struct seen_mailbox *was = find_seen(before, nbefore, m->id);
		struct store_mailbox_counts c = { 0 };
		if (was != NULL && was->uidnext == m->uidnext && was->modseq == m->modseq) {
			m->messages = was->messages, m->unseen = was->unseen;
			continue;
		}
		store_mailbox_count(s->server->store, m->id, &c);
		m->messages = c.messages;
		m->unseen = c.unseen;
	}
	*out = now.seen;
	*count = now.seen_count;
	return 0;
}

/* What changed in one mailbox, as events. */
static unsigned message_events(const struct seen_mailbox *was, const struct seen_mailbox *is)
{
	unsigned ev = 0;
	int64_t added = (int64_t)is->uidnext - (int64_t)was->uidnext;

	if (is->modseq == was->modseq && added == 0)
		return 0;
	if (added > 0)
		ev |= EV_NEW;
	if (is->messages < was->messages + added)
		ev |= EV_EXPUNGE;
	if (is->unseen != was->unseen || !(ev & (EV_NEW | EV_EXPUNGE)))
		ev |= EV_FLAGS;
	return ev;
}

static void report_mailbox(struct imap_session *s, const struct seen_mailbox *was, const struct seen_mailbox *is)
{
	const struct group *g = group_for(s, is);
	unsigned events = g ? g->events : 0;

	if (was == NULL) {
		if (events & EV_MAILBOX_NAME)
			list_line(s, is->subscribed && (events & EV_SUBSCRIPTION) ? "\\Subscribed" : "", is->name, NULL);
		return;
	}
	if (strcmp(was->name, is->name) != 0 && (events & EV_MAILBOX_NAME))
		list_line(s, "", is->name, was->name);
	else if (was->subscribed != is->subscribed && (events & EV_SUBSCRIPTION))
		list_line(s, is->subscribed ? "\\Subscribed" : "", is->name, NULL);
	if (s->state == IMAP_STATE_SELECTED && is->id == s->view.id)
		return; /* the selected mailbox speaks through EXISTS, EXPUNGE and FETCH */
	if (message_events(was, is) & events)
		status_line(s, is);
}

static void poll_selected(struct imap_session *s)
{
	const struct group *g = selected_group(s);
	size_t added;

	if (g == NULL || !(g->events & EV_MESSAGES) || s->state != IMAP_STATE_SELECTED)
		return;
	added = g->filter == F_SELECTED ? imap_view_sync(s) : imap_view_sync_no_expunge(s);
	if (added > 0 && g->fetch.count > 0)
		imap_fetch_push(s, &g->fetch, s->view.count - added, added);
}

static void poll_mailboxes(struct imap_session *s)
{
	struct imap_notify *n = s->notify;
	struct seen_mailbox *now;
	size_t count;

	if (snapshot(s, n->seen, n->seen_count, &now, &count) < 0)
		return;
	for (size_t i = 0; i < count; i++)
		report_mailbox(s, find_seen(n->seen, n->seen_count, now[i].id), &now[i]);
	for (size_t i = 0; i < n->seen_count; i++) {
		const struct group *g = group_for(s, &n->seen[i]);
		if (find_seen(now, count, n->seen[i].id) == NULL && g && (g->events & EV_MAILBOX_NAME))
			list_line(s, "\\NonExistent", n->seen[i].name, NULL);
	}
	seen_free(n->seen, n->seen_count);
	n->seen = now;
	n->seen_count = count;
}

static void notify_tick(void *arg)
{
	struct imap_session *s = arg;

	if (s->conn == NULL || s->notify == NULL)
		return;
	if (!s->in_command || s->idling) { /* never inside another command's answer */
		poll_selected(s);
		poll_mailboxes(s);
	}
	net_timer_start(s->notify->timer, NOTIFY_POLL_MS);
}

/* ---- NOTIFY SET / NONE ---- */

static int parse_events(const struct imap_arg *a, struct group *g, const char **bad_event)
{
	if (a->type == IMAP_ARG_ATOM && strcasecmp(a->str, "NONE") == 0)
		return 0;
	if (a->type != IMAP_ARG_LIST || a->count == 0)
		return -1;
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *e = &a->children[i];
		size_t k = 0;
		if (e->type != IMAP_ARG_ATOM)
			return -1;
		while (k < sizeof(event_names) / sizeof(event_names[0]) && strcasecmp(e->str, event_names[k].name) != 0)
			k++;
		if (k == sizeof(event_names) / sizeof(event_names[0])) {
			*bad_event = e->str;
			return -1;
		}
		g->events |= event_names[k].event;
		if (event_names[k].event == EV_NEW && i + 1 < a->count && e[1].type == IMAP_ARG_LIST) {
			if (g->filter > F_SELECTED_DELAYED || !imap_fetch_atts_valid(&e[1]))
				return -1; /* FETCH items only for the selected mailbox, and only peeks */
			imap_arg_copy(&g->fetch, &e[1]);
			i++;
		}
	}
	/* RFC 5465 5: new and expunge come together; flag changes need both. */
	if (!(g->events & EV_NEW) != !(g->events & EV_EXPUNGE) ||
	    ((g->events & EV_FLAGS) && !(g->events & EV_NEW)))
		return -1;
	return 0;
}

static int parse_group(struct imap_session *s, const struct imap_arg *a, struct group *g, const char **bad_event)
{
	size_t k = 0, at = 1;

	if (a->type != IMAP_ARG_LIST || a->count < 2 || a->children[0].type != IMAP_ARG_ATOM)
		return -1;
	while (k < sizeof(filter_names) / sizeof(filter_names[0]) &&
	       strcasecmp(a->children[0].str, filter_names[k]) != 0)
		k++;
	if (k == sizeof(filter_names) / sizeof(filter_names[0]))
		return -1;
	g->filter = (enum filter)k;
	if (g->filter == F_SUBTREE || g->filter == F_MAILBOXES) {
		const struct imap_arg *names = &a->children[at++];
		size_t n = names->type == IMAP_ARG_LIST ? names->count : 1;
		if (n == 0 || n > NAMES_MAX || at >= a->count)
			return -1;
		g->names = xcalloc(n, sizeof(char *));
		for (size_t i = 0; i < n; i++) {
			const struct imap_arg *name = names->type == IMAP_ARG_LIST ? &names->children[i] : names;
			if (name->type == IMAP_ARG_LIST)
				return -1;
			if ((g->names[g->name_count] = imap_name_in(s, name->str)) == NULL)
				return -1;
			g->name_count++;
		}
	}
	if (at + 1 != a->count)
		return -1;
	return parse_events(&a->children[at], g, bad_event);
}

static void notify_bad(struct imap_session *s, struct group *groups, size_t n, const char *bad_event)
{
	groups_free(groups, n);
	if (bad_event != NULL)
		imap_command_done(s, "NO", "[BADEVENT (MessageNew MessageExpunge FlagChange MailboxName"
					   " SubscriptionChange)] Event %s is not supported",
				  imap_url_printable(bad_event));
	else
		imap_command_done(s, "BAD", "Syntax: NOTIFY SET [STATUS] (filter (events))... | NOTIFY NONE");
}

void cmd_notify(struct imap_session *s)
{
	const struct imap_arg *a = s->cmd.args;
	size_t pos = 1, n = 0;
	struct group *groups;
	const char *bad_event = NULL;
	bool status = false;

	if (s->cmd.argc == 1 && a[0].type == IMAP_ARG_ATOM && strcasecmp(a[0].str, "NONE") == 0) {
		imap_notify_free(s);
		imap_command_done(s, "OK", "NOTIFY completed");
		return;
	}
	if (s->cmd.argc < 2 || a[0].type != IMAP_ARG_ATOM || strcasecmp(a[0].str, "SET") != 0 ||
	    s->cmd.argc > GROUPS_MAX + 2) {
		notify_bad(s, NULL, 0, NULL);
		return;
	}
	if (a[1].type == IMAP_ARG_ATOM && strcasecmp(a[1].str, "STATUS") == 0)
		status = true, pos++;
	groups = xcalloc(s->cmd.argc, sizeof(*groups));
	for (; pos < s->cmd.argc; pos++)
		if (parse_group(s, &a[pos], &groups[n++], &bad_event) < 0) {
			notify_bad(s, groups, n, bad_event);
			return;
		}
	if (n == 0) {
		notify_bad(s, groups, n, NULL);
		return;
	}
	imap_notify_free(s);
	s->notify = xcalloc(1, sizeof(*s->notify));
	s->notify->groups = groups;
	s->notify->group_count = n;
	snapshot(s, NULL, 0, &s->notify->seen, &s->notify->seen_count);
	for (size_t i = 0; status && i < s->notify->seen_count; i++) {
		const struct seen_mailbox *m = &s->notify->seen[i];
		const struct group *g = group_for(s, m);
		if (g != NULL && (g->events & EV_MESSAGES) && !(s->state == IMAP_STATE_SELECTED && m->id == s->view.id))
			status_line(s, m);
	}
	s->notify->timer = net_timer_new(s->server->loop, notify_tick, s);
	net_timer_start(s->notify->timer, NOTIFY_POLL_MS);
	imap_command_done(s, "OK", "NOTIFY completed");
}
