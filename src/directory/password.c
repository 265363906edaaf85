/* password: argon2id hashes (RFC 9106 second recommended option, memory 19 MiB,
 * as OWASP advises), and authentication that costs the same whether or not the
 * login exists, so timing does not reveal which addresses are real. */
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

int directory_authenticate(store_t *store, const char *login, const char *password,
			   struct store_recipient *r)
{
	static char *dummy_hash;
	int rc = directory_resolve(store, login, r);

	if (rc < 0)
		return -1;
	if (rc == 0 || r->kind != STORE_RCPT_USER || r->password_hash == NULL) {
		if (dummy_hash == NULL)
			dummy_hash = directory_password_hash("sealpost-dummy");
		(void)directory_password_verify(dummy_hash, password);
		store_recipient_clear(r);
		return 0;
	}
	if (!directory_password_verify(r->password_hash, password)) {
		store_recipient_clear(r);
		return 0;
	}
	return 1;
}
