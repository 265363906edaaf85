/* cmd_site: `sealpost site add|list` and `sealpost domain add|list`: the sites of
 * the organisation and the domains we accept mail for, each in one site. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char site_usage[] =
	"usage: sealpost site add SITE [--data DIR]\n"
	"       sealpost site list [--data DIR]\n"
	"A site is a part of the organisation (an office); it appears in DNs as ou=SITE.\n";

static const char domain_usage[] =
	"usage: sealpost domain add DOMAIN [--site SITE] [--data DIR]\n"
	"       sealpost domain list [--data DIR]\n"
	"Mail for DOMAIN is then accepted; its recipients belong to SITE (default: the\n"
	"first site).\n";

static void print_site(const char *site, void *arg)
{
	printf("%s\n", site);
}

static void print_domain(const char *domain, const char *site, void *arg)
{
	printf("%s\t%s\n", domain, site);
}

static int site_add(store_t *store, void *arg)
{
	int64_t id;

	return store_site_create(store, arg, &id);
}

int cmd_site(int argc, char **argv)
{
	const char *data = NULL;
	store_t *store;
	int first, n, rc = 0;

	if (cli_wants_help(argc, argv))
		return fputs(site_usage, stdout), 0;
	first = cli_parse_data_option(argc, argv, &data);
	n = first < 0 ? 0 : argc - first;
	if (n < 1 || !((strcmp(argv[first], "list") == 0 && n == 1) ||
		       (strcmp(argv[first], "add") == 0 && n == 2)))
		return fputs(site_usage, stderr), 2;
	if ((store = cli_open_store(cli_data_dir(data))) == NULL)
		return 1;
	if (n == 1 && store_site_foreach(store, print_site, NULL) < 0)
		rc = cli_error("cannot read the sites");
	else if (n == 2 && store_transaction(store, site_add, argv[first + 1]) < 0)
		rc = cli_error("cannot add site %s (does it exist already?)", argv[first + 1]);
	else if (n == 2)
		printf("added site %s\n", argv[first + 1]);
	store_close(&store);
	return rc;
}

struct domain_add {
	const char *domain;
	const char *site;
};

static int domain_add(store_t *store, void *arg)
{
	struct domain_add *d = arg;
	char *first = NULL;
	int64_t site_id;
	int found;

	if (d->site != NULL) {
		found = store_site_find(store, d->site, &site_id);
	} else {
		found = store_domain_first(store, &first, &site_id);
		x_free(&first);
	}
	if (found != 1)
		return cli_error("no such site: %s", d->site ? d->site : "(none)"), -1;
	if (store_domain_add(store, d->domain, site_id) < 0)
		return cli_error("cannot add %s (is it ours already?)", d->domain), -1;
	return 0;
}

static int domain_valid(const char *domain)
{
	return strchr(domain, '.') != NULL && strchr(domain, '@') == NULL &&
	       strspn(domain, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") ==
		       strlen(domain);
}

int cmd_domain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' }, { "site", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct domain_add d = { 0 };
	const char *data = NULL;
	store_t *store;
	int c, n, rc = 0;

	if (cli_wants_help(argc, argv))
		return fputs(domain_usage, stdout), 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'd')
			data = optarg;
		else if (c == 's')
			d.site = optarg;
		else
			return fputs(domain_usage, stderr), 2;
	}
	n = argc - optind;
	if (n < 1 || !((strcmp(argv[optind], "list") == 0 && n == 1 && !d.site) ||
		       (strcmp(argv[optind], "add") == 0 && n == 2)))
		return fputs(domain_usage, stderr), 2;
	if (n == 2 && !domain_valid(argv[optind + 1]))
		return cli_error("'%s' does not look like a domain", argv[optind + 1]);
	if ((store = cli_open_store(cli_data_dir(data))) == NULL)
		return 1;
	if (n == 1) {
		if (store_domain_foreach(store, print_domain, NULL) < 0)
			rc = cli_error("cannot read the domains");
	} else {
		char lower[256];
		snprintf(lower, sizeof(lower), "%s", argv[optind + 1]);
		str_lower(lower);
		d.domain = lower;
		if (store_transaction(store, domain_add, &d) < 0)
			rc = 1;
		else
			printf("added domain %s\n", d.domain);
	}
	store_close(&store);
	return rc;
}
