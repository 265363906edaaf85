/* cmd_sort: SORT and UID SORT (RFC 5256, with SORT=DISPLAY of RFC 5957 and the
 * RETURN options of ESORT and CONTEXT=SORT, RFC 5267) over the messages the
 * search criteria select. The keys come from each message's header section
 * through the mime module (imap_sort_keys_load, which THREAD uses too). */
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

void imap_sort_keys_load(struct imap_session *s, size_t index, struct mime_sort_keys *keys,
			 int64_t *date_r)
{
	const struct store_message_ref *m = &s->view.msgs[index];
	size_t want = m->size < SORT_HEADER_MAX ? (size_t)m->size : SORT_HEADER_MAX;
	char *buf = xmalloc(want + 1);
	ssize_t n = store_message_read(s->server->store, m, 0, buf, want);

	mime_sort_keys(buf, n > 0 ? (size_t)n : 0, keys);
	*date_r = keys->date >= 0 ? keys->date : m->internal_date;
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

int imap_sort_indexes(struct imap_session *s, const struct imap_arg *criteria, size_t *idx, size_t n)
{
	struct sort_spec spec = { .view = &s->view };
	struct sort_item *items;

	if (parse_criteria(criteria, &spec) < 0)
		return -1;
	items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		items[i].index = idx[i];
		imap_sort_keys_load(s, idx[i], &items[i].keys, &items[i].date);
	}
	current_spec = &spec;
	qsort(items, n, sizeof(*items), compare_items);
	for (size_t i = 0; i < n; i++) {
		idx[i] = items[i].index;
		mime_sort_keys_free(&items[i].keys);
	}
	free(items);
	return 0;
}

static void reply_plain(struct imap_session *s, const uint32_t *hits, size_t n)
{
	str_t line;

	str_init(&line);
	str_append_cstr(&line, "SORT");
	for (size_t i = 0; i < n; i++)
		str_appendf(&line, " %u", hits[i]);
	imap_untagged(s, "%s", line.data);
	str_free(&line);
}

/* [RETURN (options)] (criteria) charset search-keys */
void cmd_sort(struct imap_session *s)
{
	const struct imap_arg *a = s->cmd.args;
	struct imap_return ret;
	size_t pos = 0, *idx = NULL, n = 0;
	int has_return = imap_return_parse(a, s->cmd.argc, &pos, &ret);
	uint32_t *hits;

	if (has_return < 0 || s->cmd.argc < pos + 3 || !charset_ok(&a[pos + 1]) ||
	    imap_context_check(s, &ret) < 0 ||
	    imap_search_select(s, a + pos + 2, s->cmd.argc - pos - 2, &idx, &n) < 0 ||
	    imap_sort_indexes(s, &a[pos], idx, n) < 0) {
		free(idx);
		imap_command_done(s, "BAD", "Syntax: SORT [RETURN (options)] (criteria) charset criteria");
		return;
	}
	hits = xcalloc(n ? n : 1, sizeof(*hits));
	for (size_t i = 0; i < n; i++)
		hits[i] = s->cmd.uid ? s->view.msgs[idx[i]].uid : (uint32_t)(idx[i] + 1);
	if (has_return)
		imap_results_reply(s, &ret, hits, n, 0);
	else
		reply_plain(s, hits, n);
	if (ret.opts & RET_UPDATE)
		imap_context_add(s, &a[pos], a + pos + 2, s->cmd.argc - pos - 2, idx, n);
	free(hits);
	free(idx);
	imap_command_done(s, "OK", "SORT completed");
}
