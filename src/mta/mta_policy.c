/* mta_policy: the administrator's controls against unsolicited mail and relaying.
 * Lists (networks, HELO names, addresses) are read from the store at each check,
 * so `sealpost policy add` applies to the next command; settings are read once a
 * second into the parameter table (over the values sealpost.conf gave). Counters
 * that need memory (messages per sender per hour, failed logins per address) live
 * here, in two small hash tables whose old entries are dropped as they expire.
 * Every refusal names the rule that matched in the log and in the reply. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mta_private.h"

#define COUNTER_BUCKETS 1024
#define COUNTERS_MAX 100000 /* per table: past it, new keys are not counted */

static const enum param_id settable[] = {
	P_MESSAGE_SIZE_MAX, P_RECIPIENTS_MAX, P_CONN_PER_IP_MAX, P_ERRORS_MAX, P_SENDER_HOURLY_MAX,
	P_TARPIT_AFTER, P_TARPIT_DELAY, P_AUTH_FAILURES_MAX, P_AUTH_LOCKOUT,
};
static const char *const list_names[] = {
	"relay_networks", "client_allow", "client_block", "helo_block", "sender_allow", "sender_block",
	"recipient_block", "dnsbl_zones", "tls_verify", "tls_encrypt", "tls_none",
};

bool mta_policy_setting_valid(const char *name)
{
	for (size_t i = 0; i < sizeof(settable) / sizeof(settable[0]); i++)
		if (strcmp(param_table[settable[i]].name, name) == 0)
			return true;
	return false;
}

bool mta_policy_list_valid(const char *name)
{
	for (size_t i = 0; i < sizeof(list_names) / sizeof(list_names[0]); i++)
		if (strcmp(list_names[i], name) == 0)
			return true;
	return false;
}

/* ---- settings, once a second ---- */

static void apply_setting(const char *name, const char *value, void *arg)
{
	const char *err;

	if (mta_policy_setting_valid(name) && param_set(name, value, &err) < 0)
		log_warnx("policy: setting ignored name=%s value=%s error=\"%s\"", name, value, err);
	(void)arg;
}

static void policy_reload(void *arg)
{
	mta_t *mta = arg;

	for (size_t i = 0; i < sizeof(settable) / sizeof(settable[0]); i++) {
		char base[32];
		const char *err;
		snprintf(base, sizeof(base), "%lld", mta->policy.base[i]);
		param_set(param_table[settable[i]].name, base, &err);
	}
	store_policy_settings(mta->store, apply_setting, NULL);
	net_timer_start(mta->policy.timer, 1000);
}

void mta_policy_stop(mta_t *mta)
{
	net_timer_free(&mta->policy.timer);
}

void mta_policy_start(mta_t *mta)
{
	for (size_t i = 0; i < sizeof(settable) / sizeof(settable[0]); i++)
		mta->policy.base[i] = param_get(settable[i]);
	mta->policy.timer = net_timer_new(mta->loop, policy_reload, mta);
	policy_reload(mta);
}

/* ---- matching ---- */

/* "192.0.2.0/24", "2001:db8::/32" or one address, against a client address. */
static bool cidr_match(const char *cidr, const char *ip)
{
	unsigned char net[16], addr[16];
	char text[64];
	const char *slash = strchr(cidr, '/');
	int family = strchr(cidr, ':') ? AF_INET6 : AF_INET, bits = family == AF_INET ? 32 : 128;

	snprintf(text, sizeof(text), "%.*s", slash ? (int)(slash - cidr) : (int)strlen(cidr), cidr);
	if (inet_pton(family, text, net) != 1 || inet_pton(family, ip, addr) != 1)
		return false;
	if (slash != NULL) {
		int b = atoi(slash + 1);
		if (b < 0 || b > bits)
			return false;
		bits = b;
	}
	for (int i = 0; i < bits / 8; i++)
		if (net[i] != addr[i])
			return false;
	return bits % 8 == 0 || ((net[bits / 8] ^ addr[bits / 8]) & (0xff << (8 - bits % 8))) == 0;
}

struct network_search {
	const char *ip;
	char matched[128];
};

static void network_check(const char *value, void *arg)
{
	struct network_search *n = arg;

	if (n->matched[0] == '\0' && cidr_match(value, n->ip))
		snprintf(n->matched, sizeof(n->matched), "%s", value);
}

/* The entry of a network list that holds ip, or "" (matched is 128 octets). */
static bool network_listed(mta_t *mta, const char *list, const char *ip, char *matched)
{
	struct network_search n = { ip, "" };

	store_policy_list(mta->store, list, network_check, &n);
	snprintf(matched, 128, "%s", n.matched);
	return n.matched[0] != '\0';
}

/* An address is listed as itself, as "@domain", or as "domain". */
static bool address_listed(mta_t *mta, const char *list, const char *address, char *matched)
{
	const char *at = strrchr(address, '@');
	const char *keys[3] = { address, at, at ? at + 1 : NULL };

	for (int i = 0; i < 3; i++)
		if (keys[i] != NULL && *keys[i] != '\0' && store_policy_list_has(mta->store, list, keys[i]) == 1) {
			snprintf(matched, 128, "%.127s", keys[i]);
			return true;
		}
	return false;
}

/* A HELO name is listed as itself, or under "*.domain" for any of its parents. */
static bool helo_listed(mta_t *mta, const char *helo, char *matched)
{
	char key[300];

	if (store_policy_list_has(mta->store, "helo_block", helo) == 1) {
		snprintf(matched, 128, "%.127s", helo);
		return true;
	}
	for (const char *dot = strchr(helo, '.'); dot != NULL; dot = strchr(dot + 1, '.')) {
		snprintf(key, sizeof(key), "*%s", dot);
		if (store_policy_list_has(mta->store, "helo_block", key) == 1) {
			snprintf(matched, 128, "%.127s", key);
			return true;
		}
	}
	return false;
}

static bool refuse(str_t *reply, const char *rule, const char *matched, const char *who, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static bool refuse(str_t *reply, const char *rule, const char *matched, const char *who, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	str_vappendf(reply, fmt, ap);
	va_end(ap);
	log_info("policy: refused rule=%s entry=%s %s reply=\"%s\"", rule, matched, who, reply->data);
	return true;
}

/* ---- the checks ---- */

bool mta_policy_client_allowed(mta_t *mta, const char *ip)
{
	char matched[128];

	return network_listed(mta, "client_allow", ip, matched);
}

bool mta_policy_client_refused(mta_t *mta, const char *ip, str_t *reply)
{
	char matched[128], who[96];

	snprintf(who, sizeof(who), "client=%s", ip);
	if (mta_policy_client_allowed(mta, ip) || !network_listed(mta, "client_block", ip, matched))
		return false;
	return refuse(reply, "client_block", matched, who,
		      "554 5.7.1 Client host [%s] refused by local policy (client_block %s)", ip, matched);
}

bool mta_policy_helo_refused(mta_t *mta, const char *ip, const char *helo, str_t *reply)
{
	char matched[128], who[96];

	snprintf(who, sizeof(who), "client=%s", ip);
	if (mta_policy_client_allowed(mta, ip) || !helo_listed(mta, helo, matched))
		return false;
	return refuse(reply, "helo_block", matched, who,
		      "550 5.7.1 <%.255s>: Helo command refused by local policy (helo_block %s)", helo, matched);
}

bool mta_policy_relay_allowed(mta_t *mta, const char *ip)
{
	char matched[128];

	return network_listed(mta, "relay_networks", ip, matched);
}

/* ---- counters: per sender per hour, failed logins per client ---- */

static unsigned long hash_key(const char *key)
{
	unsigned long h = 5381;

	for (; *key; key++)
		h = h * 33 + (unsigned char)(*key >= 'A' && *key <= 'Z' ? *key + 32 : *key);
	return h % COUNTER_BUCKETS;
}

/* The counter of key, its window restarted when older than window seconds;
 * NULL when the table is full. */
static struct mta_counter *counter_get(struct mta_counters *t, const char *key, int64_t window)
{
	int64_t now = (int64_t)time(NULL);
	struct mta_counter **link = &t->buckets[hash_key(key)], *c;

	while ((c = *link) != NULL) {
		if (now - c->since >= window) { /* expired: drop it as we pass */
			*link = c->next;
			free(c->key);
			free(c);
			t->count--;
			continue;
		}
		if (strcasecmp(c->key, key) == 0)
			return c;
		link = &c->next;
	}
	if (t->count >= COUNTERS_MAX)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->key = xstrdup(key);
	c->since = now;
	c->next = t->buckets[hash_key(key)];
	t->buckets[hash_key(key)] = c;
	t->count++;
	return c;
}

void mta_policy_counters_free(struct mta_counters *t)
{
	for (size_t i = 0; t->buckets != NULL && i < COUNTER_BUCKETS; i++) {
		struct mta_counter *c, *next;
		for (c = t->buckets[i]; c != NULL; c = next) {
			next = c->next;
			free(c->key);
			free(c);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static void counters_ready(struct mta_counters *t)
{
	if (t->buckets == NULL)
		t->buckets = xcalloc(COUNTER_BUCKETS, sizeof(*t->buckets));
}

bool mta_policy_sender_refused(mta_t *mta, const char *ip, const char *sender, str_t *reply)
{
	char matched[128], who[96];
	long long hourly = param_get(P_SENDER_HOURLY_MAX);
	struct mta_counter *c;

	snprintf(who, sizeof(who), "client=%s", ip);
	if (*sender != '\0' && !address_listed(mta, "sender_allow", sender, matched) &&
	    address_listed(mta, "sender_block", sender, matched))
		return refuse(reply, "sender_block", matched, who,
			      "550 5.7.1 <%s>: Sender address refused by local policy (sender_block %s)", sender,
			      matched);
	counters_ready(&mta->policy.senders);
	if (hourly > 0 && *sender != '\0' && (c = counter_get(&mta->policy.senders, sender, 3600)) != NULL &&
	    c->count >= hourly)
		return refuse(reply, "sender_hourly_max", sender, who,
			      "450 4.7.1 <%s>: Too many messages from this sender in the last hour (sender_hourly_max %lld)",
			      sender, hourly);
	return false;
}

void mta_policy_sender_counted(mta_t *mta, const char *sender)
{
	struct mta_counter *c;

	counters_ready(&mta->policy.senders);
	if (*sender != '\0' && param_get(P_SENDER_HOURLY_MAX) > 0 &&
	    (c = counter_get(&mta->policy.senders, sender, 3600)) != NULL)
		c->count++;
}

bool mta_policy_recipient_refused(mta_t *mta, const char *ip, const char *rcpt, str_t *reply)
{
	char matched[128], who[96];

	snprintf(who, sizeof(who), "client=%s", ip);
	if (!address_listed(mta, "recipient_block", rcpt, matched))
		return false;
	return refuse(reply, "recipient_block", matched, who,
		      "550 5.7.1 <%s>: Recipient address refused by local policy (recipient_block %s)", rcpt, matched);
}

bool mta_policy_auth_locked(mta_t *mta, const char *ip)
{
	struct mta_counter *c;

	counters_ready(&mta->policy.logins);
	c = counter_get(&mta->policy.logins, ip, param_get(P_AUTH_LOCKOUT));
	if (c == NULL || c->count < param_get(P_AUTH_FAILURES_MAX))
		return false;
	log_info("policy: refused rule=auth_failures_max entry=%lld client=%s", param_get(P_AUTH_FAILURES_MAX), ip);
	return true;
}

void mta_policy_auth_failed(mta_t *mta, const char *ip)
{
	struct mta_counter *c;

	counters_ready(&mta->policy.logins);
	if ((c = counter_get(&mta->policy.logins, ip, param_get(P_AUTH_LOCKOUT))) != NULL &&
	    ++c->count == param_get(P_AUTH_FAILURES_MAX))
		log_info("policy: locked out rule=auth_failures_max client=%s for=%llds", ip, param_get(P_AUTH_LOCKOUT));
}

/* ---- DNS block lists ---- */

struct dnsbl_check {
	char ip[64];
	int pending;
	char *listed_by;
	mta_dnsbl_fn *done;
	void *arg;
};

struct dnsbl_query {
	struct dnsbl_check *check;
	char *zone;
};

static void dnsbl_finish(struct dnsbl_check *d)
{
	if (--d->pending > 0)
		return;
	if (d->listed_by != NULL)
		log_info("policy: refused rule=dnsbl_zones entry=%s client=%s", d->listed_by, d->ip);
	d->done(d->arg, d->listed_by);
	free(d->listed_by);
	free(d);
}

static void dnsbl_answer(void *arg, enum net_dns_status status, const char *const *addrs, size_t n)
{
	struct dnsbl_query *q = arg;
	struct dnsbl_check *d = q->check;

	for (size_t i = 0; status == NET_DNS_OK && i < n && d->listed_by == NULL; i++)
		if (strncmp(addrs[i], "127.", 4) == 0) /* a listing; other answers are not */
			d->listed_by = xstrdup(q->zone);
	free(q->zone);
	free(q);
	dnsbl_finish(d);
}

struct zone_list {
	char **zones;
	size_t count;
};

static void zone_collect(const char *value, void *arg)
{
	struct zone_list *z = arg;

	z->zones = xrealloc(z->zones, (z->count + 1) * sizeof(char *));
	z->zones[z->count++] = xstrdup(value);
}

void mta_policy_dnsbl(mta_t *mta, const char *ip, mta_dnsbl_fn *done, void *arg)
{
	struct zone_list z = { 0 };
	unsigned char a[4];
	struct dnsbl_check *d;

	if (mta->dns == NULL || inet_pton(AF_INET, ip, a) != 1 || mta_policy_client_allowed(mta, ip) ||
	    store_policy_list(mta->store, "dnsbl_zones", zone_collect, &z) < 0 || z.count == 0) {
		free(z.zones);
		done(arg, NULL); /* IPv6 clients are not looked up: the lists in use are IPv4 */
		return;
	}
	d = xcalloc(1, sizeof(*d));
	snprintf(d->ip, sizeof(d->ip), "%s", ip);
	d->done = done;
	d->arg = arg;
	d->pending = (int)z.count + 1; /* + 1 until every query is out: answers may come at once */
	for (size_t i = 0; i < z.count; i++) {
		struct dnsbl_query *q = xcalloc(1, sizeof(*q));
		char *name = xasprintf("%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], z.zones[i]);
		q->check = d;
		q->zone = z.zones[i];
		net_dns_addrs(mta->dns, name, dnsbl_answer, q);
		free(name);
	}
	free(z.zones);
	dnsbl_finish(d);
}
