/* str: a growable byte string that is always NUL-terminated, plus small helpers. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib.h"

void str_init(str_t *s)
{
	s->data = NULL;
	s->len = 0;
	s->cap = 0;
}

void str_free(str_t *s)
{
	free(s->data);
	str_init(s);
}

void str_clear(str_t *s)
{
	s->len = 0;
	if (s->data != NULL)
		s->data[0] = '\0';
}

void str_reserve(str_t *s, size_t extra)
{
	size_t need = s->len + extra + 1;
	size_t cap;

	if (need < s->len)
		fatal("str_reserve: size overflow");
	if (need <= s->cap)
		return;
	cap = s->cap ? s->cap : 64;
	while (cap < need)
		cap *= 2;
	s->data = xrealloc(s->data, cap);
	s->cap = cap;
}

void str_append(str_t *s, const void *data, size_t len)
{
	str_reserve(s, len);
	if (len > 0)
		memcpy(s->data + s->len, data, len);
	s->len += len;
	s->data[s->len] = '\0';
}

void str_append_cstr(str_t *s, const char *cstr)
{
	str_append(s, cstr, strlen(cstr));
}

void str_vappendf(str_t *s, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		fatal("str_vappendf: bad format");
	str_reserve(s, (size_t)n);
	vsnprintf(s->data + s->len, (size_t)n + 1, fmt, ap);
	s->len += (size_t)n;
}

void str_appendf(str_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	str_vappendf(s, fmt, ap);
	va_end(ap);
}

char *str_steal(str_t *s)
{
	char *p;

	if (s->data == NULL)
		str_reserve(s, 0);
	s->data[s->len] = '\0';
	p = s->data;
	str_init(s);
	return p;
}

bool str_ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

bool str_istarts(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

void str_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

char *str_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	return s;
}

int verb_lookup(const char *line, const char *const *names, int count, const char **args_r)
{
	size_t len = strcspn(line, " ");

	*args_r = line[len] == ' ' ? line + len + 1 : line + len;
	for (int v = 1; v < count; v++)
		if (names[v] != NULL && strlen(names[v]) == len && strncasecmp(line, names[v], len) == 0)
			return v;
	return 0;
}
