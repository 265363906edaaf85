/* cmd_expunge: EXPUNGE, UID EXPUNGE (UIDPLUS) and CLOSE: messages marked \Deleted
 * are removed durably, then reported (CLOSE reports nothing and deselects). */
#include <string.h>

#include "imap_private.h"

struct expunge_job {
	int64_t mailbox_id;
	uint32_t *uids;
	size_t count;
	bool close;
};

static int expunge_run(store_tx_t *tx, void *arg)
{
	struct expunge_job *j = arg;

	return store_tx_expunge(tx, j->mailbox_id, j->uids, j->count);
}

static void expunge_written(struct imap_session *s, void *arg, int ok)
{
	struct expunge_job *j = arg;

	if (s != NULL && !ok) {
		imap_command_done(s, "NO", "[SERVERBUG] Messages could not be expunged");
	} else if (s != NULL) {
		imap_view_remove(s, j->uids, j->count, !j->close);
		if (j->close) {
			imap_view_close(s);
			s->state = IMAP_STATE_AUTH;
		}
		imap_command_done(s, "OK", "%s completed", j->close ? "CLOSE" : "EXPUNGE");
	}
	free(j->uids);
	free(j);
}

void cmd_expunge(struct imap_session *s)
{
	bool close = strcmp(s->cmd.name, "CLOSE") == 0;
	struct expunge_job *j;
	size_t *idx = NULL, n = 0;

	if (s->view.readonly) {
		if (close) {
			imap_view_close(s);
			s->state = IMAP_STATE_AUTH;
			imap_command_done(s, "OK", "CLOSE completed");
		} else {
			imap_command_done(s, "NO", "[READ-ONLY] Mailbox is read-only");
		}
		return;
	}
	if (s->cmd.uid && (s->cmd.argc != 1 || s->cmd.args[0].type != IMAP_ARG_ATOM ||
			   imap_view_select_set(s, s->cmd.args[0].str, true, &idx, &n) < 0)) {
		imap_command_done(s, "BAD", "Syntax: UID EXPUNGE set");
		return;
	}
	if (!s->cmd.uid && s->cmd.argc != 0) {
		imap_command_done(s, "BAD", "%s takes no arguments", s->cmd.name);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->mailbox_id = s->view.id;
	j->close = close;
	j->uids = xcalloc(s->view.count ? s->view.count : 1, sizeof(uint32_t));
	for (size_t i = 0, k = 0; i < s->view.count; i++) {
		bool in_set = !s->cmd.uid || (k < n && idx[k] == i);
		if (s->cmd.uid && in_set)
			k++;
		if (in_set && (s->view.msgs[i].flags & STORE_FLAG_DELETED))
			j->uids[j->count++] = s->view.msgs[i].uid;
	}
	free(idx);
	imap_writer_run(s, expunge_run, j, expunge_written);
}
