/* cli_common: what every subcommand needs: errors, the data directory, the store,
 * passwords from stdin, and the configuration file. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sealpost: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

const char *cli_data_dir(const char *opt)
{
	const char *env = getenv("SEALPOST_DATA");

	if (opt != NULL)
		return opt;
	if (env != NULL && *env != '\0')
		return env;
	return "./sealpost-data";
}

store_t *cli_open_store(const char *datadir)
{
	char *conf = xasprintf("%s/sealpost.conf", datadir);
	char *err = NULL;
	store_t *store = NULL;
	bool initialised = fs_exists(conf);

	free(conf);
	if (!initialised) {
		cli_error("%s is not a Sealpost data directory (run: sealpost init --data %s --domain DOMAIN)",
			  datadir, datadir);
		return NULL;
	}
	if (store_open(datadir, &store, &err) < 0) {
		cli_error("%s", err);
		free(err);
		return NULL;
	}
	return store;
}

char *cli_read_password_stdin(void)
{
	char buf[1024];
	size_t len;

	if (fgets(buf, sizeof(buf), stdin) == NULL)
		return NULL;
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len == 0)
		return NULL;
	return xstrdup(buf);
}

int cli_load_config(const char *datadir, struct config *cfg)
{
	char *path = xasprintf("%s/sealpost.conf", datadir);
	char *err = NULL;
	const char *perr;
	int rc = config_load(path, cfg, &err);

	free(path);
	if (rc < 0) {
		cli_error("sealpost.conf: %s", err);
		free(err);
		return -1;
	}
	param_reset_defaults();
	for (size_t i = 0; i < cfg->count; i++) {
		const struct config_entry *e = &cfg->entries[i];
		if (strcmp(e->key, "listen") == 0 || strcmp(e->key, "hostname") == 0 ||
		    strncmp(e->key, "tls_", 4) == 0 || strcmp(e->key, "dns_servers") == 0)
			continue;
		if (param_set(e->key, e->value, &perr) < 0) {
			cli_error("sealpost.conf: %s = %s: %s", e->key, e->value, perr);
			config_free(cfg);
			return -1;
		}
	}
	return 0;
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int cli_parse_data_option(int argc, char **argv, const char **data_r)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'd')
			return -1;
		*data_r = optarg;
	}
	return optind;
}

int cli_store_command(int argc, char **argv, const char *usage, int (*run)(store_t *store, int n, char **words))
{
	const char *data = NULL;
	store_t *store;
	int c, rc;

	if (cli_wants_help(argc, argv))
		return fputs(usage, stdout), 0;
	c = cli_parse_data_option(argc, argv, &data);
	if (c < 0 || c >= argc)
		return fputs(usage, stderr), 2;
	if ((store = cli_open_store(cli_data_dir(data))) == NULL)
		return 1;
	rc = run(store, argc - c, argv + c);
	store_close(&store);
	if (rc == 2)
		fputs(usage, stderr);
	return rc;
}
