/* cmd_urlauth: URLAUTH (RFC 4467). GENURLAUTH signs a URL to one of the user's
 * messages with its mailbox's access key (mechanism INTERNAL: HMAC-SHA-256 of the
 * URL's rump, hex), RESETKEY forgets keys so the URLs made with them stop working,
 * URLFETCH returns what signed URLs name. imap_url_fetch is also how CATENATE
 * reads the parts it joins. Keys live in the store (mailboxes.urlauth_key) and
 * are made on first use. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "directory/directory.h"
#include "imap_private.h"

#define URLS_MAX 100 /* in one GENURLAUTH or URLFETCH */

static int user_id(struct imap_session *s, const char *name, int64_t *id_r)
{
	struct store_recipient r = { 0 };
	int rc = directory_resolve(s->server->store, name, &r);

	if (rc == 1 && r.kind == STORE_RCPT_USER)
		*id_r = r.id;
	store_recipient_clear(&r);
	return rc == 1 && r.kind == STORE_RCPT_USER ? 0 : -1;
}

/* The mailbox a URL names among the owner's, checking UIDVALIDITY. */
static int url_mailbox(struct imap_session *s, const struct imap_url *url, int64_t owner,
		       struct store_mailbox *mb)
{
	char *stored = strcasecmp(url->mailbox, "INBOX") == 0 ? xstrdup("INBOX") : imap_utf8_to_mutf7(url->mailbox);
	int found = stored ? store_mailbox_by_name(s->server->store, owner, stored, mb) : 0;

	free(stored);
	if (found != 1 && store_mailbox_by_name(s->server->store, owner, url->mailbox, mb) != 1)
		return -1; /* names are UTF-8 in URLs (RFC 5092); some clients write modified UTF-7 */
	if (url->uidvalidity != 0 && url->uidvalidity != mb->uidvalidity) {
		store_mailbox_clear(mb);
		return -1;
	}
	return 0;
}

/* The INTERNAL token of a URL's rump under a mailbox's key; false if it has none. */
static bool make_token(struct imap_session *s, int64_t mailbox_id, const char *rump, size_t len,
		       char token[65])
{
	char *key = NULL;
	bool ok = store_mailbox_urlauth_key(s->server->store, mailbox_id, &key) == 1;

	if (ok)
		hmac_sha256_hex(key, strlen(key), rump, len, token);
	free(key);
	return ok;
}

static bool access_allowed(struct imap_session *s, const struct imap_url *url)
{
	int64_t id;

	switch (url->access_kind) {
	case IMAP_URL_ANONYMOUS:
	case IMAP_URL_AUTHUSER:
		return true; /* every IMAP session here is authenticated */
	case IMAP_URL_USER:
		return user_id(s, url->access_user, &id) == 0 && id == s->owner_id;
	default:
		return false; /* submit+: for a submission server's BURL, which we do not have */
	}
}

/* Is a URLAUTH URL signed, unexpired and meant for this user? */
static bool authorized(struct imap_session *s, const char *text, const struct imap_url *url,
		       int64_t mailbox_id)
{
	char token[65], given[65];
	size_t i;

	if (url->token == NULL || strcasecmp(url->mechanism, "INTERNAL") != 0 || strlen(url->token) != 64 ||
	    (url->expire >= 0 && url->expire <= (int64_t)time(NULL)) || !access_allowed(s, url) ||
	    !make_token(s, mailbox_id, text, url->rump_len, token))
		return false;
	for (i = 0; url->token[i] != '\0'; i++)
		given[i] = (char)tolower((unsigned char)url->token[i]);
	given[i] = '\0';
	return secret_equal(token, given);
}

/* Partial of RFC 5092: octets from off, at most len. */
static void append_partial(const struct imap_url *url, const str_t *bytes, str_t *out)
{
	size_t off = url->partial_off < bytes->len ? (size_t)url->partial_off : bytes->len;
	size_t len = bytes->len - off;

	if (url->partial_len < len)
		len = (size_t)url->partial_len;
	str_append(out, bytes->data + off, len);
}

int imap_url_fetch(struct imap_session *s, const char *text, bool need_urlauth, str_t *out)
{
	struct imap_url url;
	struct store_mailbox mb = { 0 };
	struct store_message_ref ref;
	int64_t owner = s->owner_id;
	str_t bytes;
	int rc = -1;

	if (imap_url_parse(text, &url) < 0)
		return -1;
	str_init(&bytes);
	if ((url.user != NULL && user_id(s, url.user, &owner) < 0) ||
	    (url.access == NULL && (need_urlauth || owner != s->owner_id)) ||
	    url_mailbox(s, &url, owner, &mb) < 0)
		goto done;
	if (url.access != NULL && !authorized(s, text, &url, mb.id))
		goto done;
	if (store_message_by_uid(s->server->store, mb.id, url.uid, &ref) != 1 ||
	    imap_section_read(s, &ref, url.section, &bytes) < 0)
		goto done;
	if (url.partial)
		append_partial(&url, &bytes, out);
	else
		str_append(out, bytes.data ? bytes.data : "", bytes.len);
	rc = 0;
done:
	str_free(&bytes);
	store_mailbox_clear(&mb);
	imap_url_free(&url);
	return rc;
}

/* A URL as BADURL may quote it (no ']', nothing unprintable), else "". */
const char *imap_url_printable(const char *text)
{
	for (const char *c = text; *c != '\0'; c++)
		if (*c <= 0x20 || *c >= 0x7f || *c == ']')
			return "";
	return text;
}

/* ---- GENURLAUTH url mechanism ... ---- */

struct genurlauth_job {
	size_t count;
	char *urls[URLS_MAX];
	size_t rump_len[URLS_MAX];
	int64_t mailbox_ids[URLS_MAX];
	char fresh_keys[URLS_MAX][65];
};

static void genurlauth_free(struct genurlauth_job *j)
{
	for (size_t i = 0; i < j->count; i++)
		free(j->urls[i]);
	free(j);
}

static int genurlauth_run(store_tx_t *tx, void *arg)
{
	struct genurlauth_job *j = arg;

	for (size_t i = 0; i < j->count; i++)
		if (store_tx_urlauth_key_ensure(tx, j->mailbox_ids[i], j->fresh_keys[i]) < 0)
			return -1;
	return 0;
}

static void genurlauth_written(struct imap_session *s, void *arg, int ok)
{
	struct genurlauth_job *j = arg;
	str_t line, url;
	char token[65];

	if (s != NULL && !ok) {
		imap_command_done(s, "NO", "[SERVERBUG] The access key could not be stored");
	} else if (s != NULL) {
		str_init(&line);
		str_init(&url);
		str_append_cstr(&line, "GENURLAUTH");
		for (size_t i = 0; i < j->count; i++) {
			if (!make_token(s, j->mailbox_ids[i], j->urls[i], j->rump_len[i], token))
				break;
			str_clear(&url);
			str_appendf(&url, "%.*s:internal:%s", (int)j->rump_len[i], j->urls[i], token);
			str_append(&line, " ", 1);
			imap_append_string(&line, url.data, url.len);
		}
		imap_untagged(s, "%s", line.data);
		imap_command_done(s, "OK", "GENURLAUTH completed");
		str_free(&line);
		str_free(&url);
	}
	genurlauth_free(j);
}

/* Checks one URL to be signed: the user's own message, a rump with no token. */
static bool genurlauth_add(struct imap_session *s, struct genurlauth_job *j, const char *text,
			   const struct imap_arg *mechanism)
{
	struct imap_url url;
	struct store_mailbox mb = { 0 };
	struct store_message_ref ref;
	int64_t owner;
	bool ok;

	if (imap_url_parse(text, &url) < 0)
		return false;
	ok = mechanism->type != IMAP_ARG_LIST && strcasecmp(mechanism->str, "INTERNAL") == 0 &&
	     url.user != NULL && url.access != NULL && url.token == NULL && url.mechanism == NULL &&
	     strlen(text) == url.rump_len && user_id(s, url.user, &owner) == 0 && owner == s->owner_id &&
	     url_mailbox(s, &url, owner, &mb) == 0 &&
	     store_message_by_uid(s->server->store, mb.id, url.uid, &ref) == 1;
	if (ok) {
		j->urls[j->count] = xstrdup(text);
		j->rump_len[j->count] = url.rump_len;
		j->mailbox_ids[j->count] = mb.id;
		id_random_hex(j->fresh_keys[j->count], 32);
		j->count++;
	}
	store_mailbox_clear(&mb);
	imap_url_free(&url);
	return ok;
}

void cmd_genurlauth(struct imap_session *s)
{
	struct genurlauth_job *j;

	if (s->cmd.argc == 0 || s->cmd.argc % 2 != 0 || s->cmd.argc / 2 > URLS_MAX) {
		imap_command_done(s, "BAD", "Syntax: GENURLAUTH url mechanism ...");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	for (size_t i = 0; i < s->cmd.argc; i += 2) {
		const char *text = s->cmd.args[i].type != IMAP_ARG_LIST ? s->cmd.args[i].str : "";
		if (!genurlauth_add(s, j, text, &s->cmd.args[i + 1])) {
			genurlauth_free(j);
			imap_command_done(s, "NO", "[BADURL %s] Cannot authorize this URL", imap_url_printable(text));
			return;
		}
	}
	imap_writer_run(s, genurlauth_run, j, genurlauth_written);
}

/* ---- RESETKEY [mailbox [mechanism ...]] ---- */

struct resetkey_job {
	int64_t owner_id, mailbox_id;
};

static int resetkey_run(store_tx_t *tx, void *arg)
{
	struct resetkey_job *j = arg;

	return store_tx_urlauth_keys_reset(tx, j->owner_id, j->mailbox_id);
}

static void resetkey_written(struct imap_session *s, void *arg, int ok)
{
	if (s != NULL)
		imap_command_done(s, ok ? "OK" : "NO", ok ? "RESETKEY completed" : "[SERVERBUG] Keys not reset");
	free(arg);
}

void cmd_resetkey(struct imap_session *s)
{
	struct resetkey_job *j = xcalloc(1, sizeof(*j));
	struct store_mailbox mb = { 0 };

	j->owner_id = s->owner_id;
	for (size_t i = 1; i < s->cmd.argc; i++)
		if (s->cmd.args[i].type == IMAP_ARG_LIST || strcasecmp(s->cmd.args[i].str, "INTERNAL") != 0) {
			free(j);
			imap_command_done(s, "NO", "Unknown URLAUTH mechanism");
			return;
		}
	if (s->cmd.argc > 0) {
		if (s->cmd.args[0].type == IMAP_ARG_LIST || imap_mailbox_find(s, s->cmd.args[0].str, &mb) != 1) {
			free(j);
			imap_command_done(s, "NO", "[NONEXISTENT] No such mailbox");
			return;
		}
		j->mailbox_id = mb.id;
		store_mailbox_clear(&mb);
	}
	imap_writer_run(s, resetkey_run, j, resetkey_written);
}

/* ---- URLFETCH url ... ---- */

static void urlfetch_resume(struct imap_session *s)
{
	if (imap_pieces_flush(s))
		imap_command_done(s, "OK", "URLFETCH completed");
}

void cmd_urlfetch(struct imap_session *s)
{
	int64_t budget = param_get(P_MESSAGE_SIZE_MAX); /* bytes held at once */
	str_t line, data;

	if (s->cmd.argc == 0 || s->cmd.argc > URLS_MAX) {
		imap_command_done(s, "BAD", "Syntax: URLFETCH url ...");
		return;
	}
	str_init(&line);
	str_init(&data);
	for (size_t i = 0; i < s->cmd.argc; i++) {
		const struct imap_arg *a = &s->cmd.args[i];
		str_clear(&line);
		str_clear(&data);
		str_append_cstr(&line, "* URLFETCH ");
		imap_append_string(&line, a->type != IMAP_ARG_LIST ? a->str : "", a->type != IMAP_ARG_LIST ? a->len : 0);
		if (a->type == IMAP_ARG_LIST || imap_url_fetch(s, a->str, true, &data) < 0 ||
		    (int64_t)data.len > budget) {
			str_append_cstr(&line, " NIL\r\n");
			imap_piece_text(s, line.data, line.len);
			continue;
		}
		budget -= (int64_t)data.len;
		str_appendf(&line, " {%zu}\r\n", data.len);
		imap_piece_text(s, line.data, line.len);
		imap_piece_text(s, data.data ? data.data : "", data.len);
		imap_piece_text(s, "\r\n", 2);
	}
	str_free(&line);
	str_free(&data);
	s->resume = urlfetch_resume;
	urlfetch_resume(s);
}
