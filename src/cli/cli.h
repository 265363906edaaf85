/* cli: the `sealpost` command and its subcommands, one file per noun. Each
 * cmd_<noun> returns the process exit status; errors print one line to stderr. */
#ifndef SEALPOST_CLI_H
#define SEALPOST_CLI_H

#include "lib/lib.h"
#include "store/store.h"

int cmd_init(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_alias(int argc, char **argv);
int cmd_group(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_transport(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_site(int argc, char **argv);
int cmd_domain(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Shared helpers (cli_common.c). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* --data, else $SEALPOST_DATA, else ./sealpost-data. */
const char *cli_data_dir(const char *opt);
/* Opens the store of an initialised data directory; prints the reason on failure. */
store_t *cli_open_store(const char *datadir);
/* Reads one line (the password) from standard input, without its newline. */
char *cli_read_password_stdin(void);
/* Loads DIR/sealpost.conf and applies its parameter settings. */
int cli_load_config(const char *datadir, struct config *cfg);
/* True if argv[1] asks for help. */
bool cli_wants_help(int argc, char **argv);
/* The shape of a command over the store: help, --data, the store opened, then
 * run(store, words) with the words after the options; run returns the exit
 * status, or 2 for a usage error (usage is printed). */
int cli_store_command(int argc, char **argv, const char *usage, int (*run)(store_t *store, int n, char **words));

/* Recipients, shared by user, alias and group (cli_recipient.c). */
struct cli_recipient_options {
	const char *data;
	const char *verb;
	const char *target; /* first operand: ADDRESS or DN */
	const char *second; /* second operand: an alias's TARGET */
	const char *name;
	const char *role;
	bool hidden;
	bool password_stdin;
	const char **members;
	size_t member_count;
};
/* Parses VERB [OPERAND [OPERAND]] and the options; returns 0 or -1 (usage). */
int cli_recipient_parse(int argc, char **argv, struct cli_recipient_options *o);
void cli_recipient_options_free(struct cli_recipient_options *o);
/* Fills local_part, domain, site and cn from ADDRESS, then adds r; prints errors. */
int cli_recipient_create(store_t *store, const char *address, struct store_recipient *r);
/* Finds ADDRESS or DN of the given kind; prints why not and returns -1. */
int cli_recipient_find(store_t *store, const char *which, enum store_rcpt_kind kind,
		       struct store_recipient *r);
/* Resolves an address or DN given on the command line to an address (caller frees). */
char *cli_address_of(store_t *store, const char *address_or_dn);
/* The shape shared by `user`, `alias` and `group`: help, options, the store, and
 * the verbs list|show|remove; any other verb goes to verb_fn, which returns an exit
 * status, or -2 when the words do not fit (usage is printed). */
typedef int cli_verb_fn(store_t *store, const struct cli_recipient_options *o);
int cli_recipient_command(int argc, char **argv, const char *usage, enum store_rcpt_kind kind,
			  cli_verb_fn *verb_fn);
/* --data as the only option; returns the index of the first operand or -1. */
int cli_parse_data_option(int argc, char **argv, const char **data_r);
int cli_recipient_list(store_t *store, enum store_rcpt_kind kind);
int cli_recipient_show(store_t *store, const char *which, enum store_rcpt_kind kind);
int cli_recipient_remove(store_t *store, const char *which, enum store_rcpt_kind kind);

#endif
