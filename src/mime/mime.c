/* mime: ENVELOPE, BODYSTRUCTURE and part ranges from GMime's parse of the stored
 * bytes (persistent stream, so every part's content is a range of the original).
 * Strings are emitted as IMAP quoted strings, or literals when they hold 8-bit
 * octets or quotes would not do. */
#include <glib.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/lib.h"
#include "mime.h"

struct walk {
	const char *bytes;
	size_t len;
	struct mime_summary *out;
};

void mime_init(void)
{
	g_mime_init();
}

void mime_put_imap_string(str_t *out, const char *s, size_t len)
{
	bool quotable = len < 1024;

	if (s == NULL) {
		str_append_cstr(out, "NIL");
		return;
	}
	for (size_t i = 0; i < len && quotable; i++)
		quotable = s[i] != '\r' && s[i] != '\n' && s[i] != '\0' && (unsigned char)s[i] < 0x80;
	if (!quotable) {
		str_appendf(out, "{%zu}\r\n", len);
		str_append(out, s, len);
		return;
	}
	str_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			str_append(out, "\\", 1);
		str_append(out, &s[i], 1);
	}
	str_append(out, "\"", 1);
}

static void put_string(str_t *out, const char *s)
{
	mime_put_imap_string(out, s, s ? strlen(s) : 0);
}

/* A header's value as it stands in the message, unfolded and trimmed; NULL if absent. */
static char *raw_header(GMimeObject *obj, const char *name)
{
	GMimeHeader *h = g_mime_header_list_get_header(g_mime_object_get_header_list(obj), name);
	const char *raw = h ? g_mime_header_get_raw_value(h) : NULL;
	str_t v;

	if (raw == NULL)
		return NULL;
	str_init(&v);
	for (const char *p = raw; *p != '\0'; p++)
		if (*p != '\r' && *p != '\n')
			str_append(&v, p, 1);
	char *trimmed = xstrdup(str_trim(v.data ? v.data : (str_append(&v, "", 0), v.data)));
	str_free(&v);
	return trimmed;
}

static void put_raw_header(str_t *out, GMimeObject *obj, const char *name)
{
	char *v = raw_header(obj, name);

	put_string(out, v);
	free(v);
}

static void put_address(str_t *out, InternetAddress *ia)
{
	if (INTERNET_ADDRESS_IS_GROUP(ia)) {
		InternetAddressList *members = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia));
		str_append_cstr(out, "(NIL NIL ");
		put_string(out, internet_address_get_name(ia));
		str_append_cstr(out, " NIL)");
		for (int i = 0; members && i < internet_address_list_length(members); i++)
			put_address(out, internet_address_list_get_address(members, i));
		str_append_cstr(out, "(NIL NIL NIL NIL)");
		return;
	}
	const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	const char *at = addr ? strrchr(addr, '@') : NULL;
	char *local = at ? xstrndup(addr, (size_t)(at - addr)) : xstrdup(addr ? addr : "");
	str_append(out, "(", 1);
	put_string(out, internet_address_get_name(ia));
	str_append_cstr(out, " NIL ");
	put_string(out, local);
	str_append(out, " ", 1);
	put_string(out, at ? at + 1 : NULL);
	str_append(out, ")", 1);
	free(local);
}

/* An address header as ((name adl mailbox host) ...), or NIL. */
static void put_addresses(str_t *out, GMimeObject *obj, const char *name, const char *fallback)
{
	char *raw = raw_header(obj, name);
	InternetAddressList *list;

	if (raw == NULL && fallback != NULL)
		raw = raw_header(obj, fallback);
	list = raw ? internet_address_list_parse(NULL, raw) : NULL;
	if (list == NULL || internet_address_list_length(list) == 0) {
		str_append_cstr(out, "NIL");
	} else {
		str_append(out, "(", 1);
		for (int i = 0; i < internet_address_list_length(list); i++)
			put_address(out, internet_address_list_get_address(list, i));
		str_append(out, ")", 1);
	}
	if (list != NULL)
		g_object_unref(list);
	free(raw);
}

static void put_envelope(str_t *out, GMimeObject *msg)
{
	str_append(out, "(", 1);
	put_raw_header(out, msg, "Date");
	str_append(out, " ", 1);
	put_raw_header(out, msg, "Subject");
	str_append(out, " ", 1);
	put_addresses(out, msg, "From", NULL);
	str_append(out, " ", 1);
	put_addresses(out, msg, "Sender", "From");
	str_append(out, " ", 1);
	put_addresses(out, msg, "Reply-To", "From");
	str_append(out, " ", 1);
	put_addresses(out, msg, "To", NULL);
	str_append(out, " ", 1);
	put_addresses(out, msg, "Cc", NULL);
	str_append(out, " ", 1);
	put_addresses(out, msg, "Bcc", NULL);
	str_append(out, " ", 1);
	put_raw_header(out, msg, "In-Reply-To");
	str_append(out, " ", 1);
	put_raw_header(out, msg, "Message-ID");
	str_append(out, ")", 1);
}

static void put_params(str_t *out, GMimeParamList *params)
{
	int n = params ? g_mime_param_list_length(params) : 0;

	if (n == 0) {
		str_append_cstr(out, "NIL");
		return;
	}
	str_append(out, "(", 1);
	for (int i = 0; i < n; i++) {
		GMimeParam *p = g_mime_param_list_get_parameter_at(params, i);
		if (i > 0)
			str_append(out, " ", 1);
		put_string(out, g_mime_param_get_name(p));
		str_append(out, " ", 1);
		put_string(out, g_mime_param_get_value(p));
	}
	str_append(out, ")", 1);
}

/* Extension data shared by every kind of part: disposition, language, location. */
static void put_disposition_language_location(str_t *out, GMimeObject *obj)
{
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);

	str_append(out, " ", 1);
	if (d == NULL || g_mime_content_disposition_get_disposition(d) == NULL) {
		str_append_cstr(out, "NIL");
	} else {
		str_append(out, "(", 1);
		put_string(out, g_mime_content_disposition_get_disposition(d));
		str_append(out, " ", 1);
		put_params(out, g_mime_content_disposition_get_parameters(d));
		str_append(out, ")", 1);
	}
	str_append(out, " ", 1);
	put_raw_header(out, obj, "Content-Language");
	str_append(out, " ", 1);
	put_raw_header(out, obj, "Content-Location");
}

static uint64_t first_header_offset(GMimeObject *obj, uint64_t fallback)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	gint64 off = list && g_mime_header_list_get_count(list) > 0
			     ? g_mime_header_get_offset(g_mime_header_list_get_header_at(list, 0))
			     : -1;

	return off >= 0 ? (uint64_t)off : fallback;
}

static void add_part(struct walk *w, const char *section, uint64_t header_start, uint64_t body_start,
		     uint64_t body_end, int is_message)
{
	struct mime_summary *s = w->out;

	s->parts = xrealloc(s->parts, (s->part_count + 1) * sizeof(*s->parts));
	s->parts[s->part_count++] = (struct mime_part){ xstrdup(section), header_start, body_start,
							body_end, is_message };
}

static uint64_t count_lines(const struct walk *w, uint64_t start, uint64_t end)
{
	uint64_t lines = 0;

	for (uint64_t i = start; i < end && i < w->len; i++)
		lines += w->bytes[i] == '\n';
	return lines;
}

static void put_at(struct walk *w, GMimeObject *obj, const char *section, bool ext, str_t *out,
		   uint64_t *end_r);
static void put_body(struct walk *w, GMimeObject *obj, const char *prefix, bool ext, str_t *out,
		     uint64_t *end_r);

static void put_multipart(struct walk *w, GMimeObject *obj, const char *section, bool ext,
			  str_t *out, uint64_t *end_r)
{
	GMimeMultipart *mp = GMIME_MULTIPART(obj);
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	str_append(out, "(", 1);
	for (int i = 0; i < g_mime_multipart_get_count(mp); i++) {
		char *sub = *section ? xasprintf("%s.%d", section, i + 1) : xasprintf("%d", i + 1);
		put_at(w, g_mime_multipart_get_part(mp, i), sub, ext, out, end_r);
		free(sub);
	}
	str_append(out, " ", 1);
	put_string(out, g_mime_content_type_get_media_subtype(ct));
	if (ext) {
		str_append(out, " ", 1);
		put_params(out, g_mime_content_type_get_parameters(ct));
		put_disposition_language_location(out, obj);
	}
	str_append(out, ")", 1);
}

/* type subtype params id description encoding */
static void put_basic_fields(str_t *out, GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char *enc = raw_header(obj, "Content-Transfer-Encoding");

	str_append(out, "(", 1);
	put_string(out, g_mime_content_type_get_media_type(ct));
	str_append(out, " ", 1);
	put_string(out, g_mime_content_type_get_media_subtype(ct));
	str_append(out, " ", 1);
	put_params(out, g_mime_content_type_get_parameters(ct));
	str_append(out, " ", 1);
	put_raw_header(out, obj, "Content-ID");
	str_append(out, " ", 1);
	put_raw_header(out, obj, "Content-Description");
	str_append(out, " ", 1);
	put_string(out, enc ? enc : "7BIT");
	free(enc);
}

/* The end shared by leaves and message parts: extension data, the closing
 * parenthesis, and the part's place in the table. */
static void finish_part(struct walk *w, GMimeObject *obj, const char *section, bool ext, str_t *out,
			uint64_t start, uint64_t end, int is_message, uint64_t *end_r)
{
	if (ext) {
		str_append(out, " ", 1);
		put_raw_header(out, obj, "Content-MD5");
		put_disposition_language_location(out, obj);
	}
	str_append(out, ")", 1);
	add_part(w, section, first_header_offset(obj, start), start, end, is_message);
	if (end > *end_r)
		*end_r = end;
}

static void put_leaf(struct walk *w, GMimeObject *obj, const char *section, bool ext, str_t *out,
		     uint64_t *end_r)
{
	GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(obj));
	GMimeStream *stream = content ? g_mime_data_wrapper_get_stream(content) : NULL;
	uint64_t start = stream ? (uint64_t)stream->bound_start : 0;
	uint64_t end = stream ? (uint64_t)(stream->bound_end >= 0 ? stream->bound_end : (gint64)w->len) : 0;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);

	put_basic_fields(out, obj);
	str_appendf(out, " %llu", (unsigned long long)(end - start));
	if (strcasecmp(g_mime_content_type_get_media_type(ct), "text") == 0)
		str_appendf(out, " %llu", (unsigned long long)count_lines(w, start, end));
	finish_part(w, obj, section, ext, out, start, end, 0, end_r);
}

static void put_message_part(struct walk *w, GMimeObject *obj, const char *section, bool ext,
			     str_t *out, uint64_t *end_r)
{
	GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
	GMimeObject *body = inner ? g_mime_message_get_mime_part(inner) : NULL;
	uint64_t start = inner ? first_header_offset(GMIME_OBJECT(inner), 0) : 0, end = start;
	str_t sub;

	str_init(&sub);
	if (body != NULL)
		put_body(w, body, section, ext, &sub, &end);
	put_basic_fields(out, obj);
	str_appendf(out, " %llu ", (unsigned long long)(end - start));
	if (inner != NULL)
		put_envelope(out, GMIME_OBJECT(inner));
	else
		str_append_cstr(out, "NIL");
	str_append(out, " ", 1);
	str_append(out, sub.data ? sub.data : "NIL", sub.data ? sub.len : 3);
	str_appendf(out, " %llu", (unsigned long long)count_lines(w, start, end));
	str_free(&sub);
	finish_part(w, obj, section, ext, out, start, end, 1, end_r);
}

/* A part that occupies exactly SECTION (a child of a multipart). */
static void put_at(struct walk *w, GMimeObject *obj, const char *section, bool ext, str_t *out,
		   uint64_t *end_r)
{
	if (GMIME_IS_MULTIPART(obj))
		put_multipart(w, obj, section, ext, out, end_r);
	else if (GMIME_IS_MESSAGE_PART(obj))
		put_message_part(w, obj, section, ext, out, end_r);
	else if (GMIME_IS_PART(obj))
		put_leaf(w, obj, section, ext, out, end_r);
	else
		str_append_cstr(out, "NIL");
}

/* The body of a message numbered PREFIX ("" for the top): a multipart's children
 * are PREFIX.1, PREFIX.2...; a single part is PREFIX.1 (RFC 3501 6.4.5). */
static void put_body(struct walk *w, GMimeObject *obj, const char *prefix, bool ext, str_t *out,
		     uint64_t *end_r)
{
	char *section;

	if (GMIME_IS_MULTIPART(obj)) {
		put_multipart(w, obj, prefix, ext, out, end_r);
		return;
	}
	section = *prefix ? xasprintf("%s.1", prefix) : xstrdup("1");
	put_at(w, obj, section, ext, out, end_r);
	free(section);
}

static void parts_free(struct mime_summary *s)
{
	for (size_t i = 0; i < s->part_count; i++)
		free(s->parts[i].section);
	free(s->parts);
	s->parts = NULL;
	s->part_count = 0;
}

int mime_summarise(const char *bytes, size_t len, struct mime_summary *out)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(bytes, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *msg;
	struct walk w = { bytes, len, out };
	str_t env, bs, body;
	uint64_t end = 0;

	memset(out, 0, sizeof(*out));
	g_mime_parser_set_persist_stream(parser, TRUE);
	msg = g_mime_parser_construct_message(parser, NULL);
	if (msg == NULL || g_mime_message_get_mime_part(msg) == NULL) {
		if (msg != NULL)
			g_object_unref(msg);
		g_object_unref(parser);
		g_object_unref(stream);
		return -1;
	}
	str_init(&env), str_init(&bs), str_init(&body);
	put_envelope(&env, GMIME_OBJECT(msg));
	put_body(&w, g_mime_message_get_mime_part(msg), "", true, &bs, &end);
	parts_free(out); /* the BODY walk below fills the same table again */
	put_body(&w, g_mime_message_get_mime_part(msg), "", false, &body, &end);
	out->envelope = str_steal(&env);
	out->bodystructure = str_steal(&bs);
	out->body = str_steal(&body);
	g_object_unref(msg);
	g_object_unref(parser);
	g_object_unref(stream);
	return 0;
}

void mime_summary_free(struct mime_summary *s)
{
	parts_free(s);
	free(s->envelope);
	free(s->bodystructure);
	free(s->body);
	memset(s, 0, sizeof(*s));
}

const struct mime_part *mime_find_part(const struct mime_summary *s, const char *section)
{
	for (size_t i = 0; i < s->part_count; i++)
		if (strcmp(s->parts[i].section, section) == 0)
			return &s->parts[i];
	return NULL;
}

char *mime_parts_serialise(const struct mime_summary *s)
{
	str_t out;

	str_init(&out);
	for (size_t i = 0; i < s->part_count; i++) {
		const struct mime_part *p = &s->parts[i];
		str_appendf(&out, "%s %llu %llu %llu %d\n", p->section,
			    (unsigned long long)p->header_start, (unsigned long long)p->body_start,
			    (unsigned long long)p->body_end, p->is_message);
	}
	if (out.data == NULL)
		str_append(&out, "", 0);
	return str_steal(&out);
}

int mime_parts_parse(const char *text, struct mime_summary *s)
{
	for (const char *line = text; *line != '\0';) {
		const char *nl = strchr(line, '\n');
		char section[128];
		unsigned long long h, b, e;
		int is_message;
		if (nl == NULL || sscanf(line, "%127s %llu %llu %llu %d", section, &h, &b, &e, &is_message) != 5)
			return -1;
		s->parts = xrealloc(s->parts, (s->part_count + 1) * sizeof(*s->parts));
		s->parts[s->part_count++] = (struct mime_part){ xstrdup(section), h, b, e, is_message };
		line = nl + 1;
	}
	return 0;
}

int mime_decode(const char *encoding, const char *data, size_t len, str_t *out)
{
	GMimeContentEncoding enc = g_mime_content_encoding_from_string(encoding ? encoding : "7bit");
	GMimeFilter *filter;
	char *result;
	size_t result_len, prespace;

	str_clear(out);
	switch (enc) {
	case GMIME_CONTENT_ENCODING_DEFAULT:
		if (encoding != NULL && *encoding != '\0')
			return -1; /* a name GMime does not know */
		/* fall through */
	case GMIME_CONTENT_ENCODING_7BIT:
	case GMIME_CONTENT_ENCODING_8BIT:
	case GMIME_CONTENT_ENCODING_BINARY:
		str_append(out, data, len);
		return 0;
	default:
		break;
	}
	filter = g_mime_filter_basic_new(enc, FALSE);
	g_mime_filter_complete(filter, (char *)data, len, 0, &result, &result_len, &prespace);
	str_append(out, result, result_len);
	g_object_unref(filter);
	return 0;
}

/* RFC 5256 2.1 base subject, on a decoded subject: folded spaces, then leading
 * "re:", "fw:", "fwd:" (with "[blob]"s) and trailing "(fwd)" removed until none. */
static char *base_subject(const char *decoded, bool *is_reply)
{
	str_t s;
	char *p, *start;
	bool changed = true;

	str_init(&s);
	for (const char *c = decoded ? decoded : ""; *c != '\0'; c++) {
		char ch = *c == '\t' || *c == '\r' || *c == '\n' ? ' ' : *c;
		if (ch == ' ' && (s.len == 0 || s.data[s.len - 1] == ' '))
			continue;
		str_append(&s, &ch, 1);
	}
	if (s.data == NULL)
		str_append(&s, "", 0);
	start = s.data;
	while (changed) {
		size_t len = strlen(start);
		changed = false;
		while (len > 0 && start[len - 1] == ' ')
			start[--len] = '\0', changed = true;
		if (len >= 5 && strcasecmp(start + len - 5, "(fwd)") == 0)
			start[len - 5] = '\0', changed = *is_reply = true;
		while (*start == ' ')
			start++, changed = true;
		for (const char *const *pre = (const char *const[]){ "re", "fwd", "fw", NULL }; *pre; pre++) {
			size_t n = strlen(*pre);
			if (strncasecmp(start, *pre, n) != 0)
				continue;
			p = start + n;
			while (*p == ' ')
				p++;
			while (*p == '[' && strchr(p, ']') != NULL) /* "Re [list]:" */
				for (p = strchr(p, ']') + 1; *p == ' '; p++)
					;
			if (*p == ':') {
				start = p + 1, changed = *is_reply = true;
				break;
			}
		}
		if (*start == '[' && strchr(start, ']') != NULL && strchr(start, ']')[1] != '\0') {
			start = strchr(start, ']') + 1, changed = true;
		}
	}
	p = xstrdup(start);
	str_free(&s);
	return p;
}

/* The first mailbox of an address header: its local part, and how to show it. */
static void first_address(GMimeMessage *msg, GMimeAddressType type, char **local_r, char **display_r)
{
	InternetAddressList *list = g_mime_message_get_addresses(msg, type);
	InternetAddress *ia = list && internet_address_list_length(list) > 0
				      ? internet_address_list_get_address(list, 0) : NULL;
	const char *addr = ia && INTERNET_ADDRESS_IS_MAILBOX(ia)
				   ? internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)) : NULL;
	const char *name = ia ? internet_address_get_name(ia) : NULL;
	const char *at = addr ? strrchr(addr, '@') : NULL;

	*local_r = addr ? xstrndup(addr, at ? (size_t)(at - addr) : strlen(addr)) : xstrdup("");
	if (display_r != NULL)
		*display_r = xstrdup(name && *name ? name : addr ? addr : "");
}

/* The message ids of a header (References, In-Reply-To), at most max of the
 * last ones, appended to k->references. */
static void add_references(GMimeMessage *msg, const char *field, size_t max, struct mime_sort_keys *k)
{
	const char *text = g_mime_object_get_header(GMIME_OBJECT(msg), field);
	GMimeReferences *refs = text ? g_mime_references_parse(NULL, text) : NULL;
	int n = refs ? g_mime_references_length(refs) : 0;

	for (int i = n > (int)max ? n - (int)max : 0; i < n; i++) {
		k->references = xrealloc(k->references, (k->reference_count + 1) * sizeof(char *));
		k->references[k->reference_count++] = xstrdup(g_mime_references_get_message_id(refs, i));
	}
	if (refs != NULL)
		g_mime_references_free(refs);
}

/* What THREAD=REFERENCES needs (RFC 5256 3): the Message-ID, and References, or
 * failing those the first id of In-Reply-To. */
static void thread_ids(GMimeMessage *msg, struct mime_sort_keys *k)
{
	const char *id = g_mime_message_get_message_id(msg);

	k->message_id = id && *id ? xstrdup(id) : NULL;
	add_references(msg, "References", MIME_REFERENCES_MAX, k);
	if (k->reference_count == 0)
		add_references(msg, "In-Reply-To", 1, k);
}

void mime_sort_keys(const char *header, size_t len, struct mime_sort_keys *k)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(header, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	GDateTime *date = msg ? g_mime_message_get_date(msg) : NULL;

	memset(k, 0, sizeof(*k));
	k->date = date ? (int64_t)g_date_time_to_unix(date) : -1;
	k->base_subject = base_subject(msg ? g_mime_message_get_subject(msg) : NULL, &k->subject_is_reply);
	if (msg != NULL) {
		thread_ids(msg, k);
		first_address(msg, GMIME_ADDRESS_TYPE_FROM, &k->from, &k->display_from);
		first_address(msg, GMIME_ADDRESS_TYPE_TO, &k->to, &k->display_to);
		first_address(msg, GMIME_ADDRESS_TYPE_CC, &k->cc, NULL);
		g_object_unref(msg);
	} else {
		k->from = xstrdup(""), k->to = xstrdup(""), k->cc = xstrdup("");
		k->display_from = xstrdup(""), k->display_to = xstrdup("");
	}
	g_object_unref(parser);
	g_object_unref(stream);
}

void mime_sort_keys_free(struct mime_sort_keys *k)
{
	for (size_t i = 0; i < k->reference_count; i++)
		free(k->references[i]);
	free(k->references);
	free(k->message_id);
	free(k->base_subject);
	free(k->from);
	free(k->to);
	free(k->cc);
	free(k->display_from);
	free(k->display_to);
	memset(k, 0, sizeof(*k));
}

static void collect_text(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	str_t *body = data;
	char *text;

	if (!GMIME_IS_TEXT_PART(part))
		return;
	text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
	if (text != NULL) {
		str_append_cstr(body, text);
		str_append(body, "\n", 1);
		g_free(text);
	}
}

void mime_extract_text(const char *bytes, size_t len, str_t *headers, str_t *body)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(bytes, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	GMimeHeaderList *list = msg ? g_mime_object_get_header_list(GMIME_OBJECT(msg)) : NULL;

	str_append(headers, "", 0);
	str_append(body, "", 0);
	for (int i = 0; list != NULL && i < g_mime_header_list_get_count(list); i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *raw = g_mime_header_get_raw_value(h);
		char *value = raw ? g_mime_utils_header_decode_text(NULL, raw) : NULL;
		str_appendf(headers, "%s: %s\n", g_mime_header_get_name(h), value ? value : "");
		g_free(value);
	}
	if (msg != NULL) {
		g_mime_message_foreach(msg, collect_text, body);
		g_object_unref(msg);
	}
	g_object_unref(parser);
	g_object_unref(stream);
}

/* ---- downgrade to 7 bits for a server without 8BITMIME (RFC 6152 3) ---- */

struct downgrade {
	bool impossible; /* 8-bit data under a signature or in a header */
	bool changed;
};

static bool bytes_8bit(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] >= 0x80)
			return true;
	return false;
}

/* Does the part's content (as it would be written) hold 8-bit octets? */
static bool part_8bit(GMimePart *part)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeStream *mem;
	GByteArray *bytes;
	bool eight;

	if (content == NULL)
		return false;
	mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(content, mem);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	eight = bytes_8bit(bytes->data, bytes->len);
	g_object_unref(mem);
	return eight;
}

static bool headers_8bit(GMimeObject *obj)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	int n = list ? g_mime_header_list_get_count(list) : 0;

	for (int i = 0; i < n; i++) {
		const char *raw = g_mime_header_get_raw_value(g_mime_header_list_get_header_at(list, i));
		if (raw != NULL && bytes_8bit((const unsigned char *)raw, strlen(raw)))
			return true;
	}
	return false;
}

static void downgrade_walk(GMimeObject *obj, bool signed_part, struct downgrade *d)
{
	if (d->impossible || obj == NULL)
		return;
	if (headers_8bit(obj)) {
		d->impossible = true;
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		bool under = signed_part || GMIME_IS_MULTIPART_SIGNED(obj) || GMIME_IS_MULTIPART_ENCRYPTED(obj);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			downgrade_walk(g_mime_multipart_get_part(mp, i), under, d);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (inner != NULL && headers_8bit(GMIME_OBJECT(inner)))
			d->impossible = true;
		else if (inner != NULL)
			downgrade_walk(g_mime_message_get_mime_part(inner), signed_part, d);
	} else if (GMIME_IS_PART(obj)) {
		GMimePart *part = GMIME_PART(obj);
		GMimeContentEncoding enc = g_mime_part_get_content_encoding(part);
		bool eight = enc == GMIME_CONTENT_ENCODING_8BIT || enc == GMIME_CONTENT_ENCODING_BINARY ||
			     (enc == GMIME_CONTENT_ENCODING_DEFAULT && part_8bit(part));
		if (!eight)
			return;
		if (signed_part || GMIME_IS_APPLICATION_PKCS7_MIME(obj)) {
			d->impossible = true; /* converting it would break the signature */
			return;
		}
		GMimeContentType *type = g_mime_object_get_content_type(obj);
		g_mime_part_set_content_encoding(part, g_mime_content_type_is_type(type, "text", "*")
							       ? GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE
							       : GMIME_CONTENT_ENCODING_BASE64);
		d->changed = true;
	}
}

int mime_downgrade_7bit(const char *bytes, size_t len, str_t *out)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(bytes, len), *mem;
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	struct downgrade d = { 0 };
	GByteArray *written;
	int rc = -1;

	if (msg != NULL) {
		if (headers_8bit(GMIME_OBJECT(msg)))
			d.impossible = true;
		downgrade_walk(g_mime_message_get_mime_part(msg), false, &d);
		if (!d.impossible && d.changed) {
			GMimeFormatOptions *crlf = g_mime_format_options_new();
			g_mime_format_options_set_newline_format(crlf, GMIME_NEWLINE_FORMAT_DOS);
			mem = g_mime_stream_mem_new();
			g_mime_object_write_to_stream(GMIME_OBJECT(msg), crlf, mem);
			g_mime_format_options_free(crlf);
			written = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
			if (!bytes_8bit(written->data, written->len)) {
				str_append(out, written->data, written->len);
				rc = 0;
			}
			g_object_unref(mem);
		}
		g_object_unref(msg);
	}
	g_object_unref(parser);
	g_object_unref(stream);
	return rc;
}
