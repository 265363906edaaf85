/* cmd_manage: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE. Names are checked
 * here (printable ASCII, '/' between levels, canonical modified UTF-7); the change
 * goes through the writer and is durable before OK. */
#include <string.h>
#include <strings.h>

#include "imap_private.h"

enum manage_op { OP_CREATE, OP_DELETE, OP_RENAME, OP_SUBSCRIBE, OP_UNSUBSCRIBE };

struct manage_job {
	enum manage_op op;
	int64_t owner_id, mailbox_id;
	char *name, *new_name;
};

bool imap_mailbox_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 255 || name[0] == '/' || name[len - 1] == '/' || strstr(name, "//"))
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '*' || *p == '%')
			return false;
	char *utf8 = imap_mutf7_to_utf8(name); /* valid modified UTF-7, spelt the one way */
	free(utf8);
	return utf8 != NULL;
}

static int manage_run(store_tx_t *tx, void *arg)
{
	struct manage_job *j = arg;

	switch (j->op) {
	case OP_CREATE:
		return store_tx_mailbox_create(tx, j->owner_id, j->name);
	case OP_DELETE:
		return store_tx_mailbox_delete(tx, j->mailbox_id);
	case OP_RENAME:
		return store_tx_mailbox_rename(tx, j->owner_id, j->name, j->new_name);
	case OP_SUBSCRIBE:
	case OP_UNSUBSCRIBE:
		return store_tx_mailbox_subscribe(tx, j->mailbox_id, j->op == OP_SUBSCRIBE);
	}
	return -1;
}

static void manage_written(struct imap_session *s, void *arg, int ok)
{
	struct manage_job *j = arg;

	if (s != NULL && ok)
		imap_command_done(s, "OK", "%s completed", s->cmd.name);
	else if (s != NULL)
		imap_command_done(s, "NO", "[SERVERBUG] %s failed", s->cmd.name);
	free(j->name);
	free(j->new_name);
	free(j);
}

static enum manage_op op_of(const char *name)
{
	return strcmp(name, "CREATE") == 0 ? OP_CREATE : strcmp(name, "DELETE") == 0 ? OP_DELETE
	       : strcmp(name, "RENAME") == 0 ? OP_RENAME : strcmp(name, "SUBSCRIBE") == 0 ? OP_SUBSCRIBE
											: OP_UNSUBSCRIBE;
}

/* Checks what the operation needs to exist or not exist; replies NO if not met. */
static bool manage_check(struct imap_session *s, struct manage_job *j)
{
	struct store_mailbox mb = { 0 };
	int found = store_mailbox_by_name(s->server->store, s->owner_id, j->name, &mb);
	bool is_inbox = strcmp(j->name, "INBOX") == 0;

	j->mailbox_id = found == 1 ? mb.id : 0;
	store_mailbox_clear(&mb);
	if (j->op == OP_CREATE && (found == 1 || is_inbox))
		return imap_command_done(s, "NO", "[ALREADYEXISTS] Mailbox exists"), false;
	if (j->op != OP_CREATE && found != 1)
		return imap_command_done(s, "NO", "[NONEXISTENT] No such mailbox"), false;
	if ((j->op == OP_DELETE || j->op == OP_RENAME) && is_inbox)
		return imap_command_done(s, "NO", "[CANNOT] INBOX cannot be %s", j->op == OP_DELETE ? "deleted" : "renamed"), false;
	if (j->op == OP_DELETE && s->state == IMAP_STATE_SELECTED && s->view.id == j->mailbox_id)
		return imap_command_done(s, "NO", "[INUSE] Mailbox is selected"), false;
	if (j->op == OP_RENAME) {
		found = store_mailbox_by_name(s->server->store, s->owner_id, j->new_name, &mb);
		store_mailbox_clear(&mb);
		if (found == 1 || strcmp(j->new_name, "INBOX") == 0)
			return imap_command_done(s, "NO", "[ALREADYEXISTS] Target exists"), false;
	}
	return true;
}

void cmd_manage(struct imap_session *s)
{
	enum manage_op op = op_of(s->cmd.name);
	size_t want = op == OP_RENAME ? 2 : 1;
	struct manage_job *j;

	for (size_t i = 0; i < s->cmd.argc; i++)
		if (s->cmd.args[i].type == IMAP_ARG_LIST)
			want = 0;
	if (s->cmd.argc != want) {
		imap_command_done(s, "BAD", "Syntax: %s mailbox%s", s->cmd.name, op == OP_RENAME ? " newname" : "");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->op = op;
	j->owner_id = s->owner_id;
	j->name = imap_name_in(s, s->cmd.args[0].str);
	j->new_name = op == OP_RENAME ? imap_name_in(s, s->cmd.args[1].str) : NULL;
	if (j->name == NULL || (op == OP_RENAME && j->new_name == NULL) ||
	    ((op == OP_CREATE || op == OP_RENAME) && !imap_mailbox_name_valid(op == OP_RENAME ? j->new_name : j->name))) {
		imap_command_done(s, "NO", "[CANNOT] Invalid mailbox name");
		free(j->name);
		free(j->new_name);
		free(j);
		return;
	}
	if (!manage_check(s, j)) {
		free(j->name);
		free(j->new_name);
		free(j);
		return;
	}
	imap_writer_run(s, manage_run, j, manage_written);
}
