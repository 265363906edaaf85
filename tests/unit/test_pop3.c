/* test_pop3: POP3 verbs and message-number parsing, including overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pop3/pop3.h"

static void test_verbs(void **state)
{
	const char *args;

	assert_int_equal(pop3_parse_verb("USER alice", &args), POP3_CMD_USER);
	assert_string_equal(args, "alice");
	assert_int_equal(pop3_parse_verb("retr 1", &args), POP3_CMD_RETR);
	assert_int_equal(pop3_parse_verb("TOP 1 5", &args), POP3_CMD_TOP);
	assert_string_equal(args, "1 5");
	assert_int_equal(pop3_parse_verb("QUIT", &args), POP3_CMD_QUIT);
	assert_int_equal(pop3_parse_verb("QUITX", &args), POP3_CMD_UNKNOWN);
	assert_int_equal(pop3_parse_verb("", &args), POP3_CMD_UNKNOWN);
}

static void test_numbers(void **state)
{
	unsigned long n;
	const char *rest;

	assert_int_equal(pop3_parse_number("3", 1, 10, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pop3_parse_number("10", 1, 10, &n, NULL), 0);
	assert_int_equal(pop3_parse_number("11", 1, 10, &n, NULL), -1);
	assert_int_equal(pop3_parse_number("0", 1, 10, &n, NULL), -1);
	assert_int_equal(pop3_parse_number("0", 0, 10, &n, NULL), 0);
	assert_int_equal(pop3_parse_number("", 1, 10, &n, NULL), -1);
	assert_int_equal(pop3_parse_number("-1", 1, 10, &n, NULL), -1);
	assert_int_equal(pop3_parse_number("2x", 1, 10, &n, NULL), -1);
	assert_int_equal(pop3_parse_number("99999999999999999999999", 1, 10, &n, NULL), -1);
	assert_int_equal(pop3_parse_number("18446744073709551617", 0, ~0UL, &n, NULL), -1);
	assert_int_equal(pop3_parse_number("2 7", 1, 10, &n, &rest), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rest, "7");
	assert_int_equal(pop3_parse_number("2 7", 1, 10, &n, NULL), -1);
	assert_int_equal(pop3_parse_number("5", 1, 3, &n, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_numbers),
	};
	return cmocka_run_group_tests_name("pop3", tests, NULL, NULL);
}
