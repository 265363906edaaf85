/* cmd_fetch: FETCH and UID FETCH. Body sections are byte ranges of the stored
 * message, streamed as literals while the output drains, never re-serialised:
 * BODY[], BODY[HEADER], BODY[TEXT], BODY[HEADER.FIELDS (..)] and .NOT, part
 * numbers with .MIME (and HEADER/TEXT of message/rfc822 parts), partials, RFC822,
 * RFC822.HEADER, RFC822.TEXT; FLAGS, UID, RFC822.SIZE, INTERNALDATE; ENVELOPE,
 * BODYSTRUCTURE and BODY from the mime module; the ALL, FAST and FULL macros. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_private.h"
#include "mime/mime.h"

#define HEADER_SCAN_MAX (1024 * 1024)

enum fetch_kind { F_FLAGS, F_UID, F_SIZE, F_INTERNALDATE, F_SECTION, F_ENVELOPE, F_BODYSTRUCTURE,
		  F_BODY, F_MODSEQ, F_BINARY, F_BINARY_SIZE };
/* SEC_ALL..SEC_FIELDS_NOT apply to a message (the top one, or a message/rfc822
 * part); SEC_PART is a part's body, SEC_MIME its header. */
enum section_kind { SEC_ALL, SEC_HEADER, SEC_TEXT, SEC_FIELDS, SEC_FIELDS_NOT, SEC_PART, SEC_MIME };

struct fetch_item {
	enum fetch_kind kind;
	enum section_kind sec;
	bool peek;
	bool partial;
	uint64_t p_off, p_len;
	char *label;      /* what the answer calls it: "BODY[HEADER]<0>", "RFC822" */
	char *part;       /* "1.2" or NULL for the whole message */
	char **fields;    /* HEADER.FIELDS names */
	size_t nfields;
};

struct fetch_state {
	int64_t mailbox_id;
	struct fetch_item *items;
	size_t nitems;
	size_t *idx;
	size_t count, pos;
	bool wants_flags;
	bool needs_mime;
	bool unknown_cte; /* a BINARY part had an encoding we cannot undo */
	struct mime_cache_batch *cache; /* summaries parsed now, to be stored */
	uint32_t *seen_uids;
	unsigned *seen_flags;
	size_t nseen;
};

static void cache_done(void *arg, int ok);

static void state_free(struct fetch_state *f)
{
	for (size_t i = 0; i < f->nitems; i++) {
		free(f->items[i].label);
		free(f->items[i].part);
		for (size_t j = 0; j < f->items[i].nfields; j++)
			free(f->items[i].fields[j]);
		free(f->items[i].fields);
	}
	free(f->items);
	free(f->idx);
	free(f->seen_uids);
	free(f->seen_flags);
	if (f->cache != NULL)
		cache_done(f->cache, 0);
	free(f);
}

static struct fetch_item *item_add(struct fetch_state *f, enum fetch_kind kind)
{
	f->items = xrealloc(f->items, (f->nitems + 1) * sizeof(*f->items));
	memset(&f->items[f->nitems], 0, sizeof(*f->items));
	f->items[f->nitems].kind = kind;
	return &f->items[f->nitems++];
}

/* "<12.34>" after a section. */
static int parse_partial(const char *p, struct fetch_item *it)
{
	char *end;

	if (*p == '\0')
		return 0;
	if (*p != '<' || !isdigit((unsigned char)p[1]))
		return -1;
	it->p_off = strtoull(p + 1, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return -1;
	it->p_len = strtoull(end + 1, &end, 10);
	if (strcmp(end, ">") != 0 || it->p_len == 0)
		return -1;
	it->partial = true;
	return 0;
}

/* HEADER.FIELDS (A B): the names between the parentheses. */
static int parse_field_names(const char *p, struct fetch_item *it)
{
	char *copy, *save = NULL;

	while (*p == ' ')
		p++;
	if (*p != '(' || p[strlen(p) - 1] != ')')
		return -1;
	copy = xstrndup(p + 1, strlen(p) - 2);
	for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		if (*t == '"' && strlen(t) >= 2) { /* quoted field name */
			t[strlen(t) - 1] = '\0';
			t++;
		}
		it->fields = xrealloc(it->fields, (it->nfields + 1) * sizeof(char *));
		it->fields[it->nfields++] = xstrdup(t);
	}
	free(copy);
	return it->nfields > 0 ? 0 : -1;
}

/* BODY[section]<partial> or BODY.PEEK[...]: returns 0, or -1 if not understood. */
static int parse_body_item(struct fetch_state *f, const char *atom)
{
	bool peek = strncasecmp(atom, "BODY.PEEK[", 10) == 0;
	const char *sec = atom + (peek ? 10 : 5), *close = strchr(sec, ']');
	struct fetch_item *it;
	char *section;
	int rc = 0;

	if (close == NULL)
		return -1;
	section = xstrndup(sec, (size_t)(close - sec));
	it = item_add(f, F_SECTION);
	it->peek = peek;
	const char *rest = section;
	if (isdigit((unsigned char)*rest)) {
		size_t n = strspn(rest, "0123456789.");
		while (n > 0 && rest[n - 1] == '.')
			n--;
		it->part = xstrndup(rest, n);
		rest += n;
		f->needs_mime = true;
		if (*rest == '.')
			rest++;
	}
	if (it->part != NULL && *rest == '\0')
		it->sec = SEC_PART;
	else if (it->part != NULL && strcasecmp(rest, "MIME") == 0)
		it->sec = SEC_MIME;
	else if (rest[0] == '\0')
		it->sec = SEC_ALL;
	else if (strcasecmp(rest, "HEADER") == 0)
		it->sec = SEC_HEADER;
	else if (strcasecmp(rest, "TEXT") == 0)
		it->sec = SEC_TEXT;
	else if (strncasecmp(rest, "HEADER.FIELDS.NOT", 17) == 0)
		it->sec = SEC_FIELDS_NOT, rc = parse_field_names(rest + 17, it);
	else if (strncasecmp(rest, "HEADER.FIELDS", 13) == 0)
		it->sec = SEC_FIELDS, rc = parse_field_names(rest + 13, it);
	else
		rc = -1;
	if (rc == 0)
		rc = parse_partial(close + 1, it);
	if (rc == 0)
		it->label = it->partial ? xasprintf("BODY[%s]<%llu>", section, (unsigned long long)it->p_off)
					: xasprintf("BODY[%s]", section);
	free(section);
	return rc;
}

/* BINARY[part]<partial>, BINARY.PEEK[part]<partial>, BINARY.SIZE[part] (RFC 3516). */
static int parse_binary_item(struct fetch_state *f, const char *atom)
{
	bool size = strncasecmp(atom, "BINARY.SIZE[", 12) == 0;
	bool peek = strncasecmp(atom, "BINARY.PEEK[", 12) == 0;
	const char *sec = atom + (size || peek ? 12 : 7), *close = strchr(sec, ']');
	struct fetch_item *it;

	if ((!size && !peek && strncasecmp(atom, "BINARY[", 7) != 0) || close == NULL ||
	    strspn(sec, "0123456789.") != (size_t)(close - sec))
		return -1;
	it = item_add(f, size ? F_BINARY_SIZE : F_BINARY);
	it->peek = peek || size;
	if (close > sec) {
		it->part = xstrndup(sec, (size_t)(close - sec));
		f->needs_mime = true;
	}
	if (size ? close[1] != '\0' : parse_partial(close + 1, it) < 0)
		return -1;
	char *label = it->part ? it->part : "";
	it->label = size ? xasprintf("BINARY.SIZE[%s]", label)
		    : it->partial ? xasprintf("BINARY[%s]<%llu>", label, (unsigned long long)it->p_off)
				  : xasprintf("BINARY[%s]", label);
	return 0;
}

static int parse_item(struct fetch_state *f, const char *atom)
{
	static const struct { const char *name; enum section_kind sec; bool peek; } rfc822[] = {
		{ "RFC822", SEC_ALL, false }, { "RFC822.HEADER", SEC_HEADER, true },
		{ "RFC822.TEXT", SEC_TEXT, false },
	};

	if (strcasecmp(atom, "FLAGS") == 0)
		f->wants_flags = true, item_add(f, F_FLAGS);
	else if (strcasecmp(atom, "UID") == 0)
		item_add(f, F_UID);
	else if (strcasecmp(atom, "RFC822.SIZE") == 0)
		item_add(f, F_SIZE);
	else if (strcasecmp(atom, "INTERNALDATE") == 0)
		item_add(f, F_INTERNALDATE);
	else if (strncasecmp(atom, "BINARY", 6) == 0)
		return parse_binary_item(f, atom);
	else if (strcasecmp(atom, "MODSEQ") == 0)
		item_add(f, F_MODSEQ);
	else if (strcasecmp(atom, "ENVELOPE") == 0)
		f->needs_mime = true, item_add(f, F_ENVELOPE);
	else if (strcasecmp(atom, "BODYSTRUCTURE") == 0)
		f->needs_mime = true, item_add(f, F_BODYSTRUCTURE);
	else if (strcasecmp(atom, "BODY") == 0)
		f->needs_mime = true, item_add(f, F_BODY);
	else if (strcasecmp(atom, "FAST") == 0 || strcasecmp(atom, "ALL") == 0 ||
		 strcasecmp(atom, "FULL") == 0) {
		f->wants_flags = true;
		item_add(f, F_FLAGS), item_add(f, F_INTERNALDATE), item_add(f, F_SIZE);
		if (strcasecmp(atom, "FAST") != 0)
			f->needs_mime = true, item_add(f, F_ENVELOPE);
		if (strcasecmp(atom, "FULL") == 0)
			item_add(f, F_BODY);
	} else if (strncasecmp(atom, "BODY[", 5) == 0 || strncasecmp(atom, "BODY.PEEK[", 10) == 0)
		return parse_body_item(f, atom);
	else {
		for (size_t i = 0; i < 3; i++) {
			if (strcasecmp(atom, rfc822[i].name) != 0)
				continue;
			struct fetch_item *it = item_add(f, F_SECTION);
			it->sec = rfc822[i].sec;
			it->peek = rfc822[i].peek;
			it->label = xstrdup(rfc822[i].name);
			return 0;
		}
		return -1;
	}
	return 0;
}

static int parse_items(struct fetch_state *f, const struct imap_arg *arg, bool uid)
{
	if (uid)
		item_add(f, F_UID);
	if (arg->type == IMAP_ARG_ATOM)
		return parse_item(f, arg->str);
	if (arg->type != IMAP_ARG_LIST || arg->count == 0)
		return -1;
	for (size_t i = 0; i < arg->count; i++)
		if (arg->children[i].type != IMAP_ARG_ATOM || parse_item(f, arg->children[i].str) < 0)
			return -1;
	return 0;
}

/* Length of the header section including the blank line that ends it. */
static uint64_t header_length(struct imap_session *s, const struct store_message_ref *ref,
			      uint64_t start, uint64_t end)
{
	char buf[8192];
	uint64_t off = start;
	int newlines = 0; /* consecutive line ends, CRs ignored */
	ssize_t n;

	while (off < start + HEADER_SCAN_MAX && off < end &&
	       (n = store_message_read(s->server->store, ref, off, buf,
				       end - off < sizeof(buf) ? end - off : sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' && ++newlines == 2)
				return off + (uint64_t)i + 1 - start;
			if (buf[i] != '\n' && buf[i] != '\r')
				newlines = 0;
		}
		off += (uint64_t)n;
	}
	return end - start;
}

static bool field_listed(const struct fetch_item *it, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	size_t name_len = colon ? (size_t)(colon - line) : 0;

	for (size_t i = 0; colon && i < it->nfields; i++)
		if (strlen(it->fields[i]) == name_len && strncasecmp(line, it->fields[i], name_len) == 0)
			return true;
	return false;
}

/* The header fields asked for (or all but them), verbatim, then CRLF. */
static void header_fields(struct imap_session *s, const struct store_message_ref *ref,
			  uint64_t start, uint64_t hlen, const struct fetch_item *it, str_t *out)
{
	str_t hdr;
	bool keep = false;

	str_init(&hdr);
	if (hlen > HEADER_SCAN_MAX)
		hlen = HEADER_SCAN_MAX;
	str_reserve(&hdr, (size_t)hlen);
	hdr.len = (size_t)store_message_read(s->server->store, ref, start, hdr.data, (size_t)hlen);
	for (size_t pos = 0; pos < hdr.len;) {
		const char *line = hdr.data + pos, *lf = memchr(line, '\n', hdr.len - pos);
		size_t len = lf ? (size_t)(lf - line) + 1 : hdr.len - pos;
		if (line[0] == '\r' || line[0] == '\n')
			break;
		if (line[0] != ' ' && line[0] != '\t')
			keep = field_listed(it, line, len) == (it->sec == SEC_FIELDS);
		if (keep)
			str_append(out, line, len);
		pos += len;
	}
	str_append(out, "\r\n", 2);
	str_free(&hdr);
}

/* The byte range a section names: a part's body or header directly, otherwise
 * within a message: the whole stored one, or a message/rfc822 part's body. Text
 * that is not a plain range (HEADER.FIELDS) goes to text. Returns false if the
 * part does not exist. */
static bool section_range(struct imap_session *s, const struct fetch_item *it,
			  const struct store_message_ref *ref, const struct mime_summary *mime,
			  uint64_t *start_r, uint64_t *end_r, str_t *text)
{
	uint64_t base = 0, limit = (uint64_t)ref->size, hlen;
	const struct mime_part *part = it->part ? mime_find_part(mime, it->part) : NULL;

	if (it->part != NULL) {
		if (part == NULL || (it->sec != SEC_PART && it->sec != SEC_MIME && !part->is_message))
			return false;
		if (it->sec == SEC_MIME || it->sec == SEC_PART) {
			*start_r = it->sec == SEC_MIME ? part->header_start : part->body_start;
			*end_r = it->sec == SEC_MIME ? part->body_start : part->body_end;
			return true;
		}
		base = part->body_start, limit = part->body_end;
	}
	hlen = it->sec == SEC_ALL ? 0 : header_length(s, ref, base, limit);
	*start_r = it->sec == SEC_TEXT ? base + hlen : base;
	*end_r = it->sec == SEC_HEADER ? base + hlen : limit;
	if (it->sec == SEC_FIELDS || it->sec == SEC_FIELDS_NOT) {
		header_fields(s, ref, base, hlen, it, text);
		*start_r = 0, *end_r = text->len;
	}
	return true;
}

/* Queues "LABEL {n}\r\n" and the bytes of one section. */
static void emit_section(struct imap_session *s, const struct fetch_item *it,
			 const struct store_message_ref *ref, const struct mime_summary *mime,
			 str_t *line)
{
	uint64_t start = 0, end = 0;
	str_t text;

	str_init(&text);
	if (!section_range(s, it, ref, mime, &start, &end, &text))
		start = end = 0; /* no such part: an empty string (RFC 3501 6.4.5) */
	if (it->partial) {
		uint64_t len = end - start;
		start += it->p_off < len ? it->p_off : len;
		end = start + it->p_len < end ? start + it->p_len : end;
	}
	str_appendf(line, "%s {%llu}\r\n", it->label, (unsigned long long)(end - start));
	imap_piece_text(s, line->data, line->len);
	str_clear(line);
	if (text.data != NULL)
		imap_piece_text(s, text.data + start, (size_t)(end - start));
	else if (end > start)
		imap_piece_range(s, ref, start, end - start);
	str_free(&text);
}

/* Summaries parsed during one FETCH, stored in the background (the answer does
 * not wait for them; a lost one is parsed again next time). */
#define MIME_CACHE_BATCH 256
struct mime_cache_batch {
	int64_t message_ids[MIME_CACHE_BATCH];
	struct store_mime entries[MIME_CACHE_BATCH];
	size_t count;
};

static int cache_run(store_tx_t *tx, void *arg)
{
	struct mime_cache_batch *b = arg;

	for (size_t i = 0; i < b->count; i++)
		if (store_tx_message_mime_put(tx, b->message_ids[i], &b->entries[i]) < 0)
			return -1;
	return 0;
}

static void cache_done(void *arg, int ok)
{
	struct mime_cache_batch *b = arg;

	for (size_t i = 0; i < b->count; i++)
		store_mime_clear(&b->entries[i]);
	free(b);
}

static void cache_flush(struct imap_session *s, struct fetch_state *f)
{
	if (f->cache != NULL && f->cache->count > 0)
		store_writer_submit(s->server->writer, cache_run, cache_done, f->cache);
	else
		free(f->cache);
	f->cache = NULL;
}

static void cache_add(struct imap_session *s, struct fetch_state *f, int64_t message_id,
		      const struct mime_summary *mime)
{
	struct mime_cache_batch *b;

	if (f->cache == NULL)
		f->cache = xcalloc(1, sizeof(*f->cache));
	b = f->cache;
	b->message_ids[b->count] = message_id;
	b->entries[b->count++] = (struct store_mime){
		xstrdup(mime->envelope), xstrdup(mime->bodystructure), xstrdup(mime->body),
		mime_parts_serialise(mime),
	};
	if (b->count == MIME_CACHE_BATCH)
		cache_flush(s, f);
}

/* What GMime found in one message: from the store's cache, else parsed now. */
static bool load_mime(struct imap_session *s, struct fetch_state *f,
		      const struct store_message_ref *m, struct mime_summary *mime)
{
	struct store_mime cached = { 0 };
	str_t bytes;
	bool ok;

	if (store_message_mime_get(s->server->store, m->message_id, &cached) == 1) {
		*mime = (struct mime_summary){ .envelope = cached.envelope,
					       .bodystructure = cached.bodystructure,
					       .body = cached.body };
		ok = mime_parts_parse(cached.parts, mime) == 0;
		free(cached.parts);
		if (!ok)
			mime_summary_free(mime);
		return ok;
	}
	str_init(&bytes);
	str_reserve(&bytes, (size_t)m->size);
	ok = store_message_read(s->server->store, m, 0, bytes.data, (size_t)m->size) == m->size &&
	     mime_summarise(bytes.data, (size_t)m->size, mime) == 0;
	str_free(&bytes);
	if (ok)
		cache_add(s, f, m->message_id, mime);
	return ok;
}

/* The Content-Transfer-Encoding named in a part's header; "" if none. */
static char *part_encoding(struct imap_session *s, const struct store_message_ref *ref,
			   const struct mime_part *part)
{
	size_t len = (size_t)(part->body_start - part->header_start);
	char *hdr = xmalloc(len + 1), *enc = xstrdup("");
	ssize_t n = store_message_read(s->server->store, ref, part->header_start, hdr, len);

	hdr[n > 0 ? n : 0] = '\0';
	for (char *line = hdr; line != NULL && *line != '\0';) {
		char *next = strchr(line, '\n');
		if (strncasecmp(line, "Content-Transfer-Encoding:", 26) == 0) {
			char *v = line + 26;
			v[strcspn(v, ";\r\n")] = '\0';
			free(enc);
			enc = xstrdup(str_trim(v));
			break;
		}
		line = next ? next + 1 : NULL;
	}
	free(hdr);
	return enc;
}

/* The decoded bytes of a BINARY section; false if the encoding is unknown. */
static bool binary_content(struct imap_session *s, const struct fetch_item *it,
			   const struct store_message_ref *ref, const struct mime_summary *mime, str_t *out)
{
	const struct mime_part *part = it->part ? mime_find_part(mime, it->part) : NULL;
	uint64_t start = part ? part->body_start : 0, end = part ? part->body_end : (uint64_t)ref->size;
	str_t raw;
	char *enc;
	bool ok = true;

	str_clear(out);
	if (it->part != NULL && part == NULL)
		return true; /* no such part: empty */
	str_init(&raw);
	str_reserve(&raw, (size_t)(end - start));
	raw.len = (size_t)store_message_read(s->server->store, ref, start, raw.data, (size_t)(end - start));
	if (part == NULL || part->is_message) {
		str_append(out, raw.data, raw.len);
	} else {
		enc = part_encoding(s, ref, part);
		ok = mime_decode(enc, raw.data, raw.len, out) == 0;
		free(enc);
	}
	str_free(&raw);
	return ok;
}

static void emit_binary(struct imap_session *s, struct fetch_state *f, const struct fetch_item *it,
			const struct store_message_ref *ref, const struct mime_summary *mime, str_t *line)
{
	str_t data;
	uint64_t start = 0, end;

	str_init(&data);
	if (!binary_content(s, it, ref, mime, &data)) {
		f->unknown_cte = true;
		str_appendf(line, "%s NIL", it->label);
		str_free(&data);
		return;
	}
	end = data.len;
	if (it->kind == F_BINARY_SIZE) {
		str_appendf(line, "%s %llu", it->label, (unsigned long long)end);
		str_free(&data);
		return;
	}
	if (it->partial) {
		start = it->p_off < end ? it->p_off : end;
		end = start + it->p_len < end ? start + it->p_len : end;
	}
	bool nul = data.data && memchr(data.data + start, '\0', (size_t)(end - start)) != NULL;
	str_appendf(line, "%s %s{%llu}\r\n", it->label, nul ? "~" : "", (unsigned long long)(end - start));
	imap_piece_text(s, line->data, line->len);
	str_clear(line);
	imap_piece_text(s, data.data ? data.data + start : "", (size_t)(end - start));
	str_free(&data);
}

static void mark_seen(struct imap_session *s, struct fetch_state *f, struct store_message_ref *m)
{
	m->flags |= STORE_FLAG_SEEN;
	s->view.generation++;
	f->seen_uids = xrealloc(f->seen_uids, (f->nseen + 1) * sizeof(uint32_t));
	f->seen_flags = xrealloc(f->seen_flags, (f->nseen + 1) * sizeof(unsigned));
	f->seen_uids[f->nseen] = m->uid;
	f->seen_flags[f->nseen++] = m->flags;
}

static void emit_message(struct imap_session *s, struct fetch_state *f, size_t index)
{
	struct store_message_ref *m = &s->view.msgs[index];
	struct mime_summary mime = { 0 };
	bool flags_changed = false, have_mime = f->needs_mime && load_mime(s, f, m, &mime);
	str_t line;
	char date[64];

	str_init(&line);
	str_appendf(&line, "* %zu FETCH (", index + 1);
	for (size_t i = 0; i < f->nitems; i++) {
		const struct fetch_item *it = &f->items[i];
		if (i > 0)
			str_append(&line, " ", 1);
		if (it->kind == F_UID) {
			str_appendf(&line, "UID %u", m->uid);
		} else if (it->kind == F_FLAGS) {
			str_append_cstr(&line, "FLAGS ");
			imap_format_flags(&s->view, m->flags, m->keywords, &line);
		} else if (it->kind == F_SIZE) {
			str_appendf(&line, "RFC822.SIZE %lld", (long long)m->size);
		} else if (it->kind == F_INTERNALDATE) {
			time_t t = (time_t)m->internal_date;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(date, sizeof(date), "\"%d-%b-%Y %H:%M:%S +0000\"", &tm);
			str_append_cstr(&line, "INTERNALDATE "), str_append_cstr(&line, date);
		} else if (it->kind == F_BINARY || it->kind == F_BINARY_SIZE) {
			if (!it->peek && !s->view.readonly && !(m->flags & STORE_FLAG_SEEN)) {
				mark_seen(s, f, m);
				flags_changed = true;
			}
			emit_binary(s, f, it, m, &mime, &line);
		} else if (it->kind == F_MODSEQ) {
			str_appendf(&line, "MODSEQ (%llu)", (unsigned long long)m->modseq);
		} else if (it->kind == F_ENVELOPE) {
			str_append_cstr(&line, "ENVELOPE ");
			str_append_cstr(&line, have_mime ? mime.envelope : "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
		} else if (it->kind == F_BODYSTRUCTURE || it->kind == F_BODY) {
			const char *bs = it->kind == F_BODY ? mime.body : mime.bodystructure;
			str_append_cstr(&line, it->kind == F_BODY ? "BODY " : "BODYSTRUCTURE ");
			str_append_cstr(&line, have_mime ? bs : "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
		} else {
			if (!it->peek && !s->view.readonly && !(m->flags & STORE_FLAG_SEEN)) {
				mark_seen(s, f, m);
				flags_changed = true;
			}
			emit_section(s, it, m, &mime, &line);
		}
	}
	if (flags_changed && !f->wants_flags)
		str_append_cstr(&line, " FLAGS "), imap_format_flags(&s->view, m->flags, m->keywords, &line);
	str_append(&line, ")\r\n", 3);
	imap_piece_text(s, line.data, line.len);
	str_free(&line);
	if (have_mime)
		mime_summary_free(&mime);
}

static void seen_written(struct imap_session *s, void *arg, int ok)
{
	struct fetch_state *f = arg;

	state_free(f);
	if (s == NULL)
		return;
	s->cmd_state = NULL;
	if (ok)
		imap_command_done(s, "OK", "FETCH completed");
	else
		imap_command_done(s, "NO", "[SERVERBUG] \\Seen could not be stored");
}

static int seen_job(store_tx_t *tx, void *arg)
{
	struct fetch_state *f = arg;

	return store_tx_set_flags(tx, f->mailbox_id, f->seen_uids, f->seen_flags, f->nseen);
}

static void fetch_resume(struct imap_session *s)
{
	struct fetch_state *f = s->cmd_state;

	while (imap_pieces_flush(s)) {
		if (s->conn == NULL || s->quitting)
			break;
		if (f->pos == f->count) {
			s->resume = NULL;
			cache_flush(s, f);
			if (f->nseen > 0) {
				imap_writer_run(s, seen_job, f, seen_written);
				return;
			}
			s->cmd_state = NULL;
			bool unknown = f->unknown_cte;
			state_free(f);
			if (unknown)
				imap_command_done(s, "NO", "[UNKNOWN-CTE] A part has an encoding we cannot decode");
			else
				imap_command_done(s, "OK", "FETCH completed");
			return;
		}
		emit_message(s, f, f->idx[f->pos++]);
	}
}

/* "(CHANGEDSINCE n [VANISHED])" (RFC 7162 3.1.4, 3.2.6): 0 if absent, 1 with
 * *since_r (and *vanished_r), -1 if bad. VANISHED needs QRESYNC and UID FETCH. */
static int parse_changed_since(const struct imap_session *s, uint64_t *since_r, bool *vanished_r)
{
	const struct imap_arg *m = s->cmd.argc == 3 ? &s->cmd.args[2] : NULL;
	char *end;

	*vanished_r = false;
	if (m == NULL)
		return s->cmd.argc == 2 ? 0 : -1;
	if (m->type != IMAP_ARG_LIST || m->count < 2 || m->count > 3 ||
	    m->children[0].type != IMAP_ARG_ATOM || strcasecmp(m->children[0].str, "CHANGEDSINCE") != 0 ||
	    m->children[1].type != IMAP_ARG_ATOM)
		return -1;
	if (m->count == 3) {
		if (m->children[2].type != IMAP_ARG_ATOM || strcasecmp(m->children[2].str, "VANISHED") != 0 ||
		    !s->qresync || !s->cmd.uid)
			return -1;
		*vanished_r = true;
	}
	*since_r = strtoull(m->children[1].str, &end, 10);
	return *end == '\0' ? 1 : -1;
}

/* "* VANISHED (EARLIER) uids": the UIDs of the set expunged after since. */
static void report_vanished(struct imap_session *s, const char *set_text, uint64_t since)
{
	struct imap_seqset set;
	uint32_t *gone = NULL;
	size_t n = 0, shown = 0;
	str_t line;

	if (imap_seqset_parse(set_text, UINT32_MAX, &set) < 0 ||
	    store_mailbox_vanished(s->server->store, s->view.id, since, &gone, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (imap_seqset_contains(&set, gone[i]))
			gone[shown++] = gone[i];
	if (shown > 0) {
		str_init(&line);
		imap_seqset_format(gone, shown, &line);
		imap_untagged(s, "VANISHED (EARLIER) %s", line.data);
		str_free(&line);
	}
	free(gone);
	imap_seqset_free(&set);
}

/* Keeps only the messages changed after SINCE. */
static void filter_changed(struct imap_session *s, struct fetch_state *f, uint64_t since)
{
	size_t kept = 0;

	for (size_t i = 0; i < f->count; i++)
		if (s->view.msgs[f->idx[i]].modseq > since)
			f->idx[kept++] = f->idx[i];
	f->count = kept;
}

void cmd_fetch(struct imap_session *s)
{
	struct fetch_state *f = xcalloc(1, sizeof(*f));
	uint64_t since = 0;
	bool vanished;
	int changed = parse_changed_since(s, &since, &vanished);

	if (changed < 0 || s->cmd.argc < 2 || s->cmd.args[0].type != IMAP_ARG_ATOM ||
	    parse_items(f, &s->cmd.args[1], s->cmd.uid) < 0) {
		state_free(f);
		imap_command_done(s, "BAD", "Unsupported or invalid FETCH items");
		return;
	}
	if (imap_view_select_set(s, s->cmd.args[0].str, s->cmd.uid, &f->idx, &f->count) < 0) {
		state_free(f);
		imap_command_done(s, "BAD", "Invalid message set");
		return;
	}
	if (changed > 0) {
		if (vanished)
			report_vanished(s, s->cmd.args[0].str, since);
		filter_changed(s, f, since);
		item_add(f, F_MODSEQ);
	}
	for (size_t i = 0; i < f->nitems; i++)
		if (f->items[i].kind == F_MODSEQ)
			s->condstore = true;
	f->mailbox_id = s->view.id;
	s->cmd_state = f;
	s->resume = fetch_resume;
	fetch_resume(s);
}

int imap_section_read(struct imap_session *s, const struct store_message_ref *ref, const char *section,
		      str_t *out)
{
	struct fetch_state *f = xcalloc(1, sizeof(*f));
	struct mime_summary mime = { 0 };
	char *atom = xasprintf("BODY.PEEK[%s]", section ? section : "");
	uint64_t start, end;
	str_t text;
	int rc = -1;

	str_init(&text);
	if ((section == NULL || strchr(section, ']') == NULL) && parse_body_item(f, atom) == 0 &&
	    !f->items[0].partial && (!f->needs_mime || load_mime(s, f, ref, &mime)) &&
	    section_range(s, &f->items[0], ref, &mime, &start, &end, &text)) {
		if (text.data != NULL) {
			str_append(out, text.data + start, (size_t)(end - start));
			rc = 0;
		} else {
			str_reserve(out, (size_t)(end - start));
			rc = store_message_read(s->server->store, ref, start, out->data + out->len,
						(size_t)(end - start)) == (ssize_t)(end - start) ? 0 : -1;
			if (rc == 0)
				out->len += (size_t)(end - start);
		}
	}
	str_free(&text);
	mime_summary_free(&mime);
	cache_flush(s, f);
	state_free(f);
	free(atom);
	return rc;
}

bool imap_fetch_atts_valid(const struct imap_arg *atts)
{
	struct fetch_state *f = xcalloc(1, sizeof(*f));
	bool ok = parse_items(f, atts, false) == 0;

	for (size_t i = 0; ok && i < f->nitems; i++)
		if ((f->items[i].kind == F_SECTION || f->items[i].kind == F_BINARY) && !f->items[i].peek)
			ok = false;
	state_free(f);
	return ok;
}

void imap_fetch_push(struct imap_session *s, const struct imap_arg *atts, size_t first, size_t count)
{
	struct fetch_state *f = xcalloc(1, sizeof(*f));
	bool has_uid = false;

	for (size_t i = 0; i < atts->count; i++)
		has_uid |= atts->children[i].type == IMAP_ARG_ATOM && strcasecmp(atts->children[i].str, "UID") == 0;
	if (parse_items(f, atts, !has_uid) == 0) /* UID always, once */
		for (size_t i = first; i < first + count && i < s->view.count; i++)
			emit_message(s, f, i);
	cache_flush(s, f);
	state_free(f);
	imap_pieces_write_all(s);
}
