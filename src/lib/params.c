/* params: the one table of bounded settings (Postfix's {name, default, min, max}).
 * Every size or count that the network can push on us is named here. Values are
 * process-wide and set once at start-up from sealpost.conf, before any thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib.h"

const struct param param_table[P_COUNT] = {
	[P_SMTP_LINE_MAX] = { "smtp_line_max", 1000, 512, 65536,
		"longest SMTP command line in octets, CRLF included (RFC 5321 4.5.3.1.4)" },
	[P_MESSAGE_SIZE_MAX] = { "message_size_max", 50LL * 1024 * 1024, 1024, 1LL << 31,
		"largest message accepted, in octets (announced with SIZE)" },
	[P_RECIPIENTS_MAX] = { "recipients_max", 1000, 1, 100000,
		"recipients per message; more get 452 4.5.3" },
	[P_ERRORS_MAX] = { "errors_max", 100, 1, 10000,
		"protocol errors per session before it is closed with 421" },
	[P_CONN_PER_IP_MAX] = { "conn_per_ip_max", 50, 1, 100000,
		"simultaneous connections from one client address" },
	[P_CONN_MAX] = { "conn_max", 2000, 1, 1000000,
		"simultaneous connections in all" },
	[P_SMTP_TIMEOUT] = { "smtp_timeout", 300, 1, 3600,
		"seconds an SMTP client may stay silent between commands" },
	[P_DATA_TIMEOUT] = { "data_timeout", 180, 1, 3600,
		"seconds an SMTP client may stay silent inside DATA" },
	[P_POP3_LINE_MAX] = { "pop3_line_max", 512, 255, 65536,
		"longest POP3 command line in octets (RFC 2449 allows 255)" },
	[P_POP3_TIMEOUT] = { "pop3_timeout", 600, 1, 3600,
		"seconds a POP3 client may stay silent (RFC 1939 wants at least 600)" },
	[P_GROUP_DEPTH_MAX] = { "group_depth_max", 20, 1, 100,
		"nesting depth of distribution lists and aliases" },
	[P_RECEIVED_MAX] = { "received_max", 100, 10, 1000,
		"Received headers after which a message is taken to be looping" },
	[P_AUTH_PLAINTEXT_ALLOWED] = { "auth_plaintext_allowed", 0, 0, 1,
		"1 lets clients authenticate before TLS (never on a public network)" },
	[P_SHUTDOWN_GRACE] = { "shutdown_grace", 10, 0, 600,
		"seconds SIGTERM waits for transactions in flight" },
	[P_QUOTA_DEFAULT] = { "quota_default", 2LL << 30, 0, 1LL << 50,
		"storage per user in octets unless the user has its own; 0 = unlimited" },
	[P_QUEUE_LIFETIME] = { "queue_lifetime", 5LL * 24 * 3600, 1, 30LL * 24 * 3600,
		"seconds a message may wait in the queue before it is returned to its sender" },
	[P_QUEUE_RETRY_MIN] = { "queue_retry_min", 300, 1, 86400,
		"seconds before the first retry; each later one waits twice as long" },
	[P_QUEUE_RETRY_MAX] = { "queue_retry_max", 4000, 1, 86400,
		"longest wait between two attempts, in seconds" },
	[P_DELAY_WARNING] = { "delay_warning", 4 * 3600, 0, 30LL * 24 * 3600,
		"seconds in the queue after which the sender is told of the delay; 0 = never" },
	[P_SMTP_CLIENT_MAX] = { "smtp_client_max", 100, 1, 10000,
		"simultaneous outbound SMTP connections in all" },
	[P_SMTP_CLIENT_PER_DESTINATION] = { "smtp_client_per_destination", 20, 1, 1000,
		"simultaneous outbound SMTP connections to one destination domain" },
	[P_SMTP_CLIENT_BATCH] = { "smtp_client_batch", 50, 1, 10000,
		"messages one outbound connection carries before it is closed" },
	[P_SMTP_CLIENT_PORT] = { "smtp_client_port", 25, 1, 65535,
		"port of the servers an MX lookup finds (transports name their own)" },
	[P_SMTP_CLIENT_TIMEOUT] = { "smtp_client_timeout", 300, 1, 3600,
		"seconds to wait for a remote server's connection or reply" },
	[P_SENDER_HOURLY_MAX] = { "sender_hourly_max", 0, 0, 1000000,
		"messages one sender address may send in an hour; 0 = no limit" },
	[P_TARPIT_AFTER] = { "tarpit_after", 10, 0, 10000,
		"protocol errors in a session before each further one is answered slowly" },
	[P_TARPIT_DELAY] = { "tarpit_delay", 1000, 0, 60000,
		"milliseconds added per error past tarpit_after (at most 30 s)" },
	[P_AUTH_FAILURES_MAX] = { "auth_failures_max", 10, 1, 100000,
		"failed logins from one address before it is locked out" },
	[P_AUTH_LOCKOUT] = { "auth_lockout", 600, 1, 86400,
		"seconds an address stays locked out after too many failed logins" },
};

/* Read by every thread; written at start-up and by the settings the administrator
 * changes while serving: plain atomic loads and stores. */
static long long param_values[P_COUNT];
static bool param_loaded;

void param_reset_defaults(void)
{
	for (int i = 0; i < P_COUNT; i++)
		__atomic_store_n(&param_values[i], param_table[i].def, __ATOMIC_RELAXED);
	param_loaded = true;
}

long long param_get(enum param_id id)
{
	if (!param_loaded)
		param_reset_defaults();
	return __atomic_load_n(&param_values[id], __ATOMIC_RELAXED);
}

int param_set(const char *name, const char *value, const char **err_r)
{
	char *end;
	long long v;

	if (!param_loaded)
		param_reset_defaults();
	for (int i = 0; i < P_COUNT; i++) {
		if (strcmp(param_table[i].name, name) != 0)
			continue;
		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0') {
			*err_r = "not a whole number";
			return -1;
		}
		if (v < param_table[i].min || v > param_table[i].max) {
			*err_r = "out of range";
			return -1;
		}
		__atomic_store_n(&param_values[i], v, __ATOMIC_RELAXED);
		return 0;
	}
	*err_r = "unknown parameter";
	return -1;
}

void param_print(str_t *out)
{
	for (int i = 0; i < P_COUNT; i++)
		str_appendf(out, "%s = %lld\t# %s [%lld..%lld]\n", param_table[i].name,
			    param_get((enum param_id)i), param_table[i].help,
			    param_table[i].min, param_table[i].max);
}
