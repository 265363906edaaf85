/* cli_recipient: what user, alias and group have in common on the command line:
 * option parsing, creating a recipient in its domain's site, finding one by
 * address or DN, listing, showing and removing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "directory/directory.h"

static const char *const kind_names[] = { "user", "alias", "group" };

int cli_recipient_parse(int argc, char **argv, struct cli_recipient_options *o)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' }, { "name", required_argument, NULL, 'n' },
		{ "role", required_argument, NULL, 'r' }, { "hidden", no_argument, NULL, 'h' },
		{ "password-stdin", no_argument, NULL, 'p' }, { "member", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->data = optarg; break;
		case 'n': o->name = optarg; break;
		case 'r': o->role = optarg; break;
		case 'h': o->hidden = true; break;
		case 'p': o->password_stdin = true; break;
		case 'm':
			o->members = xrealloc(o->members, (o->member_count + 1) * sizeof(char *));
			o->members[o->member_count++] = optarg;
			break;
		default: return -1;
		}
	}
	if (optind >= argc || argc - optind > 3)
		return -1;
	o->verb = argv[optind];
	o->target = optind + 1 < argc ? argv[optind + 1] : NULL;
	o->second = optind + 2 < argc ? argv[optind + 2] : NULL;
	if (o->role != NULL && strcmp(o->role, "user") != 0 && strcmp(o->role, "admin") != 0 &&
	    strcmp(o->role, "journal-officer") != 0)
		return -1;
	return 0;
}

void cli_recipient_options_free(struct cli_recipient_options *o)
{
	x_free(&o->members);
}

int cli_recipient_create(store_t *store, const char *address, struct store_recipient *r)
{
	char *err = NULL;

	if (directory_address_split(address, &r->local_part, &r->domain) < 0)
		return cli_error("'%s' is not an address", address);
	if (store_domain_site(store, r->domain, &r->site_id) != 1)
		return cli_error("%s is not one of our domains", r->domain);
	if (r->cn == NULL)
		r->cn = xstrdup(r->local_part);
	if (store_recipient_add(store, r, &err) < 0) {
		cli_error("cannot add %s: %s", address, err);
		free(err);
		return 1;
	}
	return 0;
}

int cli_recipient_find(store_t *store, const char *which, enum store_rcpt_kind kind,
		       struct store_recipient *r)
{
	int rc = directory_resolve(store, which, r);

	if (rc < 0)
		return cli_error("cannot read the directory"), -1;
	if (rc == 0)
		return cli_error("no such recipient: %s", which), -1;
	if (r->kind != kind) {
		cli_error("%s is a %s, not a %s", which, kind_names[r->kind], kind_names[kind]);
		store_recipient_clear(r);
		return -1;
	}
	return 0;
}

char *cli_address_of(store_t *store, const char *address_or_dn)
{
	struct store_recipient r = { 0 };
	char *local, *domain, *address;

	if (!directory_is_dn(address_or_dn)) {
		if (directory_address_split(address_or_dn, &local, &domain) < 0)
			return NULL;
		address = xasprintf("%s@%s", local, domain);
		free(local);
		free(domain);
		return address;
	}
	if (directory_resolve(store, address_or_dn, &r) != 1)
		return NULL;
	address = directory_address_of(&r);
	store_recipient_clear(&r);
	return address;
}

static void list_one(const struct store_recipient *r, void *arg)
{
	const enum store_rcpt_kind *kind = arg;

	if (r->kind == *kind)
		printf("%s@%s\t%s\t%s\n", r->local_part, r->domain, kind_names[r->kind],
		       r->display_name);
}

int cli_recipient_list(store_t *store, enum store_rcpt_kind kind)
{
	if (store_recipient_foreach(store, list_one, &kind) < 0)
		return cli_error("cannot read the directory");
	return 0;
}

static void print_member(const char *address, void *arg)
{
	printf("member: %s\n", address);
}

int cli_recipient_show(store_t *store, const char *which, enum store_rcpt_kind kind)
{
	struct store_recipient r = { 0 };
	char *x500 = NULL, *ldap = NULL;

	if (cli_recipient_find(store, which, kind, &r) < 0)
		return 1;
	printf("address: %s@%s\nkind: %s\nname: %s\nrole: %s\nhidden: %s\nguid: %s\n",
	       r.local_part, r.domain, kind_names[r.kind], r.display_name, r.role,
	       r.hidden ? "yes" : "no", r.guid);
	if (directory_dns_of(store, &r, &x500, &ldap) == 0)
		printf("dn: %s\nldap-dn: %s\n", x500, ldap);
	if (r.kind == STORE_RCPT_USER) {
		int64_t used = 0, count = 0;
		store_user_usage(store, r.id, &used, &count);
		printf("quota: %lld%s\nused: %lld octets in %lld messages\n",
		       (long long)directory_quota_of(&r), r.quota < 0 ? " (default)" : "",
		       (long long)used, (long long)count);
	}
	if (r.kind == STORE_RCPT_ALIAS)
		printf("target: %s\n", r.target);
	if (r.kind == STORE_RCPT_GROUP)
		store_group_members(store, r.id, print_member, NULL);
	free(x500);
	free(ldap);
	store_recipient_clear(&r);
	return 0;
}

static int remove_in_tx(store_t *store, void *arg)
{
	const struct store_recipient *r = arg;

	return store_recipient_remove(store, r->id);
}

int cli_recipient_remove(store_t *store, const char *which, enum store_rcpt_kind kind)
{
	struct store_recipient r = { 0 };
	int rc = 0;

	if (cli_recipient_find(store, which, kind, &r) < 0)
		return 1;
	if (store_transaction(store, remove_in_tx, &r) < 0)
		rc = cli_error("cannot remove %s", which);
	else
		printf("removed %s %s@%s\n", kind_names[kind], r.local_part, r.domain);
	store_recipient_clear(&r);
	return rc;
}

int cli_recipient_command(int argc, char **argv, const char *usage, enum store_rcpt_kind kind,
			  cli_verb_fn *verb_fn)
{
	struct cli_recipient_options o = { 0 };
	store_t *store;
	int rc = -2;

	if (cli_wants_help(argc, argv))
		return fputs(usage, stdout), 0;
	if (cli_recipient_parse(argc, argv, &o) < 0) {
		cli_recipient_options_free(&o);
		return fputs(usage, stderr), 2;
	}
	if ((store = cli_open_store(cli_data_dir(o.data))) == NULL) {
		cli_recipient_options_free(&o);
		return 1;
	}
	if (strcmp(o.verb, "list") == 0 && !o.target)
		rc = cli_recipient_list(store, kind);
	else if (strcmp(o.verb, "show") == 0 && o.target && !o.second)
		rc = cli_recipient_show(store, o.target, kind);
	else if (strcmp(o.verb, "remove") == 0 && o.target && !o.second)
		rc = cli_recipient_remove(store, o.target, kind);
	else if (strcmp(o.verb, "list") != 0 && strcmp(o.verb, "show") != 0 &&
		 strcmp(o.verb, "remove") != 0)
		rc = verb_fn(store, &o);
	if (rc == -2)
		rc = (fputs(usage, stderr), 2);
	store_close(&store);
	cli_recipient_options_free(&o);
	return rc;
}
