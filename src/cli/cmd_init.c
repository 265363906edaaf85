/* cmd_init: `sealpost init`: a new data directory with its configuration, database
 * (organisation, first site, first domain), TLS certificate and folders. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "net/net.h"

static const char usage_text[] =
	"usage: sealpost init --data DIR --domain DOMAIN [--org ORG] [--site SITE] [--hostname FQDN]\n"
	"Creates DIR with sealpost.conf, the database, a self-signed TLS certificate and\n"
	"the organisation ORG (default Example) with its first site SITE (default HQ).\n";

struct init_options {
	const char *data, *domain, *org, *site;
	char *hostname;
};

static int init_directory_rows(store_t *store, void *arg)
{
	const struct init_options *o = arg;
	int64_t org_id, site_id;

	if (store_org_create(store, o->org, &org_id) < 0 || store_site_create(store, o->site, &site_id) < 0 ||
	    store_domain_add(store, o->domain, site_id) < 0)
		return -1;
	return 0;
}

static char *default_hostname(const char *domain)
{
	char buf[256];

	if (gethostname(buf, sizeof(buf)) == 0 && strchr(buf, '.') != NULL)
		return xstrdup(buf);
	return xasprintf("mail.%s", domain);
}

static int write_config(const struct init_options *o)
{
	char *path = xasprintf("%s/sealpost.conf", o->data);
	str_t text;
	int rc;

	str_init(&text);
	str_appendf(&text,
		    "# Sealpost configuration, written by `sealpost init`. Paths are relative to\n"
		    "# this directory. Limits: `sealpost config` lists every name and its range.\n"
		    "hostname = %s\n"
		    "tls_cert = tls/cert.pem\n"
		    "tls_key = tls/key.pem\n"
		    "listen = smtp 127.0.0.1:2525\n"
		    "listen = submission 127.0.0.1:2587\n"
		    "listen = smtps 127.0.0.1:2465\n"
		    "listen = pop3 127.0.0.1:2110\n"
		    "listen = pop3s 127.0.0.1:2995\n"
		    "listen = imap 127.0.0.1:2143\n"
		    "listen = imaps 127.0.0.1:2993\n"
		    "# message_size_max = %lld\n",
		    o->hostname, param_table[P_MESSAGE_SIZE_MAX].def);
	rc = fs_write_atomic(path, text.data, text.len, 0600);
	str_free(&text);
	free(path);
	return rc;
}

static int init_tls(const struct init_options *o)
{
	char *dir = xasprintf("%s/tls", o->data);
	char *cert = xasprintf("%s/cert.pem", dir), *key = xasprintf("%s/key.pem", dir);
	char *err = NULL;
	int rc = fs_mkdir_p(dir, 0700);

	if (rc < 0)
		cli_error("cannot create %s", dir);
	else if ((rc = net_tls_make_self_signed(cert, key, o->hostname, &err)) < 0)
		cli_error("%s", err);
	free(err);
	free(dir);
	free(cert);
	free(key);
	return rc;
}

static int parse_options(int argc, char **argv, struct init_options *o)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' }, { "domain", required_argument, NULL, 'm' },
		{ "org", required_argument, NULL, 'o' }, { "site", required_argument, NULL, 's' },
		{ "hostname", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'm': o->domain = optarg; break;
		case 'o': o->org = optarg; break;
		case 's': o->site = optarg; break;
		case 'n': o->hostname = xstrdup(optarg); break;
		default: return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

int cmd_init(int argc, char **argv)
{
	struct init_options o = { .org = "Example", .site = "HQ" };
	store_t *store = NULL;
	char *err = NULL, *conf;
	int rc = 1;

	if (cli_wants_help(argc, argv))
		return fputs(usage_text, stdout), 0;
	if (parse_options(argc, argv, &o) < 0 || o.domain == NULL)
		return fputs(usage_text, stderr), 2;
	o.data = cli_data_dir(o.data);
	if (strchr(o.domain, '@') != NULL || strchr(o.domain, '.') == NULL)
		return cli_error("'%s' does not look like a domain", o.domain);
	conf = xasprintf("%s/sealpost.conf", o.data);
	if (fs_exists(conf)) {
		free(conf);
		return cli_error("%s is already initialised", o.data);
	}
	free(conf);
	if (o.hostname == NULL)
		o.hostname = default_hostname(o.domain);
	if (store_open(o.data, &store, &err) < 0)
		cli_error("%s", err);
	else if (store_transaction(store, init_directory_rows, &o) < 0)
		cli_error("cannot create the directory");
	else if (fs_mkdir_p(o.data, 0700) < 0 || init_tls(&o) < 0 || write_config(&o) < 0)
		cli_error("cannot write the configuration in %s", o.data);
	else {
		printf("initialised %s: organisation %s, site %s, domain %s, hostname %s\n", o.data,
		       o.org, o.site, o.domain, o.hostname);
		rc = 0;
	}
	free(err);
	free(o.hostname);
	store_close(&store);
	return rc;
}
