/* mta: the pipeline. Stages run in order for every message: accept (loop check,
 * trace header), route (expand every recipient once, split local and remote),
 * deliver (one writer job: blob once, INBOX rows, queue rows). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "directory/directory.h"
#include "mime/mime.h"
#include "mta_private.h"


struct mta_job {
	mta_t *mta;
	str_t bytes;
	char msgid[33];
	char *sender;
	struct directory_expansion route;
	struct store_delivery delivery;
	mta_report_t *report; /* to the sender, about users over quota: same commit */
	enum mta_result result;
	mta_done_fn *done;
	void *arg;
};

mta_t *mta_new(net_loop_t *loop, store_t *store, store_writer_t *writer, const char *hostname)
{
	mta_t *mta = xcalloc(1, sizeof(*mta));

	mta->loop = loop;
	mta->store = store;
	mta->writer = writer;
	mta->hostname = xstrdup(hostname);
	return mta;
}

void mta_free(mta_t **mta)
{
	if (*mta == NULL)
		return;
	mta_policy_stop(*mta);
	mta_policy_counters_free(&(*mta)->policy.senders);
	mta_policy_counters_free(&(*mta)->policy.logins);
	free((*mta)->hostname);
	x_free(mta);
}

void mta_set_dns(mta_t *mta, net_dns_t *dns)
{
	mta->dns = dns;
}

void mta_set_queue_hook(mta_t *mta, void (*fn)(void *arg), void *arg)
{
	mta->queue_hook = fn;
	mta->queue_hook_arg = arg;
}

const char *mta_hostname(const mta_t *mta)
{
	return mta->hostname;
}

bool mta_domain_is_local(mta_t *mta, const char *domain)
{
	return store_domain_is_local(mta->store, domain) == 1;
}

/* A user addressed directly is refused at RCPT when over quota; members of a list
 * are checked when the message is routed (filter_over_quota) and bounced with a DSN. */
static enum mta_rcpt_verdict check_quota(mta_t *mta, const char *address, int64_t size)
{
	struct store_recipient r = { 0 };
	enum mta_rcpt_verdict v = MTA_RCPT_LOCAL;

	if (directory_resolve(mta->store, address, &r) == 1) {
		switch (directory_quota_check(mta->store, &r, size)) {
		case DIRECTORY_QUOTA_FULL: v = MTA_RCPT_FULL; break;
		case DIRECTORY_QUOTA_TOO_BIG: v = MTA_RCPT_TOO_BIG; break;
		case DIRECTORY_QUOTA_OK: break;
		}
	}
	store_recipient_clear(&r);
	return v;
}

enum mta_rcpt_verdict mta_check_recipient(mta_t *mta, const char *address, int64_t size)
{
	struct directory_expansion exp = { 0 };
	char *local, *domain;
	int local_domain;
	enum directory_expand_result r;

	if (directory_address_split(address, &local, &domain) < 0)
		return MTA_RCPT_UNKNOWN;
	local_domain = store_domain_is_local(mta->store, domain);
	free(local);
	free(domain);
	if (local_domain < 0)
		return MTA_RCPT_TEMPFAIL;
	if (local_domain == 0)
		return MTA_RCPT_REMOTE;
	r = directory_expand(mta->store, address, &exp);
	directory_expansion_free(&exp);
	switch (r) {
	case DIRECTORY_EXPAND_OK:
		return check_quota(mta, address, size);
	case DIRECTORY_EXPAND_UNKNOWN:
		return MTA_RCPT_UNKNOWN;
	default:
		return MTA_RCPT_TEMPFAIL;
	}
}

size_t mta_count_received(const char *message, size_t len)
{
	size_t count = 0, pos = 0;

	while (pos < len) {
		const char *line = message + pos;
		const char *eol = memchr(line, '\n', len - pos);
		size_t linelen = eol ? (size_t)(eol - line) + 1 : len - pos;
		if (line[0] == '\r' || line[0] == '\n')
			break; /* end of the header section */
		if (linelen >= 9 && strncasecmp(line, "Received:", 9) == 0)
			count++;
		pos += linelen;
	}
	return count;
}

/* The client's words in our header: printable ASCII (and UTF-8 octets where the
 * text was checked as an RFC 6531 address), bounded; anything else becomes '_'. */
static void append_sanitised(str_t *out, const char *text, size_t max, bool utf8)
{
	for (size_t i = 0; text[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)text[i];
		bool ok = (c > 0x20 && c < 0x7f && c != '(' && c != ')') || (utf8 && c >= 0x80);
		str_append(out, ok ? &text[i] : "_", 1);
	}
}

static void trace_header(mta_t *mta, const struct mta_envelope *env, const char *msgid, str_t *out)
{
	char date[64];

	time_rfc5322(date, sizeof(date));
	str_append_cstr(out, "Received: from ");
	append_sanitised(out, env->helo && *env->helo ? env->helo : "unknown", 255, false);
	str_appendf(out, " ([%s])\r\n\tby %s (Sealpost) with %s id %s\r\n\t(envelope-from <",
		    env->client_ip, mta->hostname, env->protocol, msgid);
	append_sanitised(out, env->sender, 256, true); /* checked by the protocol */
	str_appendf(out, ">);\r\n\t%s\r\n", date);
}

/* Route: every recipient expanded once into one set of owners and remote addresses. */
static enum mta_result route(mta_t *mta, const struct mta_envelope *env, struct directory_expansion *out)
{
	for (size_t i = 0; i < env->recipient_count; i++) {
		enum directory_expand_result r = directory_expand(mta->store, env->recipients[i], out);
		if (r == DIRECTORY_EXPAND_ERROR || r == DIRECTORY_EXPAND_TOO_DEEP)
			return MTA_TEMPFAIL;
		if (r == DIRECTORY_EXPAND_UNKNOWN)
			log_warnx("mta: recipient vanished since RCPT address=%s", env->recipients[i]);
	}
	return out->user_count + out->remote_count > 0 ? MTA_OK : MTA_NO_RCPT;
}

struct mta_report {
	str_t bytes;
	char msgid[33];
	struct directory_expansion route;
	struct store_delivery delivery;
};

mta_report_t *mta_report_new(mta_t *mta, const struct mta_dsn *d)
{
	const struct mta_envelope report_env = { .sender = "", .helo = mta->hostname,
						 .client_ip = "127.0.0.1", .protocol = "LOCAL" };
	mta_report_t *r = xcalloc(1, sizeof(*r));

	if (d->sender[0] == '\0' || directory_expand(mta->store, d->sender, &r->route) != DIRECTORY_EXPAND_OK ||
	    r->route.user_count + r->route.remote_count == 0) {
		log_warnx("mta: no report possible msgid=%s sender=<%s>", d->original_msgid ? d->original_msgid : "",
			  d->sender);
		mta_report_free(&r);
		return NULL;
	}
	id_random_hex(r->msgid, 16);
	str_init(&r->bytes);
	trace_header(mta, &report_env, r->msgid, &r->bytes);
	mta_dsn_build(d, &r->bytes);
	r->delivery = (struct store_delivery){
		.bytes = r->bytes.data, .len = r->bytes.len, .msgid = r->msgid, .sender = "",
		.user_ids = r->route.users, .user_count = r->route.user_count,
		.remote = r->route.remote, .remote_count = r->route.remote_count,
	};
	log_info("mta: report msgid=%s about=%s to=<%s> %s", r->msgid, d->original_msgid ? d->original_msgid : "",
		 d->sender, d->delayed ? "delayed" : "failed");
	return r;
}

struct store_delivery *mta_report_delivery(mta_report_t *r)
{
	return &r->delivery;
}

void mta_report_free(mta_report_t **r)
{
	if (*r == NULL)
		return;
	str_free(&(*r)->bytes);
	directory_expansion_free(&(*r)->route);
	x_free(r);
}

/* Leaves out the users whose quota cannot take the message, and reports them to
 * the sender. MTA_QUOTA if nobody is left: then the client hears 552 instead. */
static enum mta_result filter_over_quota(mta_t *mta, const struct mta_envelope *env, const char *message,
					 size_t len, struct mta_job *job)
{
	struct directory_expansion *route = &job->route;
	struct mta_dsn_recipient *failed = xcalloc(route->user_count + 1, sizeof(*failed));
	char **addresses = xcalloc(route->user_count + 1, sizeof(char *));
	size_t kept = 0, n = 0;
	enum mta_result result = MTA_OK;

	for (size_t i = 0; i < route->user_count; i++) {
		struct store_recipient r = { 0 };
		enum directory_quota_check q = DIRECTORY_QUOTA_OK;
		if (store_recipient_by_id(mta->store, route->users[i], &r) == 1)
			q = directory_quota_check(mta->store, &r, (int64_t)len + 1024); /* + our trace header */
		if (q == DIRECTORY_QUOTA_OK) {
			route->users[kept++] = route->users[i];
		} else {
			addresses[n] = directory_address_of(&r);
			failed[n] = (struct mta_dsn_recipient){
				addresses[n], q == DIRECTORY_QUOTA_FULL ? "5.2.2" : "5.2.3",
				q == DIRECTORY_QUOTA_FULL ? "552 5.2.2 Mailbox full"
							  : "552 5.2.3 Message larger than the mailbox's quota", NULL };
			log_info("mta: over quota msgid=%s recipient=%s", job->msgid, addresses[n]);
			n++;
		}
		store_recipient_clear(&r);
	}
	route->user_count = kept;
	if (n > 0 && kept + route->remote_count == 0)
		result = MTA_QUOTA;
	else if (n > 0)
		job->report = mta_report_new(mta, &(struct mta_dsn){
			.hostname = mta->hostname, .sender = env->sender, .original = message, .original_len = len,
			.original_msgid = job->msgid, .recipients = failed, .count = n });
	for (size_t i = 0; i < n; i++)
		free(addresses[i]);
	free(addresses);
	free(failed);
	return result;
}

#define INDEX_SLICE 8

/* The writer's idle hook: the searchable text of a few messages not yet indexed.
 * A message that cannot be read is indexed empty, so it is not retried forever. */
int mta_index_idle(store_tx_t *tx, void *arg)
{
	int64_t ids[INDEX_SLICE];
	int n = store_tx_unindexed(tx, ids, INDEX_SLICE);
	str_t bytes, headers, body;
	int rc = 0;

	if (n <= 0)
		return n;
	str_init(&bytes), str_init(&headers), str_init(&body);
	for (int i = 0; i < n && rc == 0; i++) {
		str_clear(&headers), str_clear(&body);
		if (store_tx_message_bytes(tx, ids[i], &bytes) == 0)
			mime_extract_text(bytes.data, bytes.len, &headers, &body);
		else
			str_append(&headers, "", 0), str_append(&body, "", 0);
		rc = store_tx_index_text(tx, ids[i], headers.data, body.data);
	}
	str_free(&bytes), str_free(&headers), str_free(&body);
	return rc < 0 ? -1 : n == INDEX_SLICE;
}

static void job_free(struct mta_job *job)
{
	str_free(&job->bytes);
	mta_report_free(&job->report);
	free(job->sender);
	directory_expansion_free(&job->route);
	free(job);
}

static void job_finish(void *arg)
{
	struct mta_job *job = arg;

	if (job->result == MTA_OK) {
		log_info("mta: delivered msgid=%s size=%zu local=%zu remote=%zu", job->msgid,
			 job->bytes.len, job->route.user_count, job->route.remote_count);
		if (job->mta->queue_hook != NULL &&
		    (job->route.remote_count > 0 || (job->report && mta_report_delivery(job->report)->remote_count > 0)))
			job->mta->queue_hook(job->mta->queue_hook_arg);
	}
	job->done(job->arg, job->result, job->msgid);
	job_free(job);
}

static int job_deliver(store_tx_t *tx, void *arg)
{
	struct mta_job *job = arg;

	if (store_tx_deliver(tx, &job->delivery) < 0)
		return -1;
	return job->report ? store_tx_deliver(tx, mta_report_delivery(job->report)) : 0;
}

/* Runs on the writer thread: hand the outcome back to the loop. */
static void job_committed(void *arg, int ok)
{
	struct mta_job *job = arg;

	if (!ok)
		job->result = MTA_TEMPFAIL;
	net_loop_post(job->mta->loop, job_finish, job);
}

void mta_submit(mta_t *mta, const struct mta_envelope *env, const char *message, size_t len,
		mta_done_fn *done, void *arg)
{
	struct mta_job *job = xcalloc(1, sizeof(*job));

	job->mta = mta;
	job->done = done;
	job->arg = arg;
	job->sender = xstrdup(env->sender);
	str_init(&job->bytes);
	id_random_hex(job->msgid, 16);
	if (mta_count_received(message, len) >= (size_t)param_get(P_RECEIVED_MAX))
		job->result = MTA_LOOP;
	else
		job->result = route(mta, env, &job->route);
	if (job->result == MTA_OK)
		job->result = filter_over_quota(mta, env, message, len, job);
	if (job->result != MTA_OK) {
		net_loop_post(mta->loop, job_finish, job);
		return;
	}
	trace_header(mta, env, job->msgid, &job->bytes);
	str_append(&job->bytes, message, len);
	job->delivery = (struct store_delivery){
		.bytes = job->bytes.data, .len = job->bytes.len, .msgid = job->msgid,
		.sender = job->sender, .user_ids = job->route.users,
		.user_count = job->route.user_count, .remote = job->route.remote,
		.remote_count = job->route.remote_count,
	};
	store_writer_submit(mta->writer, job_deliver, job_committed, job);
}
