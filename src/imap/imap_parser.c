/* imap_parser: turns client bytes into commands (tag, name, argument tree). It does
 * no I/O: feed it any number of bytes, even one at a time; it says when a command
 * is complete, when a synchronising literal needs "+ go ahead", or what is wrong.
 * Bounded: bytes outside literals per command, literal size, list depth, argument
 * count. After an error it skips to the end of the line and starts afresh. */
#include <string.h>

#include "imap.h"

enum parser_state {
	S_TAG,
	S_NAME,
	S_ARG,          /* between arguments */
	S_ATOM,
	S_ATOM_BRACKET, /* inside [...] of an atom: BODY[HEADER.FIELDS (A B)] */
	S_QUOTED,
	S_QUOTED_ESC,
	S_LITERAL8,     /* after '~', expecting '{' */
	S_LITERAL_LEN,
	S_LITERAL_CR,
	S_LITERAL_LF,
	S_LITERAL_DATA,
	S_CR,
	S_SKIP,         /* after an error: drop input up to LF */
};

/* 8-bit octets are let into atoms: clients send UTF-8 search terms bare (as
 * IMAP4rev2 allows in strings) and refusing them helps nobody. */
static bool is_atom_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '{' && c != '"' &&
	       c != '%' && c != '*' && c != '\\' && c != ']';
}

/* Flags (\Seen), LIST patterns (% *) and section ends (]) are atoms too when the
 * command allows them; the handler judges, the parser only keeps them whole. */
static bool is_atom_char_loose(unsigned char c)
{
	return is_atom_char(c) || c == '%' || c == '*' || c == '\\' || c == ']';
}

void imap_parser_reset(struct imap_parser *p);

void imap_parser_init(struct imap_parser *p, const struct imap_parser_limits *limits)
{
	memset(p, 0, sizeof(*p));
	p->limits = *limits;
	str_init(&p->token);
	str_init(&p->tag);
	str_init(&p->name);
	imap_parser_reset(p);
}

static void arg_free(struct imap_arg *arg)
{
	for (size_t i = 0; i < arg->count; i++)
		arg_free(&arg->children[i]);
	free(arg->children);
	free(arg->str);
}

void imap_arg_copy(struct imap_arg *dst, const struct imap_arg *src)
{
	*dst = *src;
	dst->children = NULL;
	if (src->str != NULL) {
		dst->str = xmalloc(src->len + 1);
		memcpy(dst->str, src->str, src->len + 1);
	}
	if (src->count > 0) {
		dst->children = xcalloc(src->count, sizeof(*dst->children));
		for (size_t i = 0; i < src->count; i++)
			imap_arg_copy(&dst->children[i], &src->children[i]);
	}
}

void imap_arg_free(struct imap_arg *arg)
{
	arg_free(arg);
	memset(arg, 0, sizeof(*arg));
}

static void parser_clear_command(struct imap_parser *p)
{
	arg_free(&p->root);
	memset(&p->root, 0, sizeof(p->root));
	p->root.type = IMAP_ARG_LIST;
	p->depth = 0;
	p->stack[0] = &p->root;
	p->line_bytes = 0;
	p->arg_total = 0;
	p->literal_total = 0;
	str_clear(&p->token);
	str_clear(&p->tag);
	str_clear(&p->name);
	p->error = NULL;
	p->fatal = false;
	p->error_ended_line = false;
	p->tag_complete = false;
}

void imap_parser_reset(struct imap_parser *p)
{
	parser_clear_command(p);
	p->state = S_TAG;
}

void imap_parser_free(struct imap_parser *p)
{
	parser_clear_command(p);
	str_free(&p->token);
	str_free(&p->tag);
	str_free(&p->name);
}

static struct imap_arg *arg_append(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg *list = p->stack[p->depth], *arg;

	if (++p->arg_total > p->limits.args_max)
		return NULL;
	list->children = xrealloc(list->children, (list->count + 1) * sizeof(*arg));
	arg = &list->children[list->count++];
	memset(arg, 0, sizeof(*arg));
	arg->type = type;
	return arg;
}

/* Ends the token being read as an argument of the given type. */
static bool token_finish(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg *arg = arg_append(p, type);

	if (arg == NULL)
		return false;
	arg->len = p->token.len;
	arg->str = xmalloc(p->token.len + 1);
	memcpy(arg->str, p->token.data ? p->token.data : "", p->token.len);
	arg->str[p->token.len] = '\0';
	str_clear(&p->token);
	return true;
}

static enum imap_parse_result fail(struct imap_parser *p, const char *why, bool fatal)
{
	p->error = why;
	p->fatal = fatal;
	p->state = S_SKIP;
	return IMAP_PARSE_ERROR;
}

static enum imap_parse_result step_arg(struct imap_parser *p, unsigned char c);

static enum imap_parse_result end_of_line(struct imap_parser *p, unsigned char c)
{
	if (p->depth != 0)
		return fail(p, "Unbalanced parentheses", false);
	if (c == '\r') {
		p->state = S_CR;
		return IMAP_PARSE_NEED_MORE;
	}
	return IMAP_PARSE_DONE; /* a bare LF ends a line too: clients do send it */
}

static enum imap_parse_result step_tag(struct imap_parser *p, unsigned char c)
{
	if (c == ' ' && p->tag.len > 0) {
		p->tag_complete = true;
		p->state = S_NAME;
		return IMAP_PARSE_NEED_MORE;
	}
	if (!is_atom_char(c) || c == '+' || c >= 0x80)
		return fail(p, c == '\r' || c == '\n' ? "Empty command" : "Invalid tag", false);
	str_append(&p->tag, &c, 1);
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result step_name(struct imap_parser *p, unsigned char c)
{
	if ((c == ' ' || c == '\r' || c == '\n') && p->name.len > 0) {
		p->state = S_ARG;
		return c == ' ' ? IMAP_PARSE_NEED_MORE : end_of_line(p, c);
	}
	if (!is_atom_char(c))
		return fail(p, "Invalid command name", false);
	str_append(&p->name, &c, 1);
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result open_list(struct imap_parser *p)
{
	struct imap_arg *list;

	if (p->depth + 1 >= IMAP_PARSER_DEPTH_MAX || p->depth + 1 > p->limits.depth_max)
		return fail(p, "Too deeply nested", false);
	if ((list = arg_append(p, IMAP_ARG_LIST)) == NULL)
		return fail(p, "Too many arguments", false);
	p->stack[++p->depth] = list;
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result step_arg(struct imap_parser *p, unsigned char c)
{
	switch (c) {
	case ' ':
		return IMAP_PARSE_NEED_MORE;
	case '\r':
	case '\n':
		return end_of_line(p, c);
	case '(':
		return open_list(p);
	case ')':
		if (p->depth == 0)
			return fail(p, "Unbalanced parentheses", false);
		p->depth--;
		return IMAP_PARSE_NEED_MORE;
	case '"':
		p->state = S_QUOTED;
		return IMAP_PARSE_NEED_MORE;
	case '{':
		p->literal_len = 0;
		p->literal_digits = 0;
		p->literal_nonsync = false;
		p->state = S_LITERAL_LEN;
		return IMAP_PARSE_NEED_MORE;
	case '~':
		p->state = S_LITERAL8;
		return IMAP_PARSE_NEED_MORE;
	}
	if (!is_atom_char_loose(c))
		return fail(p, "Invalid character", false);
	p->state = S_ATOM;
	str_append(&p->token, &c, 1);
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result step_atom(struct imap_parser *p, unsigned char c)
{
	if (c == '[') {
		p->state = S_ATOM_BRACKET;
		str_append(&p->token, &c, 1);
		return IMAP_PARSE_NEED_MORE;
	}
	if (is_atom_char_loose(c) || c == '<' || c == '>' || c == '.') {
		str_append(&p->token, &c, 1);
		return IMAP_PARSE_NEED_MORE;
	}
	if (!token_finish(p, IMAP_ARG_ATOM))
		return fail(p, "Too many arguments", false);
	p->state = S_ARG;
	return step_arg(p, c);
}

static enum imap_parse_result step_literal_len(struct imap_parser *p, unsigned char c)
{
	if (c >= '0' && c <= '9' && !p->literal_nonsync) {
		if (++p->literal_digits > 12)
			return fail(p, "Literal too large", true);
		p->literal_len = p->literal_len * 10 + (c - '0');
		return IMAP_PARSE_NEED_MORE;
	}
	if (c == '+' && p->literal_digits > 0 && !p->literal_nonsync) {
		p->literal_nonsync = true;
		return IMAP_PARSE_NEED_MORE;
	}
	if (c != '}' || p->literal_digits == 0)
		return fail(p, "Invalid literal", p->literal_nonsync);
	/* The bound is on the command, so many literals (MULTIAPPEND) cannot add up past
	 * it. A client sending {n+} sends the bytes anyway: we cannot resynchronise. */
	if (p->literal_len > p->limits.literal_max - p->literal_total)
		return fail(p, "Literal too large", p->literal_nonsync);
	p->literal_total += p->literal_len;
	p->state = S_LITERAL_CR;
	return IMAP_PARSE_NEED_MORE;
}

static enum imap_parse_result literal_begin(struct imap_parser *p)
{
	p->literal_remaining = p->literal_len;
	p->state = S_LITERAL_DATA;
	str_reserve(&p->token, (size_t)p->literal_len);
	if (p->literal_remaining == 0) {
		if (!token_finish(p, IMAP_ARG_LITERAL))
			return fail(p, "Too many arguments", true);
		p->state = S_ARG;
		return IMAP_PARSE_NEED_MORE;
	}
	return p->literal_nonsync ? IMAP_PARSE_NEED_MORE : IMAP_PARSE_CONTINUE;
}

static enum imap_parse_result step(struct imap_parser *p, unsigned char c)
{
	if (p->state != S_SKIP && ++p->line_bytes > p->limits.line_max)
		return fail(p, "Command line too long", false);
	switch (p->state) {
	case S_TAG:
		return step_tag(p, c);
	case S_NAME:
		return step_name(p, c);
	case S_ARG:
		return step_arg(p, c);
	case S_ATOM:
		return step_atom(p, c);
	case S_ATOM_BRACKET:
		if (c == '\r' || c == '\n')
			return fail(p, "Unterminated [", false);
		str_append(&p->token, &c, 1);
		if (c == ']')
			p->state = S_ATOM;
		return IMAP_PARSE_NEED_MORE;
	case S_QUOTED:
		if (c == '"') {
			p->state = S_ARG;
			return token_finish(p, IMAP_ARG_STRING) ? IMAP_PARSE_NEED_MORE
								 : fail(p, "Too many arguments", false);
		}
		if (c == '\r' || c == '\n' || c == '\0')
			return fail(p, "Unterminated quoted string", false);
		if (c == '\\')
			p->state = S_QUOTED_ESC;
		else
			str_append(&p->token, &c, 1);
		return IMAP_PARSE_NEED_MORE;
	case S_QUOTED_ESC:
		if (c != '"' && c != '\\')
			return fail(p, "Invalid escape in quoted string", false);
		str_append(&p->token, &c, 1);
		p->state = S_QUOTED;
		return IMAP_PARSE_NEED_MORE;
	case S_LITERAL8:
		if (c != '{')
			return fail(p, "Invalid literal8", false);
		p->state = S_ARG;
		return step_arg(p, c);
	case S_LITERAL_LEN:
		return step_literal_len(p, c);
	case S_LITERAL_CR:
		if (c == '\r') {
			p->state = S_LITERAL_LF;
			return IMAP_PARSE_NEED_MORE;
		}
		/* a bare LF after {n} */
		/* fall through */
	case S_LITERAL_LF:
		if (c != '\n')
			return fail(p, "Literal must end its line", p->literal_nonsync);
		return literal_begin(p);
	case S_CR:
		return c == '\n' ? IMAP_PARSE_DONE : fail(p, "Bare CR", false);
	case S_SKIP:
	case S_LITERAL_DATA:
		break;
	}
	return IMAP_PARSE_NEED_MORE;
}

/* Copies literal bytes in bulk; they do not count towards the line limit. */
static size_t literal_data(struct imap_parser *p, const char *data, size_t len,
			   enum imap_parse_result *r)
{
	size_t n = len < p->literal_remaining ? len : (size_t)p->literal_remaining;

	str_append(&p->token, data, n);
	p->literal_remaining -= n;
	*r = IMAP_PARSE_NEED_MORE;
	if (p->literal_remaining == 0) {
		p->state = S_ARG;
		if (!token_finish(p, IMAP_ARG_LITERAL))
			*r = fail(p, "Too many arguments", true);
	}
	return n;
}

size_t imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
			enum imap_parse_result *result_r)
{
	size_t i = 0;

	*result_r = IMAP_PARSE_NEED_MORE;
	while (i < len) {
		if (p->state == S_LITERAL_DATA) {
			i += literal_data(p, data + i, len - i, result_r);
			if (*result_r != IMAP_PARSE_NEED_MORE)
				return i;
			continue;
		}
		if (p->state == S_SKIP && p->error_ended_line) {
			imap_parser_reset(p); /* the error was on the LF itself */
			continue;
		}
		if (p->state == S_SKIP) {
			const char *lf = memchr(data + i, '\n', len - i);
			if (lf == NULL)
				return len;
			i = (size_t)(lf - data) + 1;
			imap_parser_reset(p);
			continue;
		}
		*result_r = step(p, (unsigned char)data[i]);
		p->error_ended_line = *result_r == IMAP_PARSE_ERROR && data[i] == '\n';
		i++;
		if (*result_r != IMAP_PARSE_NEED_MORE)
			return i;
	}
	return i;
}
