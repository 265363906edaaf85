/* cmd_sort: SORT (RFC 5256, with SORT=DISPLAY of RFC 5957) and THREAD with the
 * ORDEREDSUBJECT algorithm, over the messages the search criteria select. The
 * keys come from each message's header section through the mime module. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"
#include "mime/mime.h"

#define SORT_HEADER_MAX (64 * 1024)

enum sort_key { S_ARRIVAL, S_CC, S_DATE, S_FROM, S_SIZE, S_SUBJECT, S_TO, S_DISPLAYFROM, S_DISPLAYTO };
static const char *const sort_names[] = { "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
					  "DISPLAYFROM", "DISPLAYTO" };

struct sort_item {
	size_t index; /* in the view */
	struct mime_sort_keys keys;
	int64_t date; /* sent date, else internal date */
};

struct sort_spec {
	enum sort_key key[16];
	bool reverse[16];
	size_t count;
	const struct imap_view *view;
};

static void load_keys(struct imap_session *s, struct sort_item *it)
{
	const struct store_message_ref *m = &s->view.msgs[it->index];
	size_t want = m->size < SORT_HEADER_MAX ? (size_t)m->size : SORT_HEADER_MAX;
	char *buf = xmalloc(want + 1);
	ssize_t n = store_message_read(s->server->store, m, 0, buf, want);

	mime_sort_keys(buf, n > 0 ? (size_t)n : 0, &it->keys);
	it->date = it->keys.date >= 0 ? it->keys.date : m->internal_date;
	free(buf);
}

static int compare_one(const struct sort_spec *spec, enum sort_key key, const struct sort_item *a,
		       const struct sort_item *b)
{
	const struct store_message_ref *ma = &spec->view->msgs[a->index];
	const struct store_message_ref *mb = &spec->view->msgs[b->index];

	switch (key) {
	case S_ARRIVAL: return (ma->internal_date > mb->internal_date) - (ma->internal_date < mb->internal_date);
	case S_DATE: return (a->date > b->date) - (a->date < b->date);
	case S_SIZE: return (ma->size > mb->size) - (ma->size < mb->size);
	case S_CC: return strcasecmp(a->keys.cc, b->keys.cc);
	case S_FROM: return strcasecmp(a->keys.from, b->keys.from);
	case S_TO: return strcasecmp(a->keys.to, b->keys.to);
	case S_SUBJECT: return strcasecmp(a->keys.base_subject, b->keys.base_subject);
	case S_DISPLAYFROM: return strcasecmp(a->keys.display_from, b->keys.display_from);
	case S_DISPLAYTO: return strcasecmp(a->keys.display_to, b->keys.display_to);
	}
	return 0;
}

static const struct sort_spec *current_spec; /* qsort has no context argument */

static int compare_items(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;

	for (size_t i = 0; i < current_spec->count; i++) {
		int c = compare_one(current_spec, current_spec->key[i], a, b);
		if (c != 0)
			return current_spec->reverse[i] ? -c : c;
	}
	return (a->index > b->index) - (a->index < b->index); /* ties: by number */
}

static int parse_criteria(const struct imap_arg *list, struct sort_spec *spec)
{
	bool reverse = false;

	if (list->type != IMAP_ARG_LIST || list->count == 0)
		return -1;
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->children[i];
		size_t k = 0;
		if (a->type != IMAP_ARG_ATOM)
			return -1;
		if (strcasecmp(a->str, "REVERSE") == 0 && !reverse) {
			reverse = true;
			continue;
		}
		while (k < 9 && strcasecmp(a->str, sort_names[k]) != 0)
			k++;
		if (k == 9 || spec->count == 16)
			return -1;
		spec->key[spec->count] = (enum sort_key)k;
		spec->reverse[spec->count++] = reverse;
		reverse = false;
	}
	return reverse ? -1 : 0;
}

static bool charset_ok(const struct imap_arg *a)
{
	return a->type != IMAP_ARG_LIST &&
	       (strcasecmp(a->str, "UTF-8") == 0 || strcasecmp(a->str, "US-ASCII") == 0);
}

static uint32_t number_of(struct imap_session *s, size_t index)
{
	return s->cmd.uid ? s->view.msgs[index].uid : (uint32_t)(index + 1);
}

/* ORDEREDSUBJECT (RFC 5256 3): threads of equal base subject, each in date order,
 * the threads in the order of their first messages. items come sorted by
 * (subject, date, number). */
static void thread_reply(struct imap_session *s, struct sort_item *items, size_t n)
{
	struct { size_t first, count; } *threads = xcalloc(n ? n : 1, sizeof(*threads));
	size_t nt = 0;
	str_t line;

	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcasecmp(items[i].keys.base_subject, items[i - 1].keys.base_subject) != 0)
			threads[nt++].first = i;
		threads[nt - 1].count++;
	}
	/* Threads by their first message's date, then number: a stable insertion sort. */
	for (size_t i = 1; i < nt; i++)
		for (size_t j = i; j > 0; j--) {
			const struct sort_item *a = &items[threads[j - 1].first], *b = &items[threads[j].first];
			if (a->date < b->date || (a->date == b->date && a->index < b->index))
				break;
			typeof(threads[0]) t = threads[j];
			threads[j] = threads[j - 1], threads[j - 1] = t;
		}
	str_init(&line);
	str_append_cstr(&line, "THREAD");
	for (size_t t = 0; t < nt; t++) {
		struct sort_item *first = &items[threads[t].first];
		str_appendf(&line, t == 0 ? " (%u" : "(%u", number_of(s, first->index));
		if (threads[t].count == 2)
			str_appendf(&line, " %u", number_of(s, first[1].index));
		else
			for (size_t k = 1; k < threads[t].count; k++)
				str_appendf(&line, "%s(%u)", k == 1 ? " " : "", number_of(s, first[k].index));
		str_append(&line, ")", 1);
	}
	imap_untagged(s, "%s", line.data);
	str_free(&line);
	free(threads);
}

void cmd_sort(struct imap_session *s)
{
	bool thread = strcmp(s->cmd.name, "THREAD") == 0;
	struct sort_spec spec = { .view = &s->view };
	struct sort_item *items;
	size_t *idx = NULL, n = 0;
	str_t line;

	if (s->cmd.argc < 3 || !charset_ok(&s->cmd.args[1]) ||
	    (thread ? s->cmd.args[0].type != IMAP_ARG_ATOM || strcasecmp(s->cmd.args[0].str, "ORDEREDSUBJECT") != 0
		    : parse_criteria(&s->cmd.args[0], &spec) < 0) ||
	    imap_search_select(s, s->cmd.args + 2, s->cmd.argc - 2, &idx, &n) < 0) {
		imap_command_done(s, "BAD", thread ? "Syntax: THREAD ORDEREDSUBJECT charset criteria"
						   : "Syntax: SORT (criteria) charset criteria");
		return;
	}
	if (thread) { /* sorted by subject, then date, then number */
		spec.key[0] = S_SUBJECT, spec.key[1] = S_DATE, spec.count = 2;
	}
	items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		items[i].index = idx[i];
		load_keys(s, &items[i]);
	}
	current_spec = &spec;
	qsort(items, n, sizeof(*items), compare_items);
	if (thread) {
		thread_reply(s, items, n);
	} else {
		str_init(&line);
		str_append_cstr(&line, "SORT");
		for (size_t i = 0; i < n; i++)
			str_appendf(&line, " %u", number_of(s, items[i].index));
		imap_untagged(s, "%s", line.data);
		str_free(&line);
	}
	for (size_t i = 0; i < n; i++)
		mime_sort_keys_free(&items[i].keys);
	free(items);
	free(idx);
	imap_command_done(s, "OK", "%s completed", s->cmd.name);
}
