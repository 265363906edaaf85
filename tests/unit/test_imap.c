/* test_imap: the IMAP command parser, fed whole and one byte at a time, with its
 * limits and its recovery after errors; sequence sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "imap/imap.h"

static const struct imap_parser_limits limits = {
	.line_max = 200, .literal_max = 100, .depth_max = 4, .args_max = 50,
};

static void describe_arg(const struct imap_arg *a, str_t *out)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
		str_appendf(out, " A:%s", a->str);
		break;
	case IMAP_ARG_STRING:
		str_appendf(out, " S:%s", a->str);
		break;
	case IMAP_ARG_LITERAL:
		str_appendf(out, " L:%s", a->str);
		break;
	case IMAP_ARG_LIST:
		str_append_cstr(out, " (");
		for (size_t i = 0; i < a->count; i++)
			describe_arg(&a->children[i], out);
		str_append_cstr(out, " )");
		break;
	}
}

/* Runs input through a parser in chunks of `chunk` bytes (0: all at once) and
 * writes one line per event: "+", "DONE tag name args", "ERR message". */
static void run(const char *input, size_t chunk, str_t *events)
{
	struct imap_parser p;
	size_t len = strlen(input), pos = 0;

	imap_parser_init(&p, &limits);
	str_clear(events);
	while (pos < len) {
		size_t n = chunk == 0 || chunk > len - pos ? len - pos : chunk;
		size_t off = 0;
		while (off < n) {
			enum imap_parse_result r;
			off += imap_parser_feed(&p, input + pos + off, n - off, &r);
			if (r == IMAP_PARSE_CONTINUE) {
				str_append_cstr(events, "+\n");
			} else if (r == IMAP_PARSE_DONE) {
				str_appendf(events, "DONE %s %s", p.tag.data, p.name.data);
				for (size_t i = 0; i < p.root.count; i++)
					describe_arg(&p.root.children[i], events);
				str_append_cstr(events, "\n");
				imap_parser_reset(&p);
			} else if (r == IMAP_PARSE_ERROR) {
				str_appendf(events, "ERR %s%s\n", p.error, p.fatal ? " (fatal)" : "");
			}
		}
		pos += n;
	}
	imap_parser_free(&p);
}

static const struct {
	const char *input;
	const char *events;
} cases[] = {
	{ "a1 LOGIN alice \"pass word\"\r\n", "DONE a1 LOGIN A:alice S:pass word\n" },
	{ "a2 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n",
	  "DONE a2 FETCH A:1:* ( A:FLAGS A:BODY.PEEK[HEADER.FIELDS (From To)]<0.100> )\n" },
	{ "a3 APPEND INBOX {5}\r\nhello\r\n", "+\nDONE a3 APPEND A:INBOX L:hello\n" },
	{ "a4 APPEND INBOX (\\Seen) {3+}\r\nabc\r\n", "DONE a4 APPEND A:INBOX ( A:\\Seen ) L:abc\n" },
	{ "a5 X {0}\r\n\r\n", "DONE a5 X L:\n" },
	{ "a6 NOOP\n", "DONE a6 NOOP\n" },
	{ "a7 LIST \"\" %\r\n", "DONE a7 LIST S: A:%\n" },
	{ "a8 LOGIN \"a\\\"b\\\\c\" x\r\n", "DONE a8 LOGIN S:a\"b\\c A:x\n" },
	{ "a9 FETCH (1\r\na10 NOOP\r\n", "ERR Unbalanced parentheses\nDONE a10 NOOP\n" },
	{ "b1 X ((((((a))))))\r\nb2 NOOP\r\n", "ERR Too deeply nested\nDONE b2 NOOP\n" },
	{ "\r\nb3 NOOP\r\n", "ERR Empty command\nDONE b3 NOOP\n" },
	{ "b4 X {101}\r\nb5 NOOP\r\n", "ERR Literal too large\nDONE b5 NOOP\n" },
	{ "b6 X {101+}\r\n", "ERR Literal too large (fatal)\n" },
	{ "b7 X \"unterminated\r\nb8 NOOP\r\n", "ERR Unterminated quoted string\nDONE b8 NOOP\n" },
	{ "b9 X )\r\nc1 NOOP\r\n", "ERR Unbalanced parentheses\nDONE c1 NOOP\n" },
	{ "c2 X {99999999999999}\r\n", "ERR Literal too large (fatal)\n" },
	{ "+ X\r\nc3 NOOP\r\n", "ERR Invalid tag\nDONE c3 NOOP\n" },
	{ "c4 X\rY\r\nc5 NOOP\r\n", "ERR Bare CR\nDONE c5 NOOP\n" },
	/* literals are bounded per command, not one by one */
	{ "c6 X {60+}\r\n" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa {41+}\r\n",
	  "ERR Literal too large (fatal)\n" },
};

static void test_parser_cases(void **state)
{
	str_t events;

	str_init(&events);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t chunk = 0; chunk <= 3; chunk++) {
			run(cases[i].input, chunk, &events);
			if (strcmp(events.data ? events.data : "", cases[i].events) != 0)
				fail_msg("case %zu chunk %zu:\n got: %s\nwant: %s", i, chunk,
					 events.data ? events.data : "", cases[i].events);
		}
	}
	str_free(&events);
}

static void test_parser_line_limit(void **state)
{
	str_t input, events;

	str_init(&input);
	str_init(&events);
	str_append_cstr(&input, "d1 X ");
	for (int i = 0; i < 1000; i++)
		str_append_cstr(&input, "a");
	str_append_cstr(&input, "\r\nd2 NOOP\r\n");
	run(input.data, 0, &events);
	assert_string_equal(events.data, "ERR Command line too long\nDONE d2 NOOP\n");
	run(input.data, 1, &events);
	assert_string_equal(events.data, "ERR Command line too long\nDONE d2 NOOP\n");
	str_free(&input);
	str_free(&events);
}

static void test_seqset(void **state)
{
	struct imap_seqset set;

	assert_int_equal(imap_seqset_parse("1:3,7,9:*", 12, &set), 0);
	assert_int_equal(set.count, 3);
	assert_true(imap_seqset_contains(&set, 2));
	assert_false(imap_seqset_contains(&set, 5));
	assert_true(imap_seqset_contains(&set, 12));
	imap_seqset_free(&set);
	assert_int_equal(imap_seqset_parse("*:4", 2, &set), 0); /* reversed: 2:4 */
	assert_int_equal(set.ranges[0].lo, 2);
	assert_int_equal(set.ranges[0].hi, 4);
	imap_seqset_free(&set);
	const char *bad[] = { "", "0", "1:", ",1", "1,,2", "a", "1:0", "4294967296", "1 2" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (imap_seqset_parse(bad[i], 10, &set) == 0)
			fail_msg("'%s' parsed as a sequence set", bad[i]);
}

static void test_url(void **state)
{
	struct imap_url u;
	const char *signed_url = "imap://joe%40example.com;AUTH=*@mail.test/Sent%20Items;UIDVALIDITY=7/;UID=20"
				 "/;SECTION=1.2/;PARTIAL=5.10;EXPIRE=2030-01-01T00:00:00+01:00"
				 ";URLAUTH=user+fred%40example.com:INTERNAL:0123456789abcdef0123456789abcdef";

	(void)state;
	assert_int_equal(imap_url_parse(signed_url, &u), 0);
	assert_string_equal(u.user, "joe@example.com");
	assert_string_equal(u.mailbox, "Sent Items");
	assert_int_equal(u.uidvalidity, 7);
	assert_int_equal(u.uid, 20);
	assert_string_equal(u.section, "1.2");
	assert_true(u.partial && u.partial_off == 5 && u.partial_len == 10);
	assert_int_equal(u.expire, 1893452400); /* 2029-12-31T23:00:00Z */
	assert_int_equal(u.access_kind, IMAP_URL_USER);
	assert_string_equal(u.access_user, "fred@example.com");
	assert_string_equal(u.mechanism, "INTERNAL");
	assert_int_equal(u.rump_len, strstr(signed_url, ":INTERNAL") - signed_url);
	imap_url_free(&u);

	assert_int_equal(imap_url_parse("/INBOX/;uid=3/;section=HEADER.FIELDS%20(From)", &u), 0);
	assert_null(u.user);
	assert_string_equal(u.section, "HEADER.FIELDS (From)");
	assert_int_equal(u.uidvalidity, 0);
	assert_null(u.access);
	imap_url_free(&u);

	const char *bad[] = {
		"", "INBOX/;UID=1", "/INBOX", "/INBOX/;UID=0", "/INBOX/;UID=99999999999", "/;UID=1",
		"/INBOX/;UID=1 x", "/IN%00BOX/;UID=1", "/INBOX/;UID=1/;SECTION=%4", "/INBOX/;UID=1/;PARTIAL=x",
		"/INBOX/;UID=1;URLAUTH=nobody", "/INBOX/;UID=1;URLAUTH=user+", "/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL:12",
		"/INBOX/;UID=1;EXPIRE=tomorrow;URLAUTH=authuser", "imap://host", "/INBOX;UIDVALIDITY=x/;UID=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(imap_url_parse(bad[i], &u), -1);
}

static void test_mutf7(void **state)
{
	char *m = imap_utf8_to_mutf7("Entw\xc3\xbcrfe/&Co");
	char *u;

	(void)state;
	assert_string_equal(m, "Entw&APw-rfe/&-Co");
	u = imap_mutf7_to_utf8(m);
	assert_string_equal(u, "Entw\xc3\xbcrfe/&Co");
	free(m);
	free(u);
	assert_null(imap_utf8_to_mutf7("bad \xff utf-8"));
	assert_null(imap_mutf7_to_utf8("open &shift"));
	assert_null(imap_mutf7_to_utf8("&AAA-")); /* a NUL */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_cases),
		cmocka_unit_test(test_parser_line_limit),
		cmocka_unit_test(test_seqset),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_mutf7),
	};
	return cmocka_run_group_tests_name("imap", tests, NULL, NULL);
}
