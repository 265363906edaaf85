/* directory: the rules of the directory on top of the store's rows: addresses and
 * their normal form, the two DN forms (X.500 and LDAP), resolution of an address or
 * DN to a recipient, expansion of aliases and nested lists with loop protection,
 * and argon2id passwords. */
#ifndef SEALPOST_DIRECTORY_H
#define SEALPOST_DIRECTORY_H

#include <stdbool.h>

#include "store/store.h"

#define DIRECTORY_ADDRESS_MAX 254 /* RFC 5321 path limit less the brackets */

/* Splits "local@domain"; the domain comes back lower-cased. Returns 0 or -1. */
int directory_address_split(const char *address, char **local_r, char **domain_r);

/* DNs: "/o=ORG/ou=SITE/cn=Recipients/cn=CN" and "cn=CN,cn=Recipients,ou=SITE,o=ORG". */
int directory_dn_parse(const char *dn, char **org_r, char **site_r, char **cn_r);
char *directory_dn_x500(const char *org, const char *site, const char *cn);
char *directory_dn_ldap(const char *org, const char *site, const char *cn);
bool directory_is_dn(const char *text);

/* Both DNs of a recipient (caller frees). Returns 0 or -1. */
int directory_dns_of(store_t *store, const struct store_recipient *r, char **x500_r, char **ldap_r);

/* Finds a recipient by address (with +subaddress fallback) or by either DN form.
 * Returns 1 found, 0 not found, -1 error. */
int directory_resolve(store_t *store, const char *address_or_dn, struct store_recipient *r);
/* The primary address of a recipient, "local@domain" (caller frees). */
char *directory_address_of(const struct store_recipient *r);

/* The result of expanding recipients: local mailbox owners and remote addresses,
 * each once. */
struct directory_expansion {
	int64_t *users;
	size_t user_count;
	char **remote;
	size_t remote_count;
};
enum directory_expand_result {
	DIRECTORY_EXPAND_OK,
	DIRECTORY_EXPAND_UNKNOWN, /* a local address nobody has */
	DIRECTORY_EXPAND_TOO_DEEP,
	DIRECTORY_EXPAND_ERROR,
};
/* Adds what ADDRESS expands to into exp, skipping what is already there. */
enum directory_expand_result directory_expand(store_t *store, const char *address,
					      struct directory_expansion *exp);
void directory_expansion_free(struct directory_expansion *exp);

/* Quotas: a user's own limit or quota_default; 0 means none. */
int64_t directory_quota_of(const struct store_recipient *r);
enum directory_quota_check { DIRECTORY_QUOTA_OK, DIRECTORY_QUOTA_FULL, DIRECTORY_QUOTA_TOO_BIG };
/* Would `size` more octets fit? FULL: not now (temporary); TOO_BIG: never. */
enum directory_quota_check directory_quota_check(store_t *store, const struct store_recipient *r,
						 int64_t size);

/* Passwords: argon2id encoded hashes. */
char *directory_password_hash(const char *password);
bool directory_password_verify(const char *encoded, const char *password);
/* Checks a login (address, or a DN) and password against a user; returns 1 ok
 * (r filled), 0 wrong, -1 error. Always spends the hashing time, found or not. */
int directory_authenticate(store_t *store, const char *login, const char *password,
			   struct store_recipient *r);

/* The same check with the expensive hash run elsewhere: the user is looked up now
 * (the store belongs to this thread), offload() runs the argon2id check on another
 * thread, and done() gets 1 ok, 0 wrong, -1 error, with the user when ok. done()
 * runs wherever offload delivers completions, never before this returns. */
typedef void directory_offload_fn(void *ctx, void (*work)(void *), void (*done)(void *),
				  void *arg);
typedef void directory_auth_done_fn(void *arg, int result, const struct store_recipient *user);
void directory_authenticate_async(store_t *store, const char *login, const char *password,
				  directory_offload_fn *offload, void *offload_ctx,
				  directory_auth_done_fn *done, void *arg);

#endif
