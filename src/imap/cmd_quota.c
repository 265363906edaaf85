/* cmd_quota: the QUOTA extension (RFC 9208): one quota root "" per user over all
 * its mailboxes, the STORAGE resource in KiB. Limits are set by the administrator
 * (`sealpost user quota`), so SETQUOTA is refused. Also the check APPEND and COPY
 * make before storing. */
#include <string.h>
#include <strings.h>

#include "directory/directory.h"
#include "imap_private.h"

/* The user's limit and use in octets; limit 0 means none. Returns 0 or -1. */
static int quota_state(struct imap_session *s, int64_t *limit_r, int64_t *used_r)
{
	struct store_recipient r = { 0 };
	int64_t count;
	int rc = -1;

	if (store_recipient_by_id(s->server->store, s->owner_id, &r) == 1 &&
	    store_user_usage(s->server->store, s->owner_id, used_r, &count) == 0) {
		*limit_r = directory_quota_of(&r);
		rc = 0;
	}
	store_recipient_clear(&r);
	return rc;
}

bool imap_quota_allows(struct imap_session *s, int64_t size)
{
	struct store_recipient r = { 0 };
	bool ok = true;

	if (store_recipient_by_id(s->server->store, s->owner_id, &r) == 1)
		ok = directory_quota_check(s->server->store, &r, size) == DIRECTORY_QUOTA_OK;
	store_recipient_clear(&r);
	return ok;
}

static void untagged_quota(struct imap_session *s, int64_t limit, int64_t used)
{
	imap_untagged(s, "QUOTA \"\" (STORAGE %lld %lld)", (long long)((used + 1023) / 1024),
		      (long long)(limit / 1024));
}

void cmd_quota(struct imap_session *s)
{
	int64_t limit = 0, used = 0;
	bool root = strcasecmp(s->cmd.name, "GETQUOTAROOT") == 0;
	str_t line;

	if (strcasecmp(s->cmd.name, "SETQUOTA") == 0) {
		imap_command_done(s, "NO", "[NOPERM] Quotas are set by the administrator");
		return;
	}
	if (s->cmd.argc != 1 || s->cmd.args[0].type == IMAP_ARG_LIST) {
		imap_command_done(s, "BAD", "Syntax: %s %s", s->cmd.name, root ? "mailbox" : "root");
		return;
	}
	if (quota_state(s, &limit, &used) < 0) {
		imap_command_done(s, "NO", "[UNAVAILABLE] Cannot read the quota");
		return;
	}
	if (root) {
		struct store_mailbox mb = { 0 };
		if (imap_mailbox_find(s, s->cmd.args[0].str, &mb) != 1) {
			imap_command_done(s, "NO", "[NONEXISTENT] No such mailbox");
			return;
		}
		str_init(&line);
		str_append_cstr(&line, "QUOTAROOT ");
		imap_name_out(s, mb.name, &line);
		str_append_cstr(&line, limit > 0 ? " \"\"" : "");
		imap_untagged(s, "%s", line.data);
		str_free(&line);
		store_mailbox_clear(&mb);
	} else if (s->cmd.args[0].str[0] != '\0' || limit == 0) {
		imap_command_done(s, "NO", "[NONEXISTENT] No such quota root");
		return;
	}
	if (limit > 0)
		untagged_quota(s, limit, used);
	imap_command_done(s, "OK", "%s completed", s->cmd.name);
}
