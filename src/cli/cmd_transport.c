/* cmd_transport: `sealpost transport add|list|remove`: where mail for a domain
 * goes instead of the domain's MX: a host and port, a TLS policy, and
 * credentials for a smart host ("*" stands for every domain without its own).
 * A running server reads the table for every delivery, so changes apply at once. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "net/net.h"

static const char usage_text[] =
	"usage: sealpost transport add DOMAIN smtp:HOST:PORT [--tls none|may|encrypt|verify]\n"
	"                              [--auth USER --password-stdin] [--data DIR]\n"
	"       sealpost transport list [--data DIR]\n"
	"       sealpost transport remove DOMAIN [--data DIR]\n"
	"DOMAIN may be '*': the smart host for every domain without a transport of its own.\n"
	"--tls: none (never), may (STARTTLS when offered; the default), encrypt (TLS or\n"
	"wait), verify (TLS with a certificate the system's CA store and the host name\n"
	"vouch for, or wait). --auth: AUTH PLAIN with this user, the password read from\n"
	"standard input; it is sent only over TLS unless --tls none.\n";

struct transport_options {
	const char *data, *tls, *auth_user;
	bool password_stdin;
	char **operands;
	int operand_count;
};

static int parse(int argc, char **argv, struct transport_options *o)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' }, { "tls", required_argument, NULL, 't' },
		{ "auth", required_argument, NULL, 'a' }, { "password-stdin", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 't': o->tls = optarg; break;
		case 'a': o->auth_user = optarg; break;
		case 'p': o->password_stdin = true; break;
		default: return -1;
		}
	}
	o->operands = argv + optind;
	o->operand_count = argc - optind;
	return 0;
}

static bool tls_valid(const char *tls)
{
	return strcmp(tls, "none") == 0 || strcmp(tls, "may") == 0 || strcmp(tls, "encrypt") == 0 ||
	       strcmp(tls, "verify") == 0;
}

static int add(store_t *store, const struct transport_options *o)
{
	const char *target = o->operands[2];
	struct store_transport t = { 0 };
	char *host = NULL, *password = NULL;
	int port, rc;

	if (strncasecmp(target, "smtp:", 5) != 0 || net_parse_hostport(target + 5, &host, &port) < 0)
		return cli_error("'%s' is not smtp:HOST:PORT", target);
	if (o->auth_user != NULL && !o->password_stdin) {
		free(host);
		return cli_error("--auth needs --password-stdin");
	}
	if (o->password_stdin && (password = cli_read_password_stdin()) == NULL) {
		free(host);
		return cli_error("no password on standard input");
	}
	t = (struct store_transport){ (char *)o->operands[1], host, port, (char *)(o->tls ? o->tls : "may"),
				      (char *)o->auth_user, password };
	rc = store_transport_set(store, &t) < 0 ? cli_error("cannot store the transport") : 0;
	free(host);
	free(password);
	return rc;
}

static void print_transport(const struct store_transport *t, void *arg)
{
	bool v6 = strchr(t->host, ':') != NULL;

	printf("%s\tsmtp:%s%s%s:%d\ttls=%s%s%s\n", t->domain, v6 ? "[" : "", t->host, v6 ? "]" : "", t->port,
	       t->tls, t->auth_user ? "\tauth=" : "", t->auth_user ? t->auth_user : "");
	(*(size_t *)arg)++;
}

static int run(store_t *store, const struct transport_options *o)
{
	const char *verb = o->operands[0];
	size_t count = 0;
	int rc;

	if (strcmp(verb, "add") == 0)
		return add(store, o);
	if (strcmp(verb, "list") == 0) {
		if (store_transport_foreach(store, print_transport, &count) < 0)
			return cli_error("cannot read the transports");
		fprintf(stderr, "%zu transport(s)\n", count);
		return 0;
	}
	rc = store_transport_remove(store, o->operands[1]);
	if (rc < 0)
		return cli_error("cannot remove the transport");
	return rc == 0 ? cli_error("no transport for %s", o->operands[1]) : 0;
}

int cmd_transport(int argc, char **argv)
{
	struct transport_options o = { 0 };
	store_t *store;
	int want, rc;

	if (cli_wants_help(argc, argv))
		return fputs(usage_text, stdout), 0;
	if (parse(argc, argv, &o) < 0 || o.operand_count == 0)
		return fputs(usage_text, stderr), 2;
	want = strcmp(o.operands[0], "add") == 0 ? 3 : strcmp(o.operands[0], "list") == 0 ? 1
	       : strcmp(o.operands[0], "remove") == 0 ? 2 : -1;
	if (want != o.operand_count || (o.tls != NULL && (want != 3 || !tls_valid(o.tls))) ||
	    ((o.auth_user || o.password_stdin) && want != 3))
		return fputs(usage_text, stderr), 2;
	if ((store = cli_open_store(cli_data_dir(o.data))) == NULL)
		return 1;
	rc = run(store, &o);
	store_close(&store);
	return rc;
}
