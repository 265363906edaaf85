/* tls: server TLS contexts, and the self-signed certificate init makes so that
 * STARTTLS works from the first start; a real certificate can replace the files. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_private.h"

static char *tls_error(const char *what)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	return xasprintf("%s: %s", what, buf);
}

net_tls_t *net_tls_server_new(const char *cert_path, const char *key_path, char **err_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	net_tls_t *tls;

	if (ctx == NULL) {
		*err_r = tls_error("cannot create TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		*err_r = tls_error(cert_path);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		*err_r = tls_error(key_path);
		SSL_CTX_free(ctx);
		return NULL;
	}
	tls = xcalloc(1, sizeof(*tls));
	tls->ctx = ctx;
	return tls;
}

net_tls_t *net_tls_client_new(bool verify, char **err_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	net_tls_t *tls;

	if (ctx == NULL) {
		*err_r = tls_error("cannot create TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (verify && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		*err_r = tls_error("cannot load the system's CA certificates");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	tls = xcalloc(1, sizeof(*tls));
	tls->ctx = ctx;
	tls->verify = verify;
	return tls;
}

void net_tls_free(net_tls_t **tls)
{
	if (*tls == NULL)
		return;
	SSL_CTX_free((*tls)->ctx);
	x_free(tls);
}

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

static X509 *self_signed_build(EVP_PKEY *key, const char *hostname)
{
	X509 *cert = X509_new();
	X509_NAME *name;
	char *san = xasprintf("DNS:%s", hostname);
	int ok;

	X509_set_version(cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), (long)time(NULL));
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3650L * 24 * 3600);
	X509_set_pubkey(cert, key);
	name = X509_get_subject_name(cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(cert, name);
	ok = add_ext(cert, NID_subject_alt_name, san) == 0 &&
	     add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
	     add_ext(cert, NID_ext_key_usage, "serverAuth") == 0 &&
	     X509_sign(cert, key, EVP_sha256()) > 0;
	free(san);
	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

static int write_pem(const char *path, int mode, X509 *cert, EVP_PKEY *key)
{
	FILE *f;
	int ok;
	mode_t old = umask(0077);

	f = fopen(path, "w");
	umask(old);
	if (f == NULL)
		return -1;
	chmod(path, (mode_t)mode);
	ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int net_tls_make_self_signed(const char *cert_path, const char *key_path, const char *hostname,
			     char **err_r)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *cert;
	int rc = -1;

	if (key == NULL) {
		*err_r = tls_error("cannot generate key");
		return -1;
	}
	cert = self_signed_build(key, hostname);
	if (cert == NULL)
		*err_r = tls_error("cannot build certificate");
	else if (write_pem(key_path, 0600, NULL, key) < 0 || write_pem(cert_path, 0644, cert, NULL) < 0)
		*err_r = xasprintf("cannot write %s or %s", key_path, cert_path);
	else
		rc = 0;
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}
