/* cmd_policy: `sealpost policy show|set|add|remove`: the controls against
 * unsolicited mail and relaying. Settings override sealpost.conf's values of a
 * few parameters; lists hold networks, HELO names and addresses. A running server
 * reads lists at each check and settings every second. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mta/mta.h"

static const char usage_text[] =
	"usage: sealpost policy show [--data DIR]\n"
	"       sealpost policy set KEY VALUE|default [--data DIR]\n"
	"       sealpost policy add|remove LIST VALUE [--data DIR]\n"
	"KEY: message_size_max, recipients_max, conn_per_ip_max, errors_max,\n"
	"     sender_hourly_max, tarpit_after, tarpit_delay, auth_failures_max, auth_lockout\n"
	"LIST: relay_networks, client_allow, client_block (networks: 192.0.2.0/24, 2001:db8::/32),\n"
	"      helo_block (a name, or *.domain), sender_allow, sender_block, recipient_block\n"
	"      (an address, @domain or domain), dnsbl_zones (zones such as zen.example.org),\n"
	"      tls_verify, tls_encrypt, tls_none (domains reached by MX: their TLS policy;\n"
	"      a transport names its own with --tls)\n";

static void print_setting(const char *name, const char *value, void *arg)
{
	printf("%s = %s\n", name, value);
	(void)arg;
}

static void print_entry(const char *entry, void *arg)
{
	printf("%s\n", entry);
	(void)arg;
}

static bool network_valid(const char *text)
{
	unsigned char buf[16];
	char addr[64];
	const char *slash = strchr(text, '/');
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;
	char *end;

	snprintf(addr, sizeof(addr), "%.*s", slash ? (int)(slash - text) : (int)strlen(text), text);
	if (inet_pton(family, addr, buf) != 1)
		return false;
	if (slash == NULL)
		return true;
	long bits = strtol(slash + 1, &end, 10);
	return *end == '\0' && end != slash + 1 && bits >= 0 && bits <= (family == AF_INET ? 32 : 128);
}

static bool value_valid(const char *list, const char *value)
{
	if (strcmp(list, "relay_networks") == 0 || strcmp(list, "client_allow") == 0 ||
	    strcmp(list, "client_block") == 0)
		return network_valid(value);
	if (*value == '\0' || strlen(value) > 255)
		return false;
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int run(store_t *store, int n, char **w)
{
	const char *err;

	if (strcmp(w[0], "show") == 0 && n == 1) {
		if (store_policy_settings(store, print_setting, NULL) < 0 || store_policy_list(store, NULL, print_entry, NULL) < 0)
			return cli_error("cannot read the policy");
		return 0;
	}
	if (strcmp(w[0], "set") == 0 && n == 3) {
		if (!mta_policy_setting_valid(w[1]))
			return cli_error("'%s' is not a policy setting", w[1]);
		if (strcmp(w[2], "default") != 0 && param_set(w[1], w[2], &err) < 0)
			return cli_error("%s: %s", w[1], err);
		if (store_policy_set(store, w[1], strcmp(w[2], "default") == 0 ? NULL : w[2]) < 0)
			return cli_error("cannot store the setting");
		return 0;
	}
	if ((strcmp(w[0], "add") == 0 || strcmp(w[0], "remove") == 0) && n == 3) {
		bool add = strcmp(w[0], "add") == 0;
		int rc;
		if (!mta_policy_list_valid(w[1]))
			return cli_error("'%s' is not a policy list", w[1]);
		if (add && !value_valid(w[1], w[2]))
			return cli_error("'%s' does not belong on %s", w[2], w[1]);
		if ((rc = store_policy_list_change(store, w[1], w[2], add)) < 0)
			return cli_error("cannot change the list");
		if (!add && rc == 0)
			return cli_error("%s does not hold '%s'", w[1], w[2]);
		return 0;
	}
	return 2;
}

int cmd_policy(int argc, char **argv)
{
	return cli_store_command(argc, argv, usage_text, run);
}
