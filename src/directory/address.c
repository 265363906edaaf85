/* address: splitting and resolving addresses and DNs to directory recipients. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "directory.h"

int directory_address_split(const char *address, char **local_r, char **domain_r)
{
	const char *at = strrchr(address, '@');
	size_t len = strlen(address);

	if (at == NULL || at == address || at[1] == '\0' || len > DIRECTORY_ADDRESS_MAX)
		return -1;
	if ((size_t)(at - address) > 64)
		return -1;
	for (const char *p = at + 1; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '[' || c == ']' ||
		      c == ':'))
			return -1;
	}
	*local_r = xstrndup(address, (size_t)(at - address));
	*domain_r = xstrdup(at + 1);
	str_lower(*domain_r);
	return 0;
}

/* Splits "key=value" and checks the key, case-insensitively. */
static char *dn_component(char *part, const char *key)
{
	size_t klen = strlen(key);

	part = str_trim(part);
	if (strncasecmp(part, key, klen) != 0 || part[klen] != '=')
		return NULL;
	return part + klen + 1;
}

/* Splits COPY at SEP into exactly four parts; returns 0 or -1. */
static int dn_split4(char *copy, const char *sep, char *parts[4])
{
	char *save = NULL;
	int n = 0;

	for (char *tok = strtok_r(copy, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
		if (n == 4)
			return -1;
		parts[n++] = tok;
	}
	return n == 4 ? 0 : -1;
}

/* X.500 "/o=/ou=/cn=Recipients/cn=" or LDAP "cn=,cn=Recipients,ou=,o=": the same
 * four components in opposite orders. */
static int dn_parse_parts(char *copy, bool x500, char **org_r, char **site_r, char **cn_r)
{
	char *p[4];

	if (dn_split4(x500 ? copy + 1 : copy, x500 ? "/" : ",", p) < 0)
		return -1;
	char *org = dn_component(p[x500 ? 0 : 3], "o"), *site = dn_component(p[x500 ? 1 : 2], "ou");
	char *container = dn_component(p[x500 ? 2 : 1], "cn"), *cn = dn_component(p[x500 ? 3 : 0], "cn");
	if (!org || !site || !container || !cn || !str_ieq(container, "Recipients"))
		return -1;
	*org_r = xstrdup(org);
	*site_r = xstrdup(site);
	*cn_r = xstrdup(cn);
	return 0;
}

bool directory_is_dn(const char *text)
{
	return text[0] == '/' || str_istarts(text, "cn=");
}

int directory_dn_parse(const char *dn, char **org_r, char **site_r, char **cn_r)
{
	char *copy = xstrdup(dn);
	int rc = -1;

	/* Escaped separators are not used in our names; refuse them rather than guess. */
	if (strchr(dn, '\\') == NULL && strlen(dn) < 1024)
		rc = dn_parse_parts(copy, dn[0] == '/', org_r, site_r, cn_r);
	free(copy);
	return rc;
}

char *directory_dn_x500(const char *org, const char *site, const char *cn)
{
	return xasprintf("/o=%s/ou=%s/cn=Recipients/cn=%s", org, site, cn);
}

char *directory_dn_ldap(const char *org, const char *site, const char *cn)
{
	return xasprintf("cn=%s,cn=Recipients,ou=%s,o=%s", cn, site, org);
}

char *directory_address_of(const struct store_recipient *r)
{
	return xasprintf("%s@%s", r->local_part, r->domain);
}

static int resolve_dn(store_t *store, const char *dn, struct store_recipient *r)
{
	char *org = NULL, *site = NULL, *cn = NULL, *our_org = NULL;
	int64_t site_id;
	int rc = 0;

	if (directory_dn_parse(dn, &org, &site, &cn) < 0)
		return 0;
	if (store_org_name(store, &our_org) == 1 && str_ieq(org, our_org) &&
	    store_site_find(store, site, &site_id) == 1)
		rc = store_recipient_by_cn(store, site_id, cn, r);
	free(org);
	free(site);
	free(cn);
	free(our_org);
	return rc;
}

int directory_resolve(store_t *store, const char *address_or_dn, struct store_recipient *r)
{
	char *local, *domain, *plus;
	int rc;

	if (directory_is_dn(address_or_dn))
		return resolve_dn(store, address_or_dn, r);
	if (directory_address_split(address_or_dn, &local, &domain) < 0)
		return 0;
	rc = store_recipient_by_address(store, local, domain, r);
	/* user+tag@domain reaches user@domain unless user+tag exists itself. */
	if (rc == 0 && (plus = strchr(local, '+')) != NULL && plus != local) {
		*plus = '\0';
		rc = store_recipient_by_address(store, local, domain, r);
	}
	free(local);
	free(domain);
	return rc;
}

int directory_dns_of(store_t *store, const struct store_recipient *r, char **x500_r, char **ldap_r)
{
	char *org = NULL, *site = NULL;
	int rc = -1;

	if (store_org_name(store, &org) == 1 && store_site_name(store, r->site_id, &site) == 1) {
		*x500_r = directory_dn_x500(org, site, r->cn);
		*ldap_r = directory_dn_ldap(org, site, r->cn);
		rc = 0;
	}
	free(org);
	free(site);
	return rc;
}

int64_t directory_quota_of(const struct store_recipient *r)
{
	return r->quota >= 0 ? r->quota : param_get(P_QUOTA_DEFAULT);
}

enum directory_quota_check directory_quota_check(store_t *store, const struct store_recipient *r,
						 int64_t size)
{
	int64_t quota = directory_quota_of(r), used = 0, count = 0;

	if (quota == 0 || r->kind != STORE_RCPT_USER)
		return DIRECTORY_QUOTA_OK;
	if (size > quota)
		return DIRECTORY_QUOTA_TOO_BIG;
	if (store_user_usage(store, r->id, &used, &count) < 0)
		return DIRECTORY_QUOTA_OK; /* a read error must not refuse mail */
	/* Without a declared size, a mailbox is full once it holds its quota. */
	return (size == 0 ? used >= quota : used + size > quota) ? DIRECTORY_QUOTA_FULL
								 : DIRECTORY_QUOTA_OK;
}
