/* cmd_user: `sealpost user add|list|show|remove|passwd`. Wherever an address is
 * taken, either DN form is taken too. Also holds what alias and group share:
 * creating a recipient in the site of its domain, and showing one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "directory/directory.h"

static const char usage_text[] =
	"usage: sealpost user add ADDRESS --password-stdin [--name \"Display Name\"] [--role user|admin|journal-officer] [--hidden]\n"
	"       sealpost user list\n"
	"       sealpost user show ADDRESS|DN\n"
	"       sealpost user remove ADDRESS|DN\n"
	"       sealpost user passwd ADDRESS|DN --password-stdin\n"
	"       sealpost user quota ADDRESS|DN OCTETS|default   (0: unlimited)\n"
	"Every form takes --data DIR (default $SEALPOST_DATA, then ./sealpost-data).\n";

static int user_add(store_t *store, const struct cli_recipient_options *o)
{
	struct store_recipient r = { .kind = STORE_RCPT_USER };
	char *password;
	int rc;

	if (!o->password_stdin)
		return cli_error("user add needs --password-stdin");
	if ((password = cli_read_password_stdin()) == NULL)
		return cli_error("no password on standard input");
	r.display_name = xstrdup(o->name ? o->name : "");
	r.role = xstrdup(o->role ? o->role : "user");
	r.hidden = o->hidden;
	r.password_hash = directory_password_hash(password);
	explicit_bzero(password, strlen(password));
	free(password);
	rc = cli_recipient_create(store, o->target, &r);
	if (rc == 0)
		printf("added user %s@%s\n", r.local_part, r.domain);
	store_recipient_clear(&r);
	return rc;
}

static int user_passwd(store_t *store, const struct cli_recipient_options *o)
{
	struct store_recipient r = { 0 };
	char *password, *hash;
	int rc = 1;

	if (!o->password_stdin)
		return cli_error("user passwd needs --password-stdin");
	if (cli_recipient_find(store, o->target, STORE_RCPT_USER, &r) < 0)
		return 1;
	if ((password = cli_read_password_stdin()) == NULL) {
		cli_error("no password on standard input");
	} else {
		hash = directory_password_hash(password);
		if (store_recipient_set_password(store, r.id, hash) < 0)
			cli_error("cannot store the password");
		else
			rc = 0;
		explicit_bzero(password, strlen(password));
		free(password);
		free(hash);
	}
	store_recipient_clear(&r);
	return rc;
}

static int user_quota(store_t *store, const struct cli_recipient_options *o)
{
	struct store_recipient r = { 0 };
	char *end;
	long long quota = strcmp(o->second, "default") == 0 ? -1 : strtoll(o->second, &end, 10);
	int rc = 1;

	if (quota != -1 && (*end != '\0' || end == o->second || quota < 0))
		return cli_error("'%s' is not a number of octets or 'default'", o->second);
	if (cli_recipient_find(store, o->target, STORE_RCPT_USER, &r) < 0)
		return 1;
	if (store_recipient_set_quota(store, r.id, quota) < 0)
		cli_error("cannot store the quota");
	else
		rc = 0;
	store_recipient_clear(&r);
	return rc;
}

static int user_verb(store_t *store, const struct cli_recipient_options *o)
{
	if (strcmp(o->verb, "add") == 0 && o->target && !o->second)
		return user_add(store, o);
	if (strcmp(o->verb, "passwd") == 0 && o->target && !o->second)
		return user_passwd(store, o);
	if (strcmp(o->verb, "quota") == 0 && o->target && o->second)
		return user_quota(store, o);
	return -2;
}

int cmd_user(int argc, char **argv)
{
	return cli_recipient_command(argc, argv, usage_text, STORE_RCPT_USER, user_verb);
}
