/* password: argon2id hashes (RFC 9106 second recommended option, memory 19 MiB,
 * as OWASP advises), and authentication that costs the same whether or not the
 * login exists, so timing does not reveal which addresses are real. The lookup
 * and the hash are separate halves so the hash can run off the event loop. */
#include <argon2.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"

#define PW_T_COST 2
#define PW_M_COST 19456
#define PW_PARALLEL 1
#define PW_SALT_LEN 16
#define PW_HASH_LEN 32

struct login_check {
	struct store_recipient user;
	int result; /* -1 lookup failed, 0 unknown or wrong, 1 ok */
	char *hash;
	char *password;
	directory_auth_done_fn *done;
	void *arg;
};

char *directory_password_hash(const char *password)
{
	unsigned char salt[PW_SALT_LEN];
	size_t enclen = argon2_encodedlen(PW_T_COST, PW_M_COST, PW_PARALLEL, PW_SALT_LEN,
					  PW_HASH_LEN, Argon2_id);
	char *encoded = xmalloc(enclen);

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		fatal("RAND_bytes failed");
	if (argon2id_hash_encoded(PW_T_COST, PW_M_COST, PW_PARALLEL, password, strlen(password),
				  salt, sizeof(salt), PW_HASH_LEN, encoded, enclen) != ARGON2_OK)
		fatal("argon2id hashing failed");
	return encoded;
}

bool directory_password_verify(const char *encoded, const char *password)
{
	return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}

/* The first half, on the store's thread: which hash to check the password against.
 * An unknown login gets a dummy hash so that it costs as much as a real one. */
static void login_lookup(store_t *store, const char *login, struct login_check *c)
{
	static char *dummy_hash;
	int rc = directory_resolve(store, login, &c->user);

	c->result = rc < 0 ? -1 : 0;
	if (rc == 1 && c->user.kind == STORE_RCPT_USER && c->user.password_hash != NULL) {
		c->hash = xstrdup(c->user.password_hash);
		return;
	}
	if (dummy_hash == NULL)
		dummy_hash = directory_password_hash("sealpost-dummy");
	c->hash = xstrdup(dummy_hash);
	store_recipient_clear(&c->user);
	c->user.id = 0; /* not a user: can never succeed */
}

/* The second half, on any thread: the expensive part. */
static void login_verify(void *arg)
{
	struct login_check *c = arg;
	bool ok = directory_password_verify(c->hash, c->password);

	if (c->result == 0)
		c->result = ok && c->user.id > 0 ? 1 : 0;
}

static void login_check_free(struct login_check *c)
{
	explicit_bzero(c->password, strlen(c->password));
	free(c->password);
	free(c->hash);
	store_recipient_clear(&c->user);
	free(c);
}

static void login_done(void *arg)
{
	struct login_check *c = arg;

	c->done(c->arg, c->result, c->result == 1 ? &c->user : NULL);
	login_check_free(c);
}

void directory_authenticate_async(store_t *store, const char *login, const char *password,
				  directory_offload_fn *offload, void *offload_ctx,
				  directory_auth_done_fn *done, void *arg)
{
	struct login_check *c = xcalloc(1, sizeof(*c));

	c->password = xstrdup(password);
	c->done = done;
	c->arg = arg;
	login_lookup(store, login, c);
	offload(offload_ctx, login_verify, login_done, c);
}

int directory_authenticate(store_t *store, const char *login, const char *password,
			   struct store_recipient *r)
{
	struct login_check c = { 0 };
	int result;

	c.password = (char *)password;
	login_lookup(store, login, &c);
	login_verify(&c);
	result = c.result;
	free(c.hash);
	if (result == 1)
		*r = c.user; /* ownership passes to the caller */
	else
		store_recipient_clear(&c.user);
	return result;
}
