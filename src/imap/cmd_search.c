/* cmd_search: SEARCH and UID SEARCH (RFC 3501 6.4.4) over the selected mailbox:
 * flags, sizes, dates, sequence and UID sets, header fields, BODY and TEXT, with
 * NOT, OR and parenthesised groups; CHARSET UTF-8 or US-ASCII. Header and body
 * matching is case-insensitive for ASCII on the raw bytes: RFC 2047 decoding and
 * the FTS5 index come with the MIME module. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_private.h"

#define SEARCH_DEPTH_MAX 32

enum key_type {
	K_ALL, K_NONE, K_FLAG, K_KEYWORD, K_MODSEQ, K_SET, K_UIDSET, K_LARGER, K_SMALLER, K_BEFORE, K_ON, K_SINCE,
	K_SENTBEFORE, K_SENTON, K_SENTSINCE, K_HEADER, K_BODY, K_TEXT, K_NOT, K_OR, K_AND,
};

struct key {
	enum key_type type;
	unsigned flag;
	bool flag_set;
	int64_t number; /* sizes, dates (UTC day start) */
	const char *field, *value;
	struct imap_seqset set;
	struct key *sub; /* NOT: 1, OR: 2, AND: n */
	size_t nsub;
	int64_t *fts_ids; /* BODY/TEXT: message ids the full-text index found */
	size_t fts_count;
	bool fts_ok;      /* false: the term cannot be looked up; scan */
};

struct parse {
	const struct imap_arg *args;
	size_t argc, pos;
	struct imap_session *s;
	int depth;
	bool uses_modseq;
};

static void key_free(struct key *k)
{
	for (size_t i = 0; i < k->nsub; i++)
		key_free(&k->sub[i]);
	free(k->sub);
	free(k->fts_ids);
	imap_seqset_free(&k->set);
}

static const char *next_string(struct parse *p)
{
	if (p->pos >= p->argc || p->args[p->pos].type == IMAP_ARG_LIST)
		return NULL;
	return p->args[p->pos++].str;
}

/* "1-Feb-1994" as the UTC start of that day. */
static int64_t parse_date(const char *text)
{
	struct tm tm = { 0 };
	const char *end = text ? strptime(text, "%d-%b-%Y", &tm) : NULL;

	return end != NULL && *end == '\0' ? (int64_t)timegm(&tm) : -1;
}

static int parse_key(struct parse *p, struct key *k);

static int parse_keys(struct parse *p, struct key *k)
{
	k->type = K_AND;
	while (p->pos < p->argc) {
		k->sub = xrealloc(k->sub, (k->nsub + 1) * sizeof(*k->sub));
		memset(&k->sub[k->nsub], 0, sizeof(*k->sub));
		if (parse_key(p, &k->sub[k->nsub++]) < 0)
			return -1;
	}
	return k->nsub > 0 ? 0 : -1;
}

static int parse_subkeys(struct parse *p, struct key *k, size_t n)
{
	k->sub = xcalloc(n, sizeof(*k->sub));
	k->nsub = n;
	for (size_t i = 0; i < n; i++)
		if (parse_key(p, &k->sub[i]) < 0)
			return -1;
	return 0;
}

static const struct { const char *name; unsigned flag; bool set; } flag_keys[] = {
	{ "ANSWERED", STORE_FLAG_ANSWERED, true }, { "DELETED", STORE_FLAG_DELETED, true },
	{ "DRAFT", STORE_FLAG_DRAFT, true },       { "FLAGGED", STORE_FLAG_FLAGGED, true },
	{ "SEEN", STORE_FLAG_SEEN, true },         { "UNANSWERED", STORE_FLAG_ANSWERED, false },
	{ "UNDELETED", STORE_FLAG_DELETED, false }, { "UNDRAFT", STORE_FLAG_DRAFT, false },
	{ "UNFLAGGED", STORE_FLAG_FLAGGED, false }, { "UNSEEN", STORE_FLAG_SEEN, false },
	{ "NEW", STORE_FLAG_SEEN, false },          /* no \Recent here: NEW is UNSEEN */
};

static const struct { const char *name; enum key_type type; const char *field; } arg_keys[] = {
	{ "BEFORE", K_BEFORE, NULL }, { "ON", K_ON, NULL }, { "SINCE", K_SINCE, NULL },
	{ "SENTBEFORE", K_SENTBEFORE, NULL }, { "SENTON", K_SENTON, NULL },
	{ "SENTSINCE", K_SENTSINCE, NULL }, { "LARGER", K_LARGER, NULL },
	{ "SMALLER", K_SMALLER, NULL }, { "BODY", K_BODY, NULL }, { "TEXT", K_TEXT, NULL },
	{ "FROM", K_HEADER, "From" }, { "TO", K_HEADER, "To" }, { "CC", K_HEADER, "Cc" },
	{ "BCC", K_HEADER, "Bcc" }, { "SUBJECT", K_HEADER, "Subject" },
};

static int parse_arg_key(struct parse *p, struct key *k, size_t i)
{
	const char *value = next_string(p);
	char *end;

	k->type = arg_keys[i].type;
	k->field = arg_keys[i].field;
	k->value = value;
	if (value == NULL)
		return -1;
	switch (k->type) {
	case K_LARGER:
	case K_SMALLER:
		k->number = strtoll(value, &end, 10);
		return *end == '\0' && isdigit((unsigned char)*value) ? 0 : -1;
	case K_BEFORE: case K_ON: case K_SINCE: case K_SENTBEFORE: case K_SENTON: case K_SENTSINCE:
		return (k->number = parse_date(value)) < 0 ? -1 : 0;
	case K_BODY:
	case K_TEXT:
		k->fts_ok = store_text_search(p->s->server->store, value, k->type == K_BODY, &k->fts_ids,
					      &k->fts_count) == 0;
		return 0;
	default:
		return 0;
	}
}

static int parse_one_key(struct parse *p, struct key *k, const struct imap_arg *a);

/* Bounds the nesting of NOT, OR and groups, which recurse. */
static int parse_key(struct parse *p, struct key *k)
{
	const struct imap_arg *a = p->pos < p->argc ? &p->args[p->pos++] : NULL;
	int rc;

	if (a == NULL || ++p->depth > SEARCH_DEPTH_MAX)
		return -1;
	rc = parse_one_key(p, k, a);
	p->depth--;
	return rc;
}

static int parse_one_key(struct parse *p, struct key *k, const struct imap_arg *a)
{
	if (a->type == IMAP_ARG_LIST) {
		struct parse inner = { a->children, a->count, 0, p->s, p->depth, false };
		int rc = parse_keys(&inner, k);
		p->uses_modseq |= inner.uses_modseq;
		return rc;
	}
	for (size_t i = 0; i < sizeof(flag_keys) / sizeof(flag_keys[0]); i++)
		if (strcasecmp(a->str, flag_keys[i].name) == 0)
			return k->type = K_FLAG, k->flag = flag_keys[i].flag, k->flag_set = flag_keys[i].set, 0;
	for (size_t i = 0; i < sizeof(arg_keys) / sizeof(arg_keys[0]); i++)
		if (strcasecmp(a->str, arg_keys[i].name) == 0)
			return parse_arg_key(p, k, i);
	if (strcasecmp(a->str, "ALL") == 0 || strcasecmp(a->str, "OLD") == 0)
		return k->type = K_ALL, 0;
	if (strcasecmp(a->str, "RECENT") == 0)
		return k->type = K_NONE, 0;
	if (strcasecmp(a->str, "KEYWORD") == 0 || strcasecmp(a->str, "UNKEYWORD") == 0) {
		const char *name = next_string(p);
		k->type = K_KEYWORD;
		k->flag_set = strcasecmp(a->str, "KEYWORD") == 0;
		k->number = -1; /* a keyword the mailbox has never seen */
		for (int bit = 0; name != NULL && bit < STORE_KEYWORDS_MAX; bit++)
			if (p->s->view.keywords[bit] && strcasecmp(p->s->view.keywords[bit], name) == 0)
				k->number = bit;
		return name ? 0 : -1;
	}
	if (strcasecmp(a->str, "MODSEQ") == 0) { /* MODSEQ ["entry" type] n (RFC 7162 3.1.5) */
		const char *v = next_string(p);
		char *end;
		if (v != NULL && p->pos < p->argc && !isdigit((unsigned char)*v)) {
			next_string(p); /* the entry type: we keep one MODSEQ per message */
			v = next_string(p);
		}
		if (v == NULL)
			return -1;
		k->type = K_MODSEQ;
		k->number = (int64_t)strtoull(v, &end, 10);
		p->s->condstore = true;
		p->uses_modseq = true;
		return *end == '\0' && isdigit((unsigned char)*v) ? 0 : -1;
	}
	if (strcasecmp(a->str, "HEADER") == 0) {
		k->type = K_HEADER;
		k->field = next_string(p);
		k->value = next_string(p);
		return k->field && k->value ? 0 : -1;
	}
	if (strcasecmp(a->str, "NOT") == 0)
		return k->type = K_NOT, parse_subkeys(p, k, 1);
	if (strcasecmp(a->str, "OR") == 0)
		return k->type = K_OR, parse_subkeys(p, k, 2);
	if (strcasecmp(a->str, "UID") == 0) {
		const char *set = next_string(p);
		struct imap_view *v = &p->s->view;
		k->type = K_UIDSET;
		return set ? imap_seqset_parse(set, v->count ? v->msgs[v->count - 1].uid : 0, &k->set) : -1;
	}
	if (strcmp(a->str, "$") == 0) { /* SEARCHRES: the saved UIDs */
		struct imap_view *v = &p->s->view;
		k->type = K_UIDSET;
		k->set.ranges = xcalloc(v->saved_count ? v->saved_count : 1, sizeof(*k->set.ranges));
		for (size_t i = 0; i < v->saved_count; i++)
			k->set.ranges[i].lo = k->set.ranges[i].hi = v->saved[i];
		k->set.count = v->saved_count;
		return 0;
	}
	k->type = K_SET;
	return imap_seqset_parse(a->str, (uint32_t)p->s->view.count, &k->set);
}

/* The message text a key needs, read once per message. */
struct message_text {
	str_t bytes;
	size_t header_len;
	bool loaded;
};

static int load_text(struct imap_session *s, const struct store_message_ref *m, struct message_text *t)
{
	const char *end;

	if (t->loaded)
		return 0;
	str_clear(&t->bytes);
	str_reserve(&t->bytes, (size_t)m->size);
	if (store_message_read(s->server->store, m, 0, t->bytes.data, (size_t)m->size) != m->size)
		return -1;
	t->bytes.len = (size_t)m->size;
	t->bytes.data[t->bytes.len] = '\0';
	end = memmem(t->bytes.data, t->bytes.len, "\r\n\r\n", 4);
	t->header_len = end ? (size_t)(end - t->bytes.data) + 4 : t->bytes.len;
	t->loaded = true;
	return 0;
}

static bool contains_ci(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return true;
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

/* Does any FIELD of the header section contain VALUE (folded lines joined)? */
static bool header_matches(const struct message_text *t, const char *field, const char *value)
{
	size_t flen = strlen(field);

	for (size_t pos = 0; pos < t->header_len;) {
		const char *line = t->bytes.data + pos;
		const char *lf = memchr(line, '\n', t->header_len - pos);
		size_t len = lf ? (size_t)(lf - line) + 1 : t->header_len - pos;
		size_t end = len;
		if (strncasecmp(line, field, flen) == 0 && line[flen] == ':') {
			while (pos + end < t->header_len && (line[end] == ' ' || line[end] == '\t')) {
				const char *next = memchr(line + end, '\n', t->header_len - pos - end);
				end = next ? (size_t)(next - line) + 1 : t->header_len - pos;
			}
			if (contains_ci(line + flen + 1, end - flen - 1, value))
				return true;
		}
		pos += end;
	}
	return false;
}

static int64_t sent_day(const struct message_text *t)
{
	static const char *const formats[] = { "%a, %d %b %Y %H:%M:%S %z", "%d %b %Y %H:%M:%S %z" };
	const char *date = NULL;

	for (size_t pos = 0; pos < t->header_len && date == NULL;) {
		const char *line = t->bytes.data + pos, *lf = memchr(line, '\n', t->header_len - pos);
		if (strncasecmp(line, "Date:", 5) == 0)
			date = line + 5;
		pos += lf ? (size_t)(lf - line) + 1 : t->header_len - pos;
	}
	while (date != NULL && *date == ' ')
		date++;
	for (size_t i = 0; date != NULL && i < 2; i++) {
		struct tm tm = { 0 };
		if (strptime(date, formats[i], &tm) != NULL) {
			tm.tm_hour = tm.tm_min = tm.tm_sec = 0; /* the date as written, zone ignored */
			return (int64_t)timegm(&tm);
		}
	}
	return -1;
}

static bool fts_contains(const struct key *k, int64_t message_id)
{
	size_t lo = 0, hi = k->fts_count;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (k->fts_ids[mid] < message_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < k->fts_count && k->fts_ids[lo] == message_id;
}

static bool key_matches(struct imap_session *s, const struct key *k, size_t index,
			struct message_text *t)
{
	const struct store_message_ref *m = &s->view.msgs[index];
	int64_t day = m->internal_date - m->internal_date % 86400;
	int64_t sent;

	switch (k->type) {
	case K_ALL: return true;
	case K_NONE: return false;
	case K_FLAG: return ((m->flags & k->flag) != 0) == k->flag_set;
	case K_MODSEQ: return m->modseq >= (uint64_t)k->number;
	case K_KEYWORD:
		return k->number < 0 ? !k->flag_set : (((m->keywords >> k->number) & 1) != 0) == k->flag_set;
	case K_SET: return imap_seqset_contains(&k->set, (uint32_t)(index + 1));
	case K_UIDSET: return imap_seqset_contains(&k->set, m->uid);
	case K_LARGER: return m->size > k->number;
	case K_SMALLER: return m->size < k->number;
	case K_BEFORE: return day < k->number;
	case K_ON: return day == k->number;
	case K_SINCE: return day >= k->number;
	case K_NOT: return !key_matches(s, &k->sub[0], index, t);
	case K_OR: return key_matches(s, &k->sub[0], index, t) || key_matches(s, &k->sub[1], index, t);
	case K_AND:
		for (size_t i = 0; i < k->nsub; i++)
			if (!key_matches(s, &k->sub[i], index, t))
				return false;
		return true;
	default:
		break;
	}
	if ((k->type == K_BODY || k->type == K_TEXT) && k->fts_ok && m->indexed)
		return fts_contains(k, m->message_id);
	if (load_text(s, m, t) < 0)
		return false;
	switch (k->type) {
	case K_HEADER: return header_matches(t, k->field, k->value);
	case K_BODY: return contains_ci(t->bytes.data + t->header_len, t->bytes.len - t->header_len, k->value);
	case K_TEXT: return contains_ci(t->bytes.data, t->bytes.len, k->value);
	default:
		sent = sent_day(t);
		return sent >= 0 && (k->type == K_SENTBEFORE ? sent < k->number
				     : k->type == K_SENTON ? sent == k->number : sent >= k->number);
	}
}

/* The 0-based view indexes of the messages matching root. */
static size_t *evaluate(struct imap_session *s, const struct key *root, size_t *count_r)
{
	struct message_text text = { 0 };
	size_t *idx = xcalloc(s->view.count ? s->view.count : 1, sizeof(*idx)), n = 0;

	str_init(&text.bytes);
	for (size_t i = 0; i < s->view.count; i++) {
		text.loaded = false;
		if (key_matches(s, root, i, &text))
			idx[n++] = i;
		if (text.bytes.cap > 1024 * 1024)
			str_free(&text.bytes);
	}
	str_free(&text.bytes);
	*count_r = n;
	return idx;
}

int imap_search_select(struct imap_session *s, const struct imap_arg *args, size_t argc,
		       size_t **idx_r, size_t *count_r)
{
	struct parse p = { args, argc, 0, s, 0, false };
	struct key root = { 0 };

	if (parse_keys(&p, &root) < 0) {
		key_free(&root);
		return -1;
	}
	*idx_r = evaluate(s, &root, count_r);
	key_free(&root);
	return 0;
}

/* CHARSET name, if there: 0, or -1 (answered NO) when it is not one we know. */
static int parse_charset(struct imap_session *s, struct parse *p)
{
	const char *cs;

	if (p->pos + 1 >= p->argc || p->args[p->pos].type != IMAP_ARG_ATOM ||
	    strcasecmp(p->args[p->pos].str, "CHARSET") != 0)
		return 0;
	cs = p->args[p->pos + 1].type != IMAP_ARG_LIST ? p->args[p->pos + 1].str : "";
	if (strcasecmp(cs, "UTF-8") != 0 && strcasecmp(cs, "US-ASCII") != 0) {
		imap_command_done(s, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return -1;
	}
	p->pos += 2;
	return 0;
}

/* "$" is kept as UIDs, so later expunges cannot shift it (RFC 5182). */
static void save_result(struct imap_session *s, const size_t *idx, size_t n)
{
	free(s->view.saved);
	s->view.saved = xcalloc(n ? n : 1, sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		s->view.saved[i] = s->view.msgs[idx[i]].uid;
	s->view.saved_count = n;
}

static void reply_plain(struct imap_session *s, const uint32_t *hits, size_t n, uint64_t highest)
{
	str_t line;

	str_init(&line);
	str_append_cstr(&line, "SEARCH");
	for (size_t i = 0; i < n; i++)
		str_appendf(&line, " %u", hits[i]);
	if (highest > 0)
		str_appendf(&line, " (MODSEQ %llu)", (unsigned long long)highest);
	imap_untagged(s, "%s", line.data);
	str_free(&line);
}

void cmd_search(struct imap_session *s)
{
	struct parse p = { s->cmd.args, s->cmd.argc, 0, s, 0, false };
	struct key root = { 0 };
	struct imap_return ret;
	uint32_t *hits;
	size_t n = 0, keys_at;
	uint64_t highest = 0;
	int has_return = imap_return_parse(p.args, p.argc, &p.pos, &ret);

	if (has_return == 0 && s->rev2) { /* IMAP4rev2 answers every SEARCH with ESEARCH */
		ret.opts = RET_ALL;
		has_return = 1;
	}
	if (has_return >= 0 && parse_charset(s, &p) < 0)
		return;
	keys_at = p.pos;
	if (has_return < 0 || imap_context_check(s, &ret) < 0 || parse_keys(&p, &root) < 0) {
		key_free(&root);
		imap_command_done(s, "BAD", "Invalid search criteria");
		return;
	}
	size_t *idx = evaluate(s, &root, &n);
	hits = xcalloc(n ? n : 1, sizeof(*hits));
	for (size_t i = 0; i < n; i++) {
		hits[i] = s->cmd.uid ? s->view.msgs[idx[i]].uid : (uint32_t)(idx[i] + 1);
		if (s->view.msgs[idx[i]].modseq > highest)
			highest = s->view.msgs[idx[i]].modseq;
	}
	if (!p.uses_modseq)
		highest = 0;
	if (ret.opts & RET_SAVE)
		save_result(s, idx, n);
	if (has_return)
		imap_results_reply(s, &ret, hits, n, highest);
	else
		reply_plain(s, hits, n, highest);
	if (ret.opts & RET_UPDATE)
		imap_context_add(s, NULL, s->cmd.args + keys_at, s->cmd.argc - keys_at, idx, n);
	free(idx);
	free(hits);
	key_free(&root);
	imap_command_done(s, "OK", "SEARCH completed");
}
