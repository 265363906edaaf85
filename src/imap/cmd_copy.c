/* cmd_copy: COPY, MOVE (RFC 6851) and their UID forms. The copies share the
 * stored bytes; COPYUID (RFC 4315) tells the client the new UIDs. */
#include <string.h>

#include "imap_private.h"

struct copy_job {
	int64_t src, dst;
	uint32_t *uids, *dst_uids;
	size_t count;
	uint32_t dst_uidvalidity;
	bool move;
};

static int copy_run(store_tx_t *tx, void *arg)
{
	struct copy_job *j = arg;

	return store_tx_copy(tx, j->src, j->uids, j->count, j->dst, j->move, j->dst_uids);
}

static void copy_written(struct imap_session *s, void *arg, int ok)
{
	struct copy_job *j = arg;
	str_t code;

	str_init(&code);
	if (s != NULL && !ok) {
		imap_command_done(s, "NO", "[SERVERBUG] %s failed", s->cmd.name);
	} else if (s != NULL) {
		str_appendf(&code, "COPYUID %u ", j->dst_uidvalidity);
		imap_seqset_format(j->uids, j->count, &code);
		str_append(&code, " ", 1);
		imap_seqset_format(j->dst_uids, j->count, &code);
		if (j->move) {
			imap_untagged(s, "OK [%s] Moved", code.data);
			imap_view_sync(s); /* reports the moved messages as EXPUNGEd */
			imap_command_done(s, "OK", "MOVE completed");
		} else {
			imap_command_done(s, "OK", "[%s] COPY completed", code.data);
		}
	}
	str_free(&code);
	free(j->uids);
	free(j->dst_uids);
	free(j);
}

void cmd_copy(struct imap_session *s)
{
	struct store_mailbox mb = { 0 };
	struct copy_job *j;
	size_t *idx = NULL, n = 0;
	bool move = strcmp(s->cmd.name, "MOVE") == 0;

	if (s->cmd.argc != 2 || s->cmd.args[0].type != IMAP_ARG_ATOM ||
	    s->cmd.args[1].type == IMAP_ARG_LIST) {
		imap_command_done(s, "BAD", "Syntax: %s set mailbox", s->cmd.name);
		return;
	}
	if (move && s->view.readonly) {
		imap_command_done(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (imap_view_select_set(s, s->cmd.args[0].str, s->cmd.uid, &idx, &n) < 0) {
		imap_command_done(s, "BAD", "Invalid message set");
		return;
	}
	if (imap_mailbox_find(s, s->cmd.args[1].str, &mb) != 1) {
		free(idx);
		imap_command_done(s, "NO", "[TRYCREATE] No such mailbox");
		return;
	}
	int64_t octets = 0;
	for (size_t i = 0; !move && i < n; i++)
		octets += s->view.msgs[idx[i]].size;
	if (!move && !imap_quota_allows(s, octets)) {
		free(idx);
		store_mailbox_clear(&mb);
		imap_command_done(s, "NO", "[OVERQUOTA] Quota exceeded");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->src = s->view.id;
	j->dst = mb.id;
	j->dst_uidvalidity = mb.uidvalidity;
	j->move = move;
	j->uids = xcalloc(n ? n : 1, sizeof(uint32_t));
	j->dst_uids = xcalloc(n ? n : 1, sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		j->uids[j->count++] = s->view.msgs[idx[i]].uid;
	free(idx);
	store_mailbox_clear(&mb);
	if (j->count == 0) {
		copy_written(s, j, 1);
		return;
	}
	imap_writer_run(s, copy_run, j, copy_written);
}
