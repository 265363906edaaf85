/* test_smtp: the SMTP parsers: verbs, paths (including relay tricks), mailbox
 * syntax, MAIL parameters, and the DATA decoder fed whole and one byte at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/smtp.h"

static void test_verbs(void **state)
{
	const char *args;

	assert_int_equal(smtp_parse_verb("EHLO client.test", &args), SMTP_CMD_EHLO);
	assert_string_equal(args, "client.test");
	assert_int_equal(smtp_parse_verb("mail FROM:<a@b.c>", &args), SMTP_CMD_MAIL);
	assert_int_equal(smtp_parse_verb("DATA", &args), SMTP_CMD_DATA);
	assert_string_equal(args, "");
	assert_int_equal(smtp_parse_verb("STARTTLS", &args), SMTP_CMD_STARTTLS);
	assert_int_equal(smtp_parse_verb("DATAX", &args), SMTP_CMD_UNKNOWN);
	assert_int_equal(smtp_parse_verb("", &args), SMTP_CMD_UNKNOWN);
	assert_int_equal(smtp_parse_verb(" NOOP", &args), SMTP_CMD_UNKNOWN);
}

static const struct {
	const char *address;
	bool valid;
} mailboxes[] = {
	{ "alice@example.test", true },
	{ "a.b+tag@sub.example.test", true },
	{ "\"quoted @ local\"@example.test", true },
	{ "user@[192.0.2.1]", true },
	{ "jörg@exämple.test", true },
	{ "user@remote@local.test", false },
	{ ".alice@example.test", false },
	{ "alice.@example.test", false },
	{ "al..ice@example.test", false },
	{ "alice@example.test.", false },
	{ "alice@-bad.test", false },
	{ "alice@", false },
	{ "@example.test", false },
	{ "alice", false },
	{ "\"unterminated@example.test", false },
	{ "a b@example.test", false },
};

static void test_mailbox_syntax(void **state)
{
	for (size_t i = 0; i < sizeof(mailboxes) / sizeof(mailboxes[0]); i++) {
		if (smtp_mailbox_valid(mailboxes[i].address, true) != mailboxes[i].valid)
			fail_msg("mailbox %s: expected %s", mailboxes[i].address,
				 mailboxes[i].valid ? "valid" : "invalid");
	}
	char longlocal[80];
	memset(longlocal, 'a', 65);
	strcpy(longlocal + 65, "@x.test");
	assert_false(smtp_mailbox_valid(longlocal, true));
}

static const struct {
	const char *args;
	enum smtp_path_result result;
	const char *address;
	const char *params;
} paths[] = {
	{ "FROM:<alice@example.test>", SMTP_PATH_OK, "alice@example.test", "" },
	{ "from:<alice@example.test> SIZE=100 BODY=8BITMIME", SMTP_PATH_OK, "alice@example.test",
	  "SIZE=100 BODY=8BITMIME" },
	{ "FROM: <alice@example.test>", SMTP_PATH_OK, "alice@example.test", "" },
	{ "FROM:<>", SMTP_PATH_OK, "", "" },
	{ "FROM:<@a.test,@b.test:user@c.test>", SMTP_PATH_OK, "user@c.test", "" },
	{ "FROM:<\"a>b\"@example.test>", SMTP_PATH_OK, "\"a>b\"@example.test", "" },
	{ "FROM:alice@example.test", SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<alice@example.test", SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<alice@example.test>junk", SMTP_PATH_SYNTAX, NULL, NULL },
	{ "TO:<alice@example.test>", SMTP_PATH_SYNTAX, NULL, NULL },
	{ "FROM:<user@remote@local.test>", SMTP_PATH_BAD_ADDRESS, NULL, NULL },
	{ "FROM:<@nocolon>", SMTP_PATH_BAD_ADDRESS, NULL, NULL },
};

static void test_paths(void **state)
{
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *addr = NULL, *params = NULL;
		enum smtp_path_result r = smtp_parse_path(paths[i].args, "FROM", true, &addr, &params);
		if (r != paths[i].result)
			fail_msg("path %s: got %d, want %d", paths[i].args, r, paths[i].result);
		if (r == SMTP_PATH_OK) {
			assert_string_equal(addr, paths[i].address);
			assert_string_equal(params, paths[i].params);
		}
		free(addr);
		free(params);
	}
	char *addr = NULL, *params = NULL;
	assert_int_equal(smtp_parse_path("TO:<>", "TO", false, &addr, &params), SMTP_PATH_BAD_ADDRESS);
}

static void test_mail_params(void **state)
{
	struct smtp_mail_params p;
	const char *bad = NULL;

	assert_int_equal(smtp_parse_mail_params("SIZE=1234 BODY=8BITMIME SMTPUTF8", &p, &bad), 0);
	assert_int_equal(p.size, 1234);
	assert_true(p.body_8bit);
	assert_true(p.smtputf8);
	assert_int_equal(smtp_parse_mail_params("", &p, &bad), 0);
	assert_int_equal(p.size, -1);
	assert_int_equal(smtp_parse_mail_params("SIZE=12x", &p, &bad), -1);
	assert_int_equal(smtp_parse_mail_params("BODY=7BIT FOO=1", &p, &bad), -1);
	assert_string_equal(bad, "FOO=1");
	assert_int_equal(smtp_parse_mail_params("SIZE=", &p, &bad), -1);
}

struct data_case {
	const char *input;
	const char *output;
	bool done;
	bool bare;
	size_t consumed; /* 0: all */
};

static const struct data_case data_cases[] = {
	{ "Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\r\n\r\nbody\r\n", true, false, 0 },
	{ ".\r\n", "", true, false, 0 },
	{ "..\r\n.\r\n", ".\r\n", true, false, 0 },
	{ "..leading\r\n. \r\n.\r\n", ".leading\r\n \r\n", true, false, 0 },
	{ "a\r\n.\r\nRSET\r\n", "a\r\n", true, false, 6 },
	{ "a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", true, true, 0 },
	{ "a\rb\r\n.\r\n", "a\rb\r\n", true, true, 0 },
	{ "a\r\n.\rx\r\n.\r\n", "a\r\n\rx\r\n", true, true, 0 },
	{ "no end\r\n", "no end\r\n", false, false, 0 },
};

static void check_data_case(const struct data_case *c, bool bytewise)
{
	str_t out;
	struct smtp_data d;
	size_t len = strlen(c->input), used = 0;
	bool done = false;

	str_init(&out);
	smtp_data_init(&d, &out, 1 << 20);
	if (bytewise) {
		while (used < len && !done)
			used += smtp_data_feed(&d, c->input + used, 1, &done);
	} else {
		used = smtp_data_feed(&d, c->input, len, &done);
	}
	if (done != c->done || d.bare_eol != c->bare)
		fail_msg("data %s (bytewise %d): done %d bare %d", c->input, bytewise, done, d.bare_eol);
	assert_int_equal(used, c->consumed ? c->consumed : len);
	assert_int_equal(out.len, strlen(c->output));
	assert_memory_equal(out.data ? out.data : "", c->output, out.len);
	str_free(&out);
}

static void test_data_decoder(void **state)
{
	for (size_t i = 0; i < sizeof(data_cases) / sizeof(data_cases[0]); i++) {
		check_data_case(&data_cases[i], false);
		check_data_case(&data_cases[i], true);
	}
}

static void test_data_too_big(void **state)
{
	str_t out;
	struct smtp_data d;
	bool done;

	str_init(&out);
	smtp_data_init(&d, &out, 4);
	smtp_data_feed(&d, "12345678\r\n.\r\n", 13, &done);
	assert_true(done);
	assert_true(d.too_big);
	assert_true(out.len <= 4);
	str_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),       cmocka_unit_test(test_mailbox_syntax),
		cmocka_unit_test(test_paths),       cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_data_decoder), cmocka_unit_test(test_data_too_big),
	};
	return cmocka_run_group_tests_name("smtp", tests, NULL, NULL);
}
