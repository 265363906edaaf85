/* mta: the one pipeline every message goes through, whatever brought it in:
 * accept (trace header, loop check) -> route (aliases, lists, duplicates, local vs
 * remote) -> deliver (local mailboxes and the remote queue in one durable commit).
 * The journal will sit between route and deliver. Runs on the event loop thread;
 * only the commit runs on the store's writer thread. */
#ifndef SEALPOST_MTA_H
#define SEALPOST_MTA_H

#include "lib/lib.h"
#include "net/net.h"
#include "store/store.h"

typedef struct mta mta_t;

mta_t *mta_new(net_loop_t *loop, store_t *store, store_writer_t *writer, const char *hostname);
void mta_free(mta_t **mta);
const char *mta_hostname(const mta_t *mta);

enum mta_rcpt_verdict {
	MTA_RCPT_LOCAL,    /* a local recipient that exists */
	MTA_RCPT_REMOTE,   /* another domain: relay, if the client may */
	MTA_RCPT_UNKNOWN,  /* a local domain, but nobody by that name */
	MTA_RCPT_TEMPFAIL, /* the directory could not be read */
	MTA_RCPT_FULL,     /* a user whose mailbox is over quota now: 452 4.2.2 */
	MTA_RCPT_TOO_BIG,  /* a message of the declared size can never fit: 552 5.2.2 */
};
/* size: what the client declared with SIZE=, or 0. */
enum mta_rcpt_verdict mta_check_recipient(mta_t *mta, const char *address, int64_t size);
/* 1 if the domain of ADDRESS is one of ours. */
bool mta_domain_is_local(mta_t *mta, const char *domain);

struct mta_envelope {
	const char *sender; /* "" for the null sender */
	char *const *recipients;
	size_t recipient_count;
	const char *helo;
	const char *client_ip;
	const char *auth_user; /* NULL if not authenticated */
	const char *protocol;  /* "ESMTP", "ESMTPS", "ESMTPSA", ... (RFC 3848) */
};

enum mta_result {
	MTA_OK,
	MTA_TEMPFAIL,  /* 451: try again later */
	MTA_LOOP,      /* 554 5.4.6: too many Received headers */
	MTA_NO_RCPT,   /* 554 5.5.1: nothing left to deliver to */
	MTA_QUOTA,     /* 552 5.2.2: every recipient's mailbox is too full for it */
};
typedef void mta_done_fn(void *arg, enum mta_result result, const char *msgid);

/* Submits a message (without our trace header). done runs later on the loop thread,
 * after the message is durable (MTA_OK) or has failed; never before mta_submit returns.
 * Local users whose quota cannot take it (members of a list: users addressed
 * directly were refused at RCPT) are left out, and the sender gets a DSN for them,
 * committed with the message. */
void mta_submit(mta_t *mta, const struct mta_envelope *env, const char *message, size_t len,
		mta_done_fn *done, void *arg);

/* Delivery status notifications (RFC 3464): who failed or is delayed, and why. */
struct mta_dsn_recipient {
	const char *address;
	const char *status;     /* enhanced status code, "5.2.2" */
	const char *diagnostic; /* the SMTP reply, "552 5.2.2 Mailbox full"; may be NULL */
	const char *remote_mta; /* the host that said so; NULL if it was us */
};
struct mta_dsn {
	const char *hostname;
	const char *sender; /* the original's envelope sender: the report goes there */
	const char *original; /* the message as stored; its header section is quoted */
	size_t original_len;
	const char *original_msgid, *arrival_date, *retry_until; /* may be NULL */
	bool delayed; /* a delay warning, not a failure */
	const struct mta_dsn_recipient *recipients;
	size_t count;
};
/* The whole report message (header and multipart/report body), appended to out. */
void mta_dsn_build(const struct mta_dsn *d, str_t *out);
/* A report ready to be stored: built, with our trace header, routed to the sender
 * (a local mailbox or the remote queue). Store it with store_tx_deliver inside the
 * writer job that changes the queue, so that both commit together. NULL when no
 * one can receive it (the null sender, or a local sender that does not exist). */
typedef struct mta_report mta_report_t;
mta_report_t *mta_report_new(mta_t *mta, const struct mta_dsn *d);
struct store_delivery *mta_report_delivery(mta_report_t *r);
void mta_report_free(mta_report_t **r);
/* ---- policy: the administrator's controls (sealpost policy), see mta_policy.c ---- */
/* Starts applying the policy settings (once a second, over today's parameters);
 * stop before the loop is freed (the timer belongs to it). */
void mta_policy_start(mta_t *mta);
void mta_policy_stop(mta_t *mta);
/* The resolver for DNS block lists. */
void mta_set_dns(mta_t *mta, net_dns_t *dns);
bool mta_policy_setting_valid(const char *name);
bool mta_policy_list_valid(const char *name);
/* Each *_refused check returns true with the reply (code, enhanced code, the rule)
 * appended to reply, and logs the rule that matched. */
bool mta_policy_client_allowed(mta_t *mta, const char *ip);
bool mta_policy_client_refused(mta_t *mta, const char *ip, str_t *reply);
bool mta_policy_helo_refused(mta_t *mta, const char *ip, const char *helo, str_t *reply);
bool mta_policy_sender_refused(mta_t *mta, const char *ip, const char *sender, str_t *reply);
bool mta_policy_recipient_refused(mta_t *mta, const char *ip, const char *rcpt, str_t *reply);
/* May this client relay without AUTH (relay_networks)? */
bool mta_policy_relay_allowed(mta_t *mta, const char *ip);
/* A message from sender was accepted (sender_hourly_max counts them). */
void mta_policy_sender_counted(mta_t *mta, const char *sender);
/* Failed logins per client address: locked out at auth_failures_max for auth_lockout. */
bool mta_policy_auth_locked(mta_t *mta, const char *ip);
void mta_policy_auth_failed(mta_t *mta, const char *ip);
/* DNS block lists (dnsbl_zones; IPv4 clients): done gets the zone that lists the
 * client, or NULL. It may run before the call returns. */
typedef void mta_dnsbl_fn(void *arg, const char *listed_by);
void mta_policy_dnsbl(mta_t *mta, const char *ip, mta_dnsbl_fn *done, void *arg);

/* Called after a commit that queued remote recipients (the queue runner's kick). */
void mta_set_queue_hook(mta_t *mta, void (*fn)(void *arg), void *arg);

/* The store writer's idle hook that fills the full-text index (store_writer_set_idle):
 * messages are indexed when the writer has had 100 ms without work, so indexing
 * never delays a delivery; SEARCH scans what is not indexed yet. */
int mta_index_idle(store_tx_t *tx, void *arg);

/* Number of Received header fields in the header section of a message. */
size_t mta_count_received(const char *message, size_t len);

#endif
