/* imap_results: what SEARCH and SORT return: the RETURN options (ESEARCH, RFC
 * 4731; ESORT, CONTEXT=SEARCH and CONTEXT=SORT, RFC 5267), the ESEARCH answer, and
 * the updating contexts that keep answering (ADDTO / REMOVEFROM) as the selected
 * mailbox changes. A context keeps a copy of its criteria and re-runs them when
 * the view has changed since it last looked; results are kept as UIDs in result
 * order and turned into message numbers only when written. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"

#define CONTEXTS_MAX 8

struct imap_context {
	char *tag;
	bool uid;
	bool sorted;
	struct imap_arg sort_criteria; /* a copy; unused for SEARCH */
	struct imap_arg keys;          /* a copy: a list of the search keys */
	uint32_t *uids;                /* the current result, in result order */
	size_t count;
	uint64_t generation;           /* of the view when last evaluated */
};

static const struct { const char *name; unsigned opt; } return_names[] = {
	{ "MIN", RET_MIN },	      { "MAX", RET_MAX },	  { "COUNT", RET_COUNT },
	{ "ALL", RET_ALL },	      { "SAVE", RET_SAVE },	  { "UPDATE", RET_UPDATE },
	{ "CONTEXT", RET_CONTEXT }, { "PARTIAL", RET_PARTIAL },
};

/* "m:n" of PARTIAL: two numbers from 1, either order. */
static int parse_partial(const struct imap_arg *a, struct imap_return *r)
{
	struct imap_seqset set;
	int rc = -1;

	if (a == NULL || a->type != IMAP_ARG_ATOM || strchr(a->str, '*') != NULL ||
	    strchr(a->str, ',') != NULL || imap_seqset_parse(a->str, 0, &set) < 0)
		return -1;
	if (set.count == 1) {
		r->partial_lo = set.ranges[0].lo;
		r->partial_hi = set.ranges[0].hi;
		rc = 0;
	}
	imap_seqset_free(&set);
	return rc;
}

int imap_return_parse(const struct imap_arg *args, size_t argc, size_t *pos, struct imap_return *r)
{
	const struct imap_arg *list;

	memset(r, 0, sizeof(*r));
	if (*pos + 1 >= argc || args[*pos].type != IMAP_ARG_ATOM || strcasecmp(args[*pos].str, "RETURN") != 0)
		return 0;
	list = &args[*pos + 1];
	if (list->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < list->count; i++) {
		size_t k = 0;
		while (k < sizeof(return_names) / sizeof(return_names[0]) &&
		       (list->children[i].type != IMAP_ARG_ATOM ||
			strcasecmp(list->children[i].str, return_names[k].name) != 0))
			k++;
		if (k == sizeof(return_names) / sizeof(return_names[0]) || (r->opts & return_names[k].opt))
			return -1;
		r->opts |= return_names[k].opt;
		if (return_names[k].opt == RET_PARTIAL &&
		    parse_partial(i + 1 < list->count ? &list->children[++i] : NULL, r) < 0)
			return -1;
	}
	if ((r->opts & RET_PARTIAL) && (r->opts & RET_ALL))
		return -1; /* RFC 5267 4.4 */
	/* Nothing that answers (CONTEXT and UPDATE do not): ALL, as with RETURN (). */
	if (!(r->opts & (RET_MIN | RET_MAX | RET_COUNT | RET_ALL | RET_SAVE | RET_PARTIAL)))
		r->opts |= RET_ALL;
	*pos += 2;
	return 1;
}

static void append_partial(str_t *line, const struct imap_return *r, const uint32_t *hits, size_t n)
{
	size_t lo = r->partial_lo - 1, hi = r->partial_hi;

	str_appendf(line, " PARTIAL (%u:%u ", r->partial_lo, r->partial_hi);
	if (lo >= n) {
		str_append_cstr(line, "NIL");
	} else {
		imap_seqset_format(hits + lo, (hi < n ? hi : n) - lo, line);
	}
	str_append(line, ")", 1);
}

static void start_esearch(const char *tag, bool uid, str_t *line)
{
	str_init(line);
	str_append_cstr(line, "ESEARCH (TAG ");
	imap_append_string(line, tag, strlen(tag));
	str_append_cstr(line, uid ? ") UID" : ")");
}

void imap_results_reply(struct imap_session *s, const struct imap_return *r, const uint32_t *hits,
			size_t n, uint64_t highest_modseq)
{
	str_t line;

	if ((r->opts & ~(RET_SAVE | RET_UPDATE | RET_CONTEXT)) == 0)
		return; /* SAVE alone: no answer (RFC 5182 2.1) */
	start_esearch(s->cmd.tag, s->cmd.uid, &line);
	if ((r->opts & RET_MIN) && n > 0)
		str_appendf(&line, " MIN %u", hits[0]);
	if ((r->opts & RET_MAX) && n > 0)
		str_appendf(&line, " MAX %u", hits[n - 1]);
	if (r->opts & RET_COUNT)
		str_appendf(&line, " COUNT %zu", n);
	if ((r->opts & RET_ALL) && n > 0) {
		str_append_cstr(&line, " ALL ");
		imap_seqset_format(hits, n, &line);
	}
	if (r->opts & RET_PARTIAL)
		append_partial(&line, r, hits, n);
	if (highest_modseq > 0)
		str_appendf(&line, " MODSEQ %llu", (unsigned long long)highest_modseq);
	imap_untagged(s, "%s", line.data);
	str_free(&line);
}

/* ---- updating contexts ---- */

static struct imap_context *context_find(struct imap_view *v, const char *tag)
{
	for (size_t i = 0; i < v->context_count; i++)
		if (strcmp(v->contexts[i]->tag, tag) == 0)
			return v->contexts[i];
	return NULL;
}

static void context_free(struct imap_context *c)
{
	free(c->tag);
	imap_arg_free(&c->sort_criteria);
	imap_arg_free(&c->keys);
	free(c->uids);
	free(c);
}

void imap_contexts_free(struct imap_view *v)
{
	for (size_t i = 0; i < v->context_count; i++)
		context_free(v->contexts[i]);
	x_free(&v->contexts);
	v->context_count = 0;
}

int imap_context_check(struct imap_session *s, const struct imap_return *r)
{
	if (!(r->opts & RET_UPDATE))
		return 0;
	if (context_find(&s->view, s->cmd.tag) != NULL)
		return -1; /* RFC 5267 4.3: BAD */
	if (s->view.context_count >= CONTEXTS_MAX) {
		str_t code;
		str_init(&code);
		imap_append_string(&code, s->cmd.tag, strlen(s->cmd.tag));
		imap_untagged(s, "NO [NOUPDATE %s] Too many updating contexts", code.data);
		str_free(&code);
	}
	return 0;
}

void imap_context_add(struct imap_session *s, const struct imap_arg *sort_criteria,
		      const struct imap_arg *keys, size_t nkeys, const size_t *idx, size_t n)
{
	struct imap_context *c;
	struct imap_arg list = { .type = IMAP_ARG_LIST, .children = (struct imap_arg *)keys, .count = nkeys };

	if (s->view.context_count >= CONTEXTS_MAX)
		return; /* refused with NOUPDATE by imap_context_check */
	c = xcalloc(1, sizeof(*c));
	c->tag = xstrdup(s->cmd.tag);
	c->uid = s->cmd.uid;
	c->sorted = sort_criteria != NULL;
	if (sort_criteria != NULL)
		imap_arg_copy(&c->sort_criteria, sort_criteria);
	imap_arg_copy(&c->keys, &list);
	c->uids = xcalloc(n ? n : 1, sizeof(*c->uids));
	for (size_t i = 0; i < n; i++)
		c->uids[i] = s->view.msgs[idx[i]].uid;
	c->count = n;
	c->generation = s->view.generation;
	s->view.contexts = xrealloc(s->view.contexts, (s->view.context_count + 1) * sizeof(c));
	s->view.contexts[s->view.context_count++] = c;
}

/* The message number of a UID in the view, or 0. */
static uint32_t number_of_uid(const struct imap_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->count && v->msgs[lo].uid == uid ? (uint32_t)(lo + 1) : 0;
}

/* Writes the UIDs (in result order) as UIDs or as message numbers. */
static void append_numbers(const struct imap_view *v, const struct imap_context *c, const uint32_t *uids,
			   size_t n, str_t *line)
{
	uint32_t *numbers = xcalloc(n ? n : 1, sizeof(*numbers));

	for (size_t i = 0; i < n; i++)
		numbers[i] = c->uid ? uids[i] : number_of_uid(v, uids[i]);
	imap_seqset_format(numbers, n, line);
	free(numbers);
}

static bool uid_in(const uint32_t *sorted, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sorted[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && sorted[lo] == uid;
}

static int compare_uids(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static uint32_t *sorted_copy(const uint32_t *uids, size_t n)
{
	uint32_t *copy = xcalloc(n ? n : 1, sizeof(*copy));

	memcpy(copy, uids, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), compare_uids);
	return copy;
}

/* One ADDTO or REMOVEFROM item. pos[i] is the position of uids[i]; a run that
 * fills consecutive places becomes one pair: added ones take successive
 * positions, removed ones each take the place of the one before. A SEARCH
 * context's results are in mailbox order: one pair, position 0. */
static void append_changes(const struct imap_view *v, const struct imap_context *c, bool adding,
			   const uint32_t *uids, const size_t *pos, size_t n, str_t *line)
{
	str_append_cstr(line, adding ? " ADDTO (" : " REMOVEFROM (");
	for (size_t i = 0; i < n;) {
		size_t k = i + 1;
		while (c->sorted && k < n && pos[k] == pos[i] + (adding ? k - i : 0))
			k++;
		if (!c->sorted)
			k = n;
		str_appendf(line, "%s%zu ", i ? " " : "", c->sorted ? pos[i] : 0);
		append_numbers(v, c, uids + i, k - i, line);
		i = k;
	}
	str_append(line, ")", 1);
}

/* Tells the client which of c's results are gone: every UID of c not in keep
 * (sorted ascending). */
static void context_remove(struct imap_session *s, struct imap_context *c, const uint32_t *keep,
			   size_t nkeep, bool keep_listed)
{
	uint32_t *gone = xcalloc(c->count ? c->count : 1, sizeof(*gone));
	size_t *pos = xcalloc(c->count ? c->count : 1, sizeof(*pos));
	size_t ngone = 0, out = 0;
	str_t line;

	for (size_t i = 0; i < c->count; i++) {
		if (uid_in(keep, nkeep, c->uids[i]) == keep_listed) {
			c->uids[out++] = c->uids[i];
			continue;
		}
		gone[ngone] = c->uids[i];
		pos[ngone++] = out + 1; /* its position once those before it are removed */
	}
	if (ngone > 0) {
		start_esearch(c->tag, c->uid, &line);
		append_changes(&s->view, c, false, gone, pos, ngone, &line);
		imap_untagged(s, "%s", line.data);
		str_free(&line);
	}
	c->count = out;
	free(gone);
	free(pos);
}

void imap_contexts_expunge(struct imap_session *s, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < s->view.context_count; i++)
		context_remove(s, s->view.contexts[i], uids, n, false);
}

/* The context's criteria run again over the view: UIDs in result order. */
static int context_evaluate(struct imap_session *s, const struct imap_context *c, uint32_t **uids_r,
			    size_t *n_r)
{
	size_t *idx, n;

	if (imap_search_select(s, c->keys.children, c->keys.count, &idx, &n) < 0)
		return -1;
	if (c->sorted && imap_sort_indexes(s, &c->sort_criteria, idx, n) < 0) {
		free(idx);
		return -1;
	}
	*uids_r = xcalloc(n ? n : 1, sizeof(**uids_r));
	for (size_t i = 0; i < n; i++)
		(*uids_r)[i] = s->view.msgs[idx[i]].uid;
	*n_r = n;
	free(idx);
	return 0;
}

static void context_refresh(struct imap_session *s, struct imap_context *c)
{
	uint32_t *fresh, *sorted, *added;
	size_t n, nadded = 0, *pos;
	str_t line;

	if (context_evaluate(s, c, &fresh, &n) < 0)
		return;
	sorted = sorted_copy(fresh, n);
	context_remove(s, c, sorted, n, true);
	free(sorted);
	/* What is left of c is in fresh's order: each newcomer goes in at its final
	 * position, in ascending order of positions. */
	sorted = sorted_copy(c->uids, c->count);
	added = xcalloc(n ? n : 1, sizeof(*added));
	pos = xcalloc(n ? n : 1, sizeof(*pos));
	for (size_t i = 0; i < n; i++) {
		if (uid_in(sorted, c->count, fresh[i]))
			continue;
		added[nadded] = fresh[i];
		pos[nadded++] = i + 1;
	}
	if (nadded > 0) {
		start_esearch(c->tag, c->uid, &line);
		append_changes(&s->view, c, true, added, pos, nadded, &line);
		imap_untagged(s, "%s", line.data);
		str_free(&line);
	}
	free(c->uids);
	c->uids = fresh;
	c->count = n;
	c->generation = s->view.generation;
	free(sorted);
	free(added);
	free(pos);
}

void imap_contexts_refresh(struct imap_session *s)
{
	for (size_t i = 0; s->state == IMAP_STATE_SELECTED && i < s->view.context_count; i++)
		if (s->view.contexts[i]->generation != s->view.generation)
			context_refresh(s, s->view.contexts[i]);
}

/* CANCELUPDATE "tag"... (RFC 5267 4.3.5) */
void cmd_cancelupdate(struct imap_session *s)
{
	if (s->cmd.argc == 0) {
		imap_command_done(s, "BAD", "CANCELUPDATE needs the tags of searches");
		return;
	}
	for (size_t i = 0; i < s->cmd.argc; i++)
		if (s->cmd.args[i].type == IMAP_ARG_LIST || context_find(&s->view, s->cmd.args[i].str) == NULL) {
			imap_command_done(s, "BAD", "No updating search has that tag");
			return;
		}
	for (size_t i = 0; i < s->cmd.argc; i++) {
		struct imap_view *v = &s->view;
		struct imap_context *c = context_find(v, s->cmd.args[i].str);
		size_t k = 0;
		if (c == NULL)
			continue; /* named twice */
		while (v->contexts[k] != c)
			k++;
		memmove(&v->contexts[k], &v->contexts[k + 1], (v->context_count - k - 1) * sizeof(c));
		v->context_count--;
		context_free(c);
	}
	imap_command_done(s, "OK", "CANCELUPDATE completed");
}
