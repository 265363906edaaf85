/* imap_private: the session, the selected-mailbox view and the command context
 * shared by the IMAP server's files. */
#ifndef SEALPOST_IMAP_PRIVATE_H
#define SEALPOST_IMAP_PRIVATE_H

#include <sys/queue.h>

#include "imap.h"

#define IMAP_FLAGS_ALL (STORE_FLAG_SEEN | STORE_FLAG_ANSWERED | STORE_FLAG_FLAGGED | \
			STORE_FLAG_DELETED | STORE_FLAG_DRAFT)
#define IMAP_OUTPUT_HIGH (256 * 1024)

struct imap_server {
	net_loop_t *loop;
	mta_t *mta;
	store_t *store;
	store_writer_t *writer;
	net_tls_t *tls;
	LIST_HEAD(, imap_session) sessions;
	size_t session_count;
	bool shutting_down;
};

enum imap_state { IMAP_STATE_NOT_AUTH, IMAP_STATE_AUTH, IMAP_STATE_SELECTED };

/* The selected mailbox as this session last told the client about it: message
 * sequence numbers are indexes into msgs, plus one. */
struct imap_view {
	int64_t id;
	char *name;
	bool readonly;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	struct store_message_ref *msgs;
	size_t count;
	char *keywords[STORE_KEYWORDS_MAX]; /* names by bit */
	uint32_t *saved;    /* SEARCHRES: the UIDs "$" stands for */
	size_t saved_count;
	uint64_t generation; /* moves whenever msgs (or their flags) change */
	struct imap_context **contexts; /* updating searches (CONTEXT=SEARCH/SORT) */
	size_t context_count;
};

/* Flags as a client writes them: system flags, and keywords by name. */
struct imap_flag_list {
	unsigned flags;
	const char *keywords[STORE_KEYWORDS_MAX];
	size_t keyword_count;
};

/* One command being run: the parser keeps the arguments alive until it ends. */
struct imap_cmd {
	const char *tag;
	const char *name;
	const struct imap_arg *args;
	size_t argc;
	bool uid; /* "UID FETCH" and the like */
};

/* What a FETCH writes: text, or a byte range of a stored message. */
struct imap_piece {
	str_t text;
	bool is_range;
	struct store_message_ref ref;
	uint64_t off, len;
};

typedef void imap_resume_fn(struct imap_session *s);

struct imap_session {
	imap_server_t *server;
	conn_t *conn; /* NULL once the client is gone */
	char id[13];
	enum imap_state state;
	int64_t owner_id;
	char *user;
	struct imap_parser parser;
	struct imap_cmd cmd;
	bool in_command;   /* cmd is valid; input waits until imap_command_done */
	bool waiting;      /* a writer job or password check is in flight */
	imap_resume_fn *resume; /* called when output drains (long FETCH) */
	void *cmd_state;
	struct imap_view view;
	struct imap_piece *pieces;
	size_t piece_count, piece_next;
	uint64_t piece_off;
	bool idling, auth_continue;
	bool condstore; /* enabled (ENABLE, SELECT (CONDSTORE), or a CONDSTORE command) */
	bool qresync;   /* enabled: expunges are reported as VANISHED */
	bool rev2;      /* ENABLE IMAP4rev2: UTF-8 names, ESEARCH answers, no RECENT */
	struct imap_notify *notify; /* NOTIFY SET is in force */
	net_timer_t *idle_timer;
	str_t line, out;
	int errors;
	bool quitting;
	LIST_ENTRY(imap_session) entry;
};

/* imap_session.c */
/* Frees a session whose client left while it was waiting. */
void imap_session_release(struct imap_session *s);
void imap_untagged(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the current command with a tagged reply: status is OK, NO or BAD. */
void imap_command_done(struct imap_session *s, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Writes str as an IMAP string: quoted when safe, a literal otherwise. */
void imap_append_string(str_t *out, const char *str, size_t len);
/* Sends the queued pieces while the output has room; true once all are sent. */
bool imap_pieces_flush(struct imap_session *s);
/* Sends them all now, however much output waits (unsolicited FETCH of NOTIFY). */
void imap_pieces_write_all(struct imap_session *s);
void imap_piece_text(struct imap_session *s, const char *text, size_t len);
void imap_piece_range(struct imap_session *s, const struct store_message_ref *ref, uint64_t off,
		      uint64_t len);
/* Runs a writer job; done() comes back on the loop thread with the outcome. */
void imap_writer_run(struct imap_session *s, store_job_fn *job, void *arg,
		     void (*done)(struct imap_session *s, void *arg, int ok));
const char *imap_capabilities(const struct imap_session *s);

/* imap_view.c */
int imap_view_open(struct imap_session *s, int64_t mailbox_id, const char *name, bool readonly);
void imap_view_close(struct imap_session *s);
/* Reports what changed in the store since the client last heard (EXPUNGE, FETCH
 * FLAGS, EXISTS); returns how many messages are new (the view's last ones). */
size_t imap_view_sync(struct imap_session *s);
/* The same, except that nothing is reported while anything was expunged. */
size_t imap_view_sync_no_expunge(struct imap_session *s);
/* "(\Seen $Label1)": system flags and the view's keyword names for the bits. */
void imap_format_flags(const struct imap_view *v, unsigned flags, uint64_t keywords, str_t *out);
/* Parses a flag list (\Seen, keywords); returns 0, or -1 on an unknown system flag,
 * a malformed keyword or too many. Keyword pointers point into args. */
int imap_parse_flags(const struct imap_arg *args, size_t count, struct imap_flag_list *list);
/* Drops UIDs (ascending) from the view, telling the client if report: EXPUNGE per
 * message, or one VANISHED under QRESYNC. */
void imap_view_remove(struct imap_session *s, const uint32_t *uids, size_t count, bool report);
/* Reloads the view's keyword names (after a STORE may have added some). */
void imap_view_load_keywords(struct imap_session *s);
/* The indexes (0-based) of the messages a set names, by number or by UID. */
int imap_view_select_set(struct imap_session *s, const char *set, bool uid, size_t **idx_r,
			 size_t *count_r);
/* A mailbox name as the client wrote it (UTF-8 once IMAP4rev2 is enabled) as
 * stored: modified UTF-7, INBOX in any case as INBOX. NULL if not valid UTF-8. */
char *imap_name_in(const struct imap_session *s, const char *name);
/* Appends a stored name as an IMAP string the way the client reads names. */
void imap_name_out(const struct imap_session *s, const char *stored, str_t *out);
/* Finds a mailbox of the user by the name the client wrote. */
int imap_mailbox_find(struct imap_session *s, const char *name, struct store_mailbox *mb);

/* imap_results.c: RETURN options of SEARCH and SORT, ESEARCH answers, and
 * updating contexts (RFC 4731, 5267) */
enum {
	RET_MIN = 1, RET_MAX = 2, RET_COUNT = 4, RET_ALL = 8, RET_SAVE = 16,
	RET_UPDATE = 32, RET_CONTEXT = 64, RET_PARTIAL = 128,
};
struct imap_return {
	unsigned opts;
	uint32_t partial_lo, partial_hi; /* PARTIAL lo:hi, from 1 */
};
/* Parses "RETURN (...)" at args[*pos], moving pos past it: 1 if there, 0 if not,
 * -1 if malformed. */
int imap_return_parse(const struct imap_arg *args, size_t argc, size_t *pos, struct imap_return *r);
/* The ESEARCH answer: hits are numbers or UIDs in result order. highest_modseq
 * 0 leaves MODSEQ out. */
void imap_results_reply(struct imap_session *s, const struct imap_return *r, const uint32_t *hits,
			size_t n, uint64_t highest_modseq);
/* Before a search with UPDATE: -1 if the tag already names a context (BAD);
 * says NO [NOUPDATE] when there are too many (the search still runs). */
int imap_context_check(struct imap_session *s, const struct imap_return *r);
/* Keeps the current command as an updating context: its sort criteria (NULL for
 * SEARCH), search keys, and result (view indexes in result order). */
void imap_context_add(struct imap_session *s, const struct imap_arg *sort_criteria,
		      const struct imap_arg *keys, size_t nkeys, const size_t *idx, size_t n);
/* REMOVEFROM for results about to be expunged (before the EXPUNGEs). */
void imap_contexts_expunge(struct imap_session *s, const uint32_t *uids, size_t n);
/* Re-runs contexts whose view changed, sending ADDTO / REMOVEFROM. */
void imap_contexts_refresh(struct imap_session *s);
void imap_contexts_free(struct imap_view *v);
void cmd_cancelupdate(struct imap_session *s);

/* cmd_mailbox.c: "* STATUS name (items)" for one of the user's mailboxes; items
 * is a list of valid STATUS item atoms. Returns 0, or -1 if there is no such mailbox. */
int imap_status_reply(struct imap_session *s, int64_t mailbox_id, const char *name,
		      const struct imap_arg *items);

/* cmd_fetch.c: the bytes BODY[section] names (section NULL or "": the whole
 * message), appended to out; -1 if the section is malformed or no such part. */
int imap_section_read(struct imap_session *s, const struct store_message_ref *ref, const char *section,
		      str_t *out);

/* cmd_fetch.c, for NOTIFY's MessageNew (fetch-att): are these FETCH items that
 * never set \Seen? And FETCH responses for view messages first.., sent at once. */
bool imap_fetch_atts_valid(const struct imap_arg *atts);
void imap_fetch_push(struct imap_session *s, const struct imap_arg *atts, size_t first, size_t count);

/* cmd_urlauth.c: the bytes an IMAP URL names (CATENATE, URLFETCH). Without
 * URLAUTH a URL may name only the user's own mail. Returns 0, or -1 (BADURL). */
int imap_url_fetch(struct imap_session *s, const char *text, bool need_urlauth, str_t *out);
/* text if a BADURL response code may carry it as it is, else "". */
const char *imap_url_printable(const char *text);
void cmd_genurlauth(struct imap_session *s);
void cmd_resetkey(struct imap_session *s);
void cmd_urlfetch(struct imap_session *s);

/* commands, one file per group (cmd_*.c) */
void cmd_capability(struct imap_session *s);
void cmd_noop(struct imap_session *s);
void cmd_logout(struct imap_session *s);
void cmd_id(struct imap_session *s);
void cmd_namespace(struct imap_session *s);
void cmd_starttls(struct imap_session *s);
void cmd_login(struct imap_session *s);
void cmd_authenticate(struct imap_session *s);
void cmd_authenticate_continue(struct imap_session *s, const char *line);
void cmd_select(struct imap_session *s);
void cmd_unselect(struct imap_session *s);
void cmd_list(struct imap_session *s);
void cmd_status(struct imap_session *s);
void cmd_fetch(struct imap_session *s);
void cmd_store(struct imap_session *s);
void cmd_expunge(struct imap_session *s);
void cmd_append(struct imap_session *s);
void cmd_manage(struct imap_session *s);
void cmd_copy(struct imap_session *s);
void cmd_search(struct imap_session *s);
void cmd_enable(struct imap_session *s);
void cmd_quota(struct imap_session *s);
void cmd_sort(struct imap_session *s);
/* Search criteria (after any CHARSET) evaluated over the view: 0-based indexes of
 * the matches, ascending. Returns 0, or -1 if the criteria are malformed. */
int imap_search_select(struct imap_session *s, const struct imap_arg *args, size_t argc,
		       size_t **idx_r, size_t *count_r);
void cmd_thread(struct imap_session *s);
struct mime_sort_keys;
/* The sort and thread keys of view message index, and its sent date (the
 * internal date if it has none). */
void imap_sort_keys_load(struct imap_session *s, size_t index, struct mime_sort_keys *keys,
			 int64_t *date_r);
/* Puts view indexes in the order of SORT criteria (a list); -1 if malformed. */
int imap_sort_indexes(struct imap_session *s, const struct imap_arg *criteria, size_t *idx, size_t n);
/* Would size more octets fit in the user's quota? */
bool imap_quota_allows(struct imap_session *s, int64_t size);
bool imap_mailbox_name_valid(const char *name);
void cmd_idle(struct imap_session *s);
void cmd_notify(struct imap_session *s);
void imap_notify_free(struct imap_session *s);
void cmd_idle_line(struct imap_session *s, const char *line);

#endif
