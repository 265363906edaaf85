/* cmd_thread: THREAD and UID THREAD (RFC 5256) with the ORDEREDSUBJECT and
 * REFERENCES algorithms, over the messages the search criteria select. Keys
 * (base subject, sent date, Message-ID, References) come from imap_sort_keys_load.
 * The REFERENCES tree is nodes in one array, linked by index: one node per
 * distinct message id (a dummy until a message claims it), plus one per message
 * whose id is missing or taken. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"
#include "mime/mime.h"

#define NONE SIZE_MAX

struct thread_msg {
	size_t index; /* in the view */
	struct mime_sort_keys keys;
	int64_t date;
};

struct node {
	struct thread_msg *msg; /* NULL: a dummy */
	size_t parent, child, next;
	bool removed; /* merged away from the root set */
};

struct tree {
	struct node *nodes;
	size_t count;
	char **ids; /* distinct message ids, sorted: node i is ids[i] */
	size_t id_count;
	size_t roots; /* first root; roots are linked by next */
};

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t id_node(const struct tree *t, const char *id)
{
	char **hit = bsearch(&id, t->ids, t->id_count, sizeof(char *), compare_strings);

	return hit ? (size_t)(hit - t->ids) : NONE;
}

static size_t node_new(struct tree *t, struct thread_msg *msg)
{
	t->nodes[t->count] = (struct node){ msg, NONE, NONE, NONE, false };
	return t->count++;
}

/* Is a an ancestor of b, or b itself? */
static bool is_ancestor(const struct tree *t, size_t a, size_t b)
{
	for (; b != NONE; b = t->nodes[b].parent)
		if (b == a)
			return true;
	return false;
}

static void unlink_node(struct tree *t, size_t n)
{
	size_t *link = &t->nodes[t->nodes[n].parent].child;

	while (*link != n)
		link = &t->nodes[*link].next;
	*link = t->nodes[n].next;
	t->nodes[n].parent = t->nodes[n].next = NONE;
}

static void link_node(struct tree *t, size_t parent, size_t child)
{
	t->nodes[child].parent = parent;
	t->nodes[child].next = t->nodes[parent].child;
	t->nodes[parent].child = child;
}

/* One node per distinct id named anywhere. */
static void collect_ids(struct tree *t, struct thread_msg *msgs, size_t n)
{
	size_t total = 0, out = 0;

	for (size_t i = 0; i < n; i++)
		total += (msgs[i].keys.message_id != NULL) + msgs[i].keys.reference_count;
	t->ids = xcalloc(total ? total : 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		if (msgs[i].keys.message_id != NULL)
			t->ids[t->id_count++] = msgs[i].keys.message_id;
		for (size_t r = 0; r < msgs[i].keys.reference_count; r++)
			t->ids[t->id_count++] = msgs[i].keys.references[r];
	}
	qsort(t->ids, t->id_count, sizeof(char *), compare_strings);
	for (size_t i = 0; i < t->id_count; i++)
		if (out == 0 || strcmp(t->ids[out - 1], t->ids[i]) != 0)
			t->ids[out++] = t->ids[i];
	t->id_count = out;
	t->nodes = xcalloc(out + n, sizeof(*t->nodes));
	for (size_t i = 0; i < out; i++)
		node_new(t, NULL);
}

/* RFC 5256 REFERENCES step 1: parent/child links from References, never a loop;
 * the last reference becomes the message's parent. */
static void link_message(struct tree *t, struct thread_msg *m)
{
	size_t self = m->keys.message_id ? id_node(t, m->keys.message_id) : NONE;
	size_t prev = NONE;

	if (self == NONE || t->nodes[self].msg != NULL)
		self = node_new(t, m); /* no id, or a later duplicate: an id of its own */
	t->nodes[self].msg = m;
	for (size_t r = 0; r < m->keys.reference_count; r++) {
		size_t ref = id_node(t, m->keys.references[r]);
		if (prev != NONE && t->nodes[ref].parent == NONE && !is_ancestor(t, ref, prev))
			link_node(t, prev, ref);
		prev = ref;
	}
	if (t->nodes[self].parent != NONE)
		unlink_node(t, self);
	if (prev != NONE && !is_ancestor(t, self, prev))
		link_node(t, prev, self);
}

/* Step 3: dummies without children go; a dummy's children take its place, except
 * that several children of a dummy at the root stay under it. */
static void prune(struct tree *t, size_t *link, bool at_root)
{
	while (*link != NONE) {
		struct node *n = &t->nodes[*link];
		prune(t, &n->child, false);
		if (n->msg != NULL || (at_root && n->child != NONE && t->nodes[n->child].next != NONE)) {
			link = &n->next;
		} else if (n->child == NONE) {
			*link = n->next;
		} else {
			size_t last = n->child;
			for (size_t c = n->child; c != NONE; c = t->nodes[c].next) {
				t->nodes[c].parent = n->parent;
				last = c;
			}
			t->nodes[last].next = n->next;
			*link = n->child;
			link = &t->nodes[last].next;
		}
	}
}

/* The message that stands for a node when sorting and grouping: a dummy's first child. */
static const struct thread_msg *node_msg(const struct tree *t, size_t n)
{
	while (t->nodes[n].msg == NULL && t->nodes[n].child != NONE)
		n = t->nodes[n].child;
	return t->nodes[n].msg;
}

static const struct tree *sort_tree_ctx; /* qsort has no context argument */

static int compare_nodes(const void *pa, const void *pb)
{
	const struct thread_msg *a = node_msg(sort_tree_ctx, *(const size_t *)pa);
	const struct thread_msg *b = node_msg(sort_tree_ctx, *(const size_t *)pb);

	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	if (a->date != b->date)
		return (a->date > b->date) - (a->date < b->date);
	return (a->index > b->index) - (a->index < b->index);
}

/* Steps 4 and 6: siblings by sent date (then number), children before parents. */
static void sort_siblings(struct tree *t, size_t *head)
{
	size_t count = 0, *order, i = 0;

	for (size_t c = *head; c != NONE; c = t->nodes[c].next, count++)
		sort_siblings(t, &t->nodes[c].child);
	if (count < 2)
		return;
	order = xcalloc(count, sizeof(*order));
	for (size_t c = *head; c != NONE; c = t->nodes[c].next)
		order[i++] = c;
	sort_tree_ctx = t;
	qsort(order, count, sizeof(*order), compare_nodes);
	*head = order[0];
	for (i = 0; i + 1 < count; i++)
		t->nodes[order[i]].next = order[i + 1];
	t->nodes[order[count - 1]].next = NONE;
	free(order);
}

static void append_child(struct tree *t, size_t parent, size_t child)
{
	size_t *link = &t->nodes[parent].child;

	while (*link != NONE)
		link = &t->nodes[*link].next;
	*link = child;
	t->nodes[child].parent = parent;
	t->nodes[child].next = NONE;
}

/* Step 5's merge of root r into the root that holds its subject (*entry). */
static void merge_roots(struct tree *t, size_t *entry, size_t r)
{
	struct node *e = &t->nodes[*entry], *n = &t->nodes[r];

	n->removed = true;
	if (e->msg == NULL && n->msg == NULL) {
		size_t c = n->child;
		while (c != NONE) {
			size_t next = t->nodes[c].next;
			append_child(t, *entry, c);
			c = next;
		}
	} else if (e->msg == NULL || (n->msg->keys.subject_is_reply && !e->msg->keys.subject_is_reply)) {
		append_child(t, *entry, r);
	} else {
		size_t dummy = node_new(t, NULL);
		t->nodes[*entry].removed = true;
		append_child(t, dummy, *entry);
		append_child(t, dummy, r);
		*entry = dummy;
	}
}

struct subject_ref {
	const char *subject;
	size_t pos; /* in the root list, so equal subjects keep root order */
};

static int compare_subjects(const void *pa, const void *pb)
{
	const struct subject_ref *a = pa, *b = pb;
	int c = strcasecmp(a->subject, b->subject);

	return c != 0 ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

/* Is candidate a better holder of a subject than the current one (step 5)? */
static bool better_holder(const struct tree *t, size_t current, size_t candidate)
{
	const struct node *c = &t->nodes[current], *n = &t->nodes[candidate];

	return (n->msg == NULL && c->msg != NULL) ||
	       (c->msg != NULL && n->msg != NULL && c->msg->keys.subject_is_reply && !n->msg->keys.subject_is_reply);
}

/* Step 5: roots with the same base subject become one thread. roots[] is the
 * root set in order; it comes back with merged roots replaced or removed. */
static size_t group_subjects(struct tree *t, size_t *roots, size_t nroots)
{
	struct subject_ref *refs = xcalloc(nroots ? nroots : 1, sizeof(*refs));
	size_t n = 0, out = 0;

	for (size_t i = 0; i < nroots; i++) {
		const struct thread_msg *m = node_msg(t, roots[i]);
		if (m != NULL && *m->keys.base_subject != '\0')
			refs[n++] = (struct subject_ref){ m->keys.base_subject, i };
	}
	qsort(refs, n, sizeof(*refs), compare_subjects);
	for (size_t i = 0; i < n;) {
		size_t k = i + 1, holder = i, entry;
		while (k < n && strcasecmp(refs[k].subject, refs[i].subject) == 0)
			k++;
		for (size_t j = i + 1; j < k; j++)
			if (better_holder(t, roots[refs[holder].pos], roots[refs[j].pos]))
				holder = j;
		entry = roots[refs[holder].pos];
		for (size_t j = i; j < k; j++)
			if (j != holder)
				merge_roots(t, &entry, roots[refs[j].pos]);
		roots[refs[holder].pos] = entry; /* a new dummy takes the holder's place */
		t->nodes[entry].removed = false;
		i = k;
	}
	for (size_t i = 0; i < nroots; i++)
		if (!t->nodes[roots[i]].removed)
			roots[out++] = roots[i];
	free(refs);
	return out;
}

static uint32_t number_of(const struct imap_session *s, const struct thread_msg *m)
{
	return s->cmd.uid ? s->view.msgs[m->index].uid : (uint32_t)(m->index + 1);
}

/* thread-members: "3 6 (4 23)(44 7 96)"; a dummy writes only its children. */
static void write_thread(const struct imap_session *s, const struct tree *t, size_t n, str_t *out)
{
	const struct node *node = &t->nodes[n];

	if (node->msg != NULL) {
		str_appendf(out, "%u", number_of(s, node->msg));
		if (node->child == NONE)
			return;
		str_append(out, " ", 1);
		if (t->nodes[node->child].next == NONE) {
			write_thread(s, t, node->child, out);
			return;
		}
	}
	for (size_t c = node->child; c != NONE; c = t->nodes[c].next) {
		str_append(out, "(", 1);
		write_thread(s, t, c, out);
		str_append(out, ")", 1);
	}
}

/* Roots as a list (linked by next) and back as an array. */
static size_t roots_to_array(const struct tree *t, size_t head, size_t *roots)
{
	size_t n = 0;

	for (size_t r = head; r != NONE; r = t->nodes[r].next)
		roots[n++] = r;
	return n;
}

static size_t roots_to_list(struct tree *t, const size_t *roots, size_t n)
{
	for (size_t i = 0; i < n; i++)
		t->nodes[roots[i]].next = i + 1 < n ? roots[i + 1] : NONE;
	return n ? roots[0] : NONE;
}

/* RFC 5256 REFERENCES, steps 1 to 6; writes the THREAD line's threads. */
static void thread_references(struct imap_session *s, struct thread_msg *msgs, size_t n, str_t *out)
{
	struct tree t = { 0 };
	size_t head = NONE, *roots, nroots;

	collect_ids(&t, msgs, n);
	for (size_t i = 0; i < n; i++)
		link_message(&t, &msgs[i]);
	for (size_t i = t.count; i-- > 0;) /* step 2: the root set */
		if (t.nodes[i].parent == NONE) {
			t.nodes[i].next = head;
			head = i;
		}
	prune(&t, &head, true);
	sort_siblings(&t, &head);
	roots = xcalloc(t.count + 1, sizeof(*roots)); /* grouping adds dummies: room for all */
	t.nodes = xrealloc(t.nodes, (2 * t.count + 1) * sizeof(*t.nodes)); /* and dummies */
	nroots = group_subjects(&t, roots, roots_to_array(&t, head, roots));
	head = roots_to_list(&t, roots, nroots);
	sort_siblings(&t, &head);
	for (size_t r = head; r != NONE; r = t.nodes[r].next) {
		str_append_cstr(out, r == head ? " (" : "(");
		write_thread(s, &t, r, out);
		str_append(out, ")", 1);
	}
	free(roots);
	free(t.nodes);
	free(t.ids);
}

static int compare_subject_date(const void *pa, const void *pb)
{
	const struct thread_msg *a = pa, *b = pb;
	int c = strcasecmp(a->keys.base_subject, b->keys.base_subject);

	if (c != 0)
		return c;
	if (a->date != b->date)
		return (a->date > b->date) - (a->date < b->date);
	return (a->index > b->index) - (a->index < b->index);
}

/* ORDEREDSUBJECT (RFC 5256 3): threads of equal base subject, each in date order,
 * the threads in the order of their first messages. */
static void thread_orderedsubject(struct imap_session *s, struct thread_msg *msgs, size_t n, str_t *out)
{
	struct { size_t first, count; } *threads = xcalloc(n ? n : 1, sizeof(*threads));
	size_t nt = 0;

	qsort(msgs, n, sizeof(*msgs), compare_subject_date);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcasecmp(msgs[i].keys.base_subject, msgs[i - 1].keys.base_subject) != 0)
			threads[nt++].first = i;
		threads[nt - 1].count++;
	}
	/* Threads by their first message's date, then number: a stable insertion sort. */
	for (size_t i = 1; i < nt; i++)
		for (size_t j = i; j > 0; j--) {
			const struct thread_msg *a = &msgs[threads[j - 1].first], *b = &msgs[threads[j].first];
			if (a->date < b->date || (a->date == b->date && a->index < b->index))
				break;
			typeof(threads[0]) tmp = threads[j];
			threads[j] = threads[j - 1], threads[j - 1] = tmp;
		}
	for (size_t t = 0; t < nt; t++) {
		const struct thread_msg *first = &msgs[threads[t].first];
		str_appendf(out, t == 0 ? " (%u" : "(%u", number_of(s, first));
		if (threads[t].count == 2)
			str_appendf(out, " %u", number_of(s, &first[1]));
		else
			for (size_t k = 1; k < threads[t].count; k++)
				str_appendf(out, "%s(%u)", k == 1 ? " " : "", number_of(s, &first[k]));
		str_append(out, ")", 1);
	}
	free(threads);
}

/* THREAD algorithm charset search-keys */
void cmd_thread(struct imap_session *s)
{
	const struct imap_arg *a = s->cmd.args;
	bool references = s->cmd.argc > 0 && a[0].type == IMAP_ARG_ATOM && strcasecmp(a[0].str, "REFERENCES") == 0;
	bool ordered = s->cmd.argc > 0 && a[0].type == IMAP_ARG_ATOM && strcasecmp(a[0].str, "ORDEREDSUBJECT") == 0;
	struct thread_msg *msgs;
	size_t *idx = NULL, n = 0;
	str_t line;

	if (s->cmd.argc < 3 || (!references && !ordered) || a[1].type == IMAP_ARG_LIST ||
	    (strcasecmp(a[1].str, "UTF-8") != 0 && strcasecmp(a[1].str, "US-ASCII") != 0) ||
	    imap_search_select(s, a + 2, s->cmd.argc - 2, &idx, &n) < 0) {
		imap_command_done(s, "BAD", "Syntax: THREAD REFERENCES|ORDEREDSUBJECT charset criteria");
		return;
	}
	msgs = xcalloc(n ? n : 1, sizeof(*msgs));
	for (size_t i = 0; i < n; i++) {
		msgs[i].index = idx[i];
		imap_sort_keys_load(s, idx[i], &msgs[i].keys, &msgs[i].date);
	}
	str_init(&line);
	str_append_cstr(&line, "THREAD");
	if (references)
		thread_references(s, msgs, n, &line);
	else
		thread_orderedsubject(s, msgs, n, &line);
	imap_untagged(s, "%s", line.data);
	str_free(&line);
	for (size_t i = 0; i < n; i++)
		mime_sort_keys_free(&msgs[i].keys);
	free(msgs);
	free(idx);
	imap_command_done(s, "OK", "THREAD completed");
}
