/* store: the only module that speaks SQL or touches blob segments.
 * A store_t is one SQLite connection plus open segment files, used by one thread.
 * All writes of mail go through the store_writer_t, a single thread that
 * group-commits: one fdatasync and one COMMIT serve every job queued meanwhile.
 * The store knows nothing of protocols. */
#ifndef SEALPOST_STORE_H
#define SEALPOST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/lib.h"

typedef struct store store_t;
typedef struct store_tx store_tx_t;
typedef struct store_writer store_writer_t;

/* Opens DIR/sealpost.db (creating and migrating it if needed). */
int store_open(const char *datadir, store_t **store_r, char **err_r);
void store_close(store_t **store);
/* Runs fn inside one IMMEDIATE transaction on this connection (for the CLI). */
int store_transaction(store_t *store, int (*fn)(store_t *, void *), void *arg);

/* ---- organisation, sites, domains ---- */
int store_org_create(store_t *store, const char *org, int64_t *id_r);
int store_org_name(store_t *store, char **name_r);
int store_site_create(store_t *store, const char *site, int64_t *id_r);
/* Returns 1 found, 0 not, -1 error. */
int store_site_find(store_t *store, const char *site, int64_t *id_r);
int store_site_name(store_t *store, int64_t site_id, char **name_r);
int store_domain_add(store_t *store, const char *domain, int64_t site_id);
/* Returns 1 if DOMAIN is one we accept mail for, 0 if not, -1 error. */
int store_domain_is_local(store_t *store, const char *domain);
/* The site a domain belongs to: 1 found, 0 not ours, -1 error. site_r may be NULL. */
int store_domain_site(store_t *store, const char *domain, int64_t *site_r);
int store_domain_first(store_t *store, char **domain_r, int64_t *site_r);
/* Every site, or every domain with its site's name, in creation order. */
int store_site_foreach(store_t *store, void (*cb)(const char *site, void *arg), void *arg);
int store_domain_foreach(store_t *store, void (*cb)(const char *domain, const char *site, void *arg),
			 void *arg);

/* ---- recipients (users, aliases, groups) ---- */
enum store_rcpt_kind { STORE_RCPT_USER, STORE_RCPT_ALIAS, STORE_RCPT_GROUP };
struct store_recipient {
	int64_t id;
	char *guid; /* permanent; never changes with names */
	enum store_rcpt_kind kind;
	int64_t site_id;
	char *cn;
	char *local_part;
	char *domain;
	char *display_name;
	char *role;
	char *password_hash; /* NULL if none */
	char *target;        /* aliases only */
	bool hidden;
	int64_t quota;       /* octets; -1: the default */
};
void store_recipient_clear(struct store_recipient *r);
/* Adds r (id and guid are assigned); for users also creates the special-use mailboxes. */
int store_recipient_add(store_t *store, struct store_recipient *r, char **err_r);
/* Return 1 found (r filled), 0 not found, -1 error. */
int store_recipient_by_address(store_t *store, const char *local_part, const char *domain,
			       struct store_recipient *r);
int store_recipient_by_cn(store_t *store, int64_t site_id, const char *cn,
			  struct store_recipient *r);
int store_recipient_by_id(store_t *store, int64_t id, struct store_recipient *r);
typedef void store_recipient_cb(const struct store_recipient *r, void *arg);
int store_recipient_foreach(store_t *store, store_recipient_cb *cb, void *arg);
int store_recipient_remove(store_t *store, int64_t id);
int store_recipient_set_password(store_t *store, int64_t id, const char *hash);
/* quota < 0 returns the user to quota_default. */
int store_recipient_set_quota(store_t *store, int64_t id, int64_t quota);
/* Octets and messages a user's mailboxes hold (each mailbox row counts). */
int store_user_usage(store_t *store, int64_t owner_id, int64_t *octets_r, int64_t *messages_r);
int store_group_add_member(store_t *store, int64_t group_id, const char *address);
/* Calls cb for every member address of the group. */
int store_group_members(store_t *store, int64_t group_id,
			void (*cb)(const char *address, void *arg), void *arg);

/* ---- mailboxes and messages (reads; any thread with its own store_t) ---- */
enum store_flag {
	STORE_FLAG_SEEN = 1,
	STORE_FLAG_ANSWERED = 2,
	STORE_FLAG_FLAGGED = 4,
	STORE_FLAG_DELETED = 8,
	STORE_FLAG_DRAFT = 16,
};
struct store_mailbox {
	int64_t id;
	int64_t owner_id;
	char *name;
	char *special_use;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
};
struct store_message_ref {
	uint32_t uid;
	int64_t message_id;
	char msgid[33];
	int64_t segment;
	int64_t offset;
	int64_t size;
	unsigned flags;
	uint64_t modseq;
	int64_t internal_date; /* seconds since the epoch */
	uint64_t keywords;     /* bit n: the mailbox's keyword n */
	bool indexed;          /* its text is in the full-text index */
};
int store_mailbox_by_name(store_t *store, int64_t owner_id, const char *name,
			  struct store_mailbox *mb);
void store_mailbox_clear(struct store_mailbox *mb);
/* Every mailbox of an owner, by name. cb gets each (valid during the call). */
int store_mailbox_foreach(store_t *store, int64_t owner_id,
			  void (*cb)(const struct store_mailbox *mb, bool subscribed, void *arg),
			  void *arg);
/* What a mailbox holds: messages, those without \Seen, those with \Deleted, and
 * their octets. */
struct store_mailbox_counts {
	int64_t messages, unseen, deleted, octets;
};
int store_mailbox_count(store_t *store, int64_t mailbox_id, struct store_mailbox_counts *c);
/* The two numbers that change whenever a mailbox does: cheap to poll. */
int store_mailbox_state(store_t *store, int64_t mailbox_id, uint32_t *uidnext_r,
			uint64_t *highestmodseq_r);
/* Every message of the mailbox in UID order; caller frees *refs_r. */
int store_mailbox_messages(store_t *store, int64_t mailbox_id,
			   struct store_message_ref **refs_r, size_t *count_r);
/* One message of a mailbox: 1 found, 0 no such UID, -1 error. */
int store_message_by_uid(store_t *store, int64_t mailbox_id, uint32_t uid, struct store_message_ref *ref);
/* A mailbox's URLAUTH access key (hex): 1 (allocated), 0 none yet, -1 error. */
int store_mailbox_urlauth_key(store_t *store, int64_t mailbox_id, char **key_r);
/* Reads len bytes at off within a stored message; returns bytes read or -1. */
ssize_t store_message_read(store_t *store, const struct store_message_ref *ref,
			   uint64_t off, void *buf, size_t len);

/* ---- the MIME summary cache (texts made by mime/, opaque here) ---- */
struct store_mime {
	char *envelope;
	char *bodystructure;
	char *body;
	char *parts;
};
/* 1 found (strings allocated), 0 not cached, -1 error. */
int store_message_mime_get(store_t *store, int64_t message_id, struct store_mime *out);
void store_mime_clear(struct store_mime *m);
int store_tx_message_mime_put(store_tx_t *tx, int64_t message_id, const struct store_mime *m);

/* ---- full-text index (SQLite FTS5, trigram: substring matching) ---- */
/* Stores the searchable text of a message (its row id is the message's). */
int store_tx_index_text(store_tx_t *tx, int64_t message_id, const char *headers, const char *body);
/* Up to max messages not indexed yet; returns how many, or -1. */
int store_tx_unindexed(store_tx_t *tx, int64_t *ids, int max);
/* The stored bytes of a message, by id, for the writer's own use. */
int store_tx_message_bytes(store_tx_t *tx, int64_t message_id, str_t *out);
/* Message ids whose text (body_only: body) contains every one of the term,
 * ascending; caller frees. Terms shorter than 3 characters cannot be looked up:
 * returns 1 and nothing then, so the caller scans; 0 on success, -1 on error. */
int store_text_search(store_t *store, const char *term, bool body_only, int64_t **ids_r,
		      size_t *count_r);

/* ---- remote queue ---- */
struct store_queue_entry {
	int64_t id;
	char msgid[33];
	char *sender;
	char *recipient;
	char *state;
	int attempts;
	int64_t created_at;
	int64_t size;
	int64_t next_attempt;
	char *last_error; /* NULL before the first attempt */
};
int store_queue_foreach(store_t *store, void (*cb)(const struct store_queue_entry *, void *),
			void *arg);
/* A row due for delivery, with what is needed to read its message. */
struct store_queue_item {
	int64_t id;
	struct store_message_ref ref; /* message_id, msgid, bytes; internal_date = received */
	char *sender, *recipient, *last_error;
	int attempts;
	int64_t created_at;
	bool delay_warned;
};
/* Rows whose next attempt is due at now (for one domain, or any if NULL), oldest
 * first, at most max. */
int store_queue_due(store_t *store, int64_t now, const char *domain, size_t max, struct store_queue_item **items_r,
		    size_t *n_r);
void store_queue_items_free(struct store_queue_item *items, size_t n);
/* Writer: a row delivered (or bounced: the report is stored in the same job) goes,
 * with its message if nothing else refers to it; a deferred one waits. */
int store_tx_queue_done(store_tx_t *tx, int64_t id, int64_t message_id);
int store_tx_queue_defer(store_tx_t *tx, int64_t id, int64_t next_attempt, const char *error);
int store_tx_queue_warned(store_tx_t *tx, int64_t id);
/* The administrator's (the CLI's) changes: 1 done, 0 no such row, -1 error.
 * id 0 reschedules every row. */
int store_queue_reschedule(store_t *store, int64_t id, int64_t when);
int store_queue_remove(store_t *store, int64_t id);

/* ---- transports: where mail for a domain goes instead of its MX ---- */
struct store_transport {
	char *domain; /* or "*": the smart host for every domain without its own */
	char *host;
	int port;
	char *tls; /* none, may, encrypt, verify */
	char *auth_user, *auth_password; /* NULL: no AUTH */
};
/* The transport for a domain (its own, else "*"): 1 found, 0 none, -1 error. */
int store_transport_find(store_t *store, const char *domain, struct store_transport *t);
int store_transport_foreach(store_t *store, void (*cb)(const struct store_transport *t, void *arg), void *arg);
int store_transport_set(store_t *store, const struct store_transport *t);
/* 1 removed, 0 there was none, -1 error. */
int store_transport_remove(store_t *store, const char *domain);
void store_transport_clear(struct store_transport *t);

/* ---- policy: settings over the parameter defaults, and named lists ---- */
/* value NULL removes the setting. */
int store_policy_set(store_t *store, const char *name, const char *value);
int store_policy_settings(store_t *store, void (*cb)(const char *name, const char *value, void *arg), void *arg);
/* 1 changed, 0 already so, -1 error. */
int store_policy_list_change(store_t *store, const char *list, const char *value, bool add);
/* 1 if value (case-insensitive) is on the list, 0 if not, -1 error. */
int store_policy_list_has(store_t *store, const char *list, const char *value);
/* Every value of a list; list NULL: every entry as "list<TAB>value". */
int store_policy_list(store_t *store, const char *list, void (*cb)(const char *value, void *arg), void *arg);

/* ---- the writer thread: group commit ---- */
/* A delivery: the stored bytes once, referenced from every mailbox and queue row. */
struct store_delivery {
	const char *bytes; /* exactly what is stored: our trace header + the message */
	size_t len;
	const char *msgid; /* stable server-wide id, 32 hex chars at most */
	int64_t message_id; /* set by store_tx_deliver: the row it made */
	const char *sender;
	const int64_t *user_ids; /* INBOX of each receives the message */
	size_t user_count;
	char *const *remote; /* addresses queued for remote delivery */
	size_t remote_count;
};
/* Job work runs on the writer thread inside the batch transaction. */
typedef int store_job_fn(store_tx_t *tx, void *arg);
/* Completion runs on the writer thread after the batch is durable (ok=1) or
 * failed (ok=0). It must be quick: post the result to your own thread. */
typedef void store_done_fn(void *arg, int ok);

int store_writer_start(const char *datadir, store_writer_t **w_r, char **err_r);
/* Finishes every queued job, then stops the thread. */
void store_writer_stop(store_writer_t **w);
void store_writer_submit(store_writer_t *w, store_job_fn *job, store_done_fn *done, void *arg);
/* Work nobody waits on (the full-text index): fn runs on the writer thread, in its
 * own transaction, after 100 ms without jobs, and again while it returns 1 (more
 * to do); 0 means done until new jobs come, -1 an error. */
typedef int store_idle_fn(store_tx_t *tx, void *arg);
void store_writer_set_idle(store_writer_t *w, store_idle_fn *fn, void *arg);

/* Job bodies, for use inside a store_job_fn. */
int store_tx_deliver(store_tx_t *tx, struct store_delivery *d);
/* Removes the given UIDs from a mailbox (POP3 DELE at QUIT, IMAP EXPUNGE); each
 * leaves a tombstone with the MODSEQ it went at. */
int store_tx_expunge(store_tx_t *tx, int64_t mailbox_id, const uint32_t *uids, size_t count);
/* UIDs expunged after MODSEQ since, ascending (QRESYNC). Caller frees. */
int store_mailbox_vanished(store_t *store, int64_t mailbox_id, uint64_t since, uint32_t **uids_r,
			   size_t *count_r);
/* Sets the flags of each UID (flags[i] for uids[i]); each change gets a new MODSEQ. */
int store_tx_set_flags(store_tx_t *tx, int64_t mailbox_id, const uint32_t *uids,
		       const unsigned *flags, size_t count);
#define STORE_KEYWORDS_MAX 64
/* The mailbox's keyword names by bit (NULL where unused); caller frees each. */
int store_mailbox_keywords(store_t *store, int64_t mailbox_id, char *names_r[STORE_KEYWORDS_MAX]);
/* A flag change as IMAP STORE means it: op '=' sets, '+' adds, '-' removes, from the
 * values stored now. Keywords are given by name and get bits as needed (-1 when a
 * mailbox would need more than 64). The results are written back per UID; a UID
 * no longer there gets flags_r[i] = ~0u. */
struct store_flag_change {
	char op;
	unsigned flags;
	const char *const *keywords;
	size_t keyword_count;
	uint64_t unchanged_since; /* CONDSTORE: skip (flags_r = ~0u - 1) newer ones; 0: no test */
};
int store_tx_change_flags(store_tx_t *tx, int64_t mailbox_id, const uint32_t *uids, size_t count,
			  const struct store_flag_change *change, unsigned *flags_r,
			  uint64_t *keywords_r, uint64_t *modseqs_r);
/* Stores a message straight into one mailbox (IMAP APPEND: not a transmission, so
 * not through the pipeline); *uid_r is its new UID. */
struct store_append {
	int64_t mailbox_id;
	const char *bytes;
	size_t len;
	const char *msgid;
	const char *sender;
	unsigned flags;
	int64_t internal_date;
	int64_t message_id; /* set by store_tx_append */
};
int store_tx_append(store_tx_t *tx, struct store_append *a, uint32_t *uid_r);
/* Mailbox management for IMAP. Names are stored as the client gave them (modified
 * UTF-7), '/' separating levels. A new mailbox gets a UIDVALIDITY above every
 * existing one, so a deleted and recreated name never reuses one. */
int store_tx_mailbox_create(store_tx_t *tx, int64_t owner_id, const char *name);
int store_tx_mailbox_delete(store_tx_t *tx, int64_t mailbox_id);
/* Renames a mailbox and everything below it. */
int store_tx_mailbox_rename(store_tx_t *tx, int64_t owner_id, const char *from, const char *to);
/* URLAUTH keys: gives a mailbox fresh_key unless it has one; forgets the key of
 * one mailbox, or of all the owner's (mailbox_id 0), so URLs made with it fail. */
int store_tx_urlauth_key_ensure(store_tx_t *tx, int64_t mailbox_id, const char *fresh_key);
int store_tx_urlauth_keys_reset(store_tx_t *tx, int64_t owner_id, int64_t mailbox_id);
int store_tx_mailbox_subscribe(store_tx_t *tx, int64_t mailbox_id, bool subscribed);
/* Copies messages (same stored bytes, flags and internal date; new UIDs, written to
 * dst_uids_r in order); with expunge_source it is a MOVE. */
int store_tx_copy(store_tx_t *tx, int64_t src_mailbox, const uint32_t *uids, size_t count,
		  int64_t dst_mailbox, bool expunge_source, uint32_t *dst_uids_r);

#endif
