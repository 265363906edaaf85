/* test_lib: strings, the config parser, the parameter table, base64, SASL PLAIN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/lib.h"

static void test_str(void **state)
{
	str_t s;

	str_init(&s);
	for (int i = 0; i < 1000; i++)
		str_appendf(&s, "%d,", i);
	assert_true(s.len > 3000);
	assert_int_equal(strlen(s.data), s.len);
	str_clear(&s);
	str_append(&s, "a\0b", 3);
	assert_int_equal(s.len, 3);
	str_free(&s);
	char buf[] = "  \t trimmed \r\n";
	assert_string_equal(str_trim(buf), "trimmed");
}

static void test_config(void **state)
{
	struct config cfg;
	char *err = NULL;

	assert_int_equal(config_parse("# comment\nhostname = mx.test\nlisten = smtp 1:2\n"
				      "listen = pop3 3:4 # trailing\n\n",
				      &cfg, &err), 0);
	assert_int_equal(cfg.count, 3);
	assert_string_equal(config_get(&cfg, "hostname"), "mx.test");
	assert_string_equal(config_get(&cfg, "listen"), "pop3 3:4");
	assert_null(config_get(&cfg, "absent"));
	config_free(&cfg);
	assert_int_equal(config_parse("ok = 1\nno equals sign\n", &cfg, &err), -1);
	assert_string_equal(err, "line 2: expected 'key = value'");
	free(err);
}

static void test_params(void **state)
{
	const char *err;

	param_reset_defaults();
	assert_int_equal(param_get(P_SMTP_LINE_MAX), 1000);
	assert_int_equal(param_set("recipients_max", "50", &err), 0);
	assert_int_equal(param_get(P_RECIPIENTS_MAX), 50);
	assert_int_equal(param_set("recipients_max", "0", &err), -1);
	assert_string_equal(err, "out of range");
	assert_int_equal(param_set("recipients_max", "5x", &err), -1);
	assert_int_equal(param_set("no_such_thing", "5", &err), -1);
	str_t out;
	str_init(&out);
	param_print(&out);
	assert_non_null(strstr(out.data, "recipients_max = 50"));
	str_free(&out);
	param_reset_defaults();
}

static void test_base64_and_sasl(void **state)
{
	str_t out, enc;
	const char *user, *pass;

	str_init(&out);
	str_init(&enc);
	assert_int_equal(base64_decode("AGFsaWNlAHNlY3JldA==", 20, &out), 0);
	assert_int_equal(out.len, 13);
	assert_int_equal(sasl_plain_split(&out, &user, &pass), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pass, "secret");
	base64_encode(out.data, out.len, &enc);
	assert_string_equal(enc.data, "AGFsaWNlAHNlY3JldA==");
	assert_int_equal(base64_decode("AGFsaWNl=HNl", 12, &out), -1);
	assert_int_equal(base64_decode("abc", 3, &out), -1);
	assert_int_equal(base64_decode("a*bc", 4, &out), -1);
	/* authzid different from authcid is refused; missing parts too */
	assert_int_equal(base64_decode("Ym9iAGFsaWNlAHNlY3JldA==", 24, &out), 0);
	assert_int_equal(sasl_plain_split(&out, &user, &pass), -1);
	assert_int_equal(base64_decode("YWxpY2U=", 8, &out), 0);
	assert_int_equal(sasl_plain_split(&out, &user, &pass), -1);
	str_free(&out);
	str_free(&enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_base64_and_sasl),
	};
	return cmocka_run_group_tests_name("lib", tests, NULL, NULL);
}
