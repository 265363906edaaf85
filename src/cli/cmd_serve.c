/* cmd_serve: `sealpost serve`: opens the store and its writer, the TLS context and
 * every listener, prints "sealpost ready ..." once all are open, and runs the loop.
 * SIGTERM/SIGINT: stop accepting, let transactions in flight finish (up to
 * shutdown_grace seconds), then exit 0. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mime/mime.h"
#include "mta/mta.h"
#include "net/net.h"
#include "imap/imap.h"
#include "pop3/pop3.h"
#include "smtp/smtp.h"

static const char usage_text[] =
	"usage: sealpost serve [--data DIR] [--listen PROTO=HOST:PORT ...]\n"
	"PROTO is smtp, submission, smtps, pop3, pop3s, imap or imaps (IMAP: a first subset). Without --listen, the listen\n"
	"lines of DIR/sealpost.conf apply; with any --listen, only those given do.\n"
	"Prints 'sealpost ready ...' on stderr once every listener is open.\n";

struct server {
	net_loop_t *loop;
	store_t *store;
	store_writer_t *writer;
	net_tls_t *tls;
	mta_t *mta;
	net_dns_t *dns;
	smtp_queue_t *queue;
	smtp_server_t *smtp;
	pop3_server_t *pop3;
	imap_server_t *imap;
	net_timer_t *shutdown_timer;
	int64_t shutdown_deadline;
	bool stopping;
};

enum proto_kind { PROTO_SMTP_MX, PROTO_SMTP_SUBMISSION, PROTO_POP3, PROTO_IMAP };
static const struct {
	const char *name;
	enum proto_kind kind;
	bool implicit_tls;
} protocols[] = {
	{ "smtp", PROTO_SMTP_MX, false }, { "submission", PROTO_SMTP_SUBMISSION, false },
	{ "smtps", PROTO_SMTP_SUBMISSION, true }, { "pop3", PROTO_POP3, false },
	{ "pop3s", PROTO_POP3, true }, { "imap", PROTO_IMAP, false }, { "imaps", PROTO_IMAP, true },
};
static const char *const later_protocols[] = { "ldap", "http" };

static int listen_one(struct server *srv, const char *proto, const char *hostport, str_t *ready)
{
	char *host = NULL, *err = NULL;
	int port;

	for (size_t i = 0; i < sizeof(later_protocols) / sizeof(later_protocols[0]); i++)
		if (strcmp(proto, later_protocols[i]) == 0)
			return cli_error("protocol %s is not served by this version of sealpost", proto);
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++) {
		if (strcmp(proto, protocols[i].name) != 0)
			continue;
		if (net_parse_hostport(hostport, &host, &port) < 0)
			return cli_error("listen %s: '%s' is not HOST:PORT", proto, hostport);
		static net_accept_fn *const accept_fns[] = {
			[PROTO_SMTP_MX] = smtp_accept_mx, [PROTO_SMTP_SUBMISSION] = smtp_accept_submission,
			[PROTO_POP3] = pop3_accept, [PROTO_IMAP] = imap_accept,
		};
		void *const servers[] = {
			[PROTO_SMTP_MX] = srv->smtp, [PROTO_SMTP_SUBMISSION] = srv->smtp,
			[PROTO_POP3] = srv->pop3, [PROTO_IMAP] = srv->imap,
		};
		net_accept_fn *fn = accept_fns[protocols[i].kind];
		void *arg = servers[protocols[i].kind];
		int rc = net_listen(srv->loop, host, port, protocols[i].implicit_tls ? srv->tls : NULL,
				    fn, arg, &err);
		free(host);
		if (rc < 0) {
			cli_error("listen %s: %s", proto, err);
			free(err);
			return 1;
		}
		str_appendf(ready, " %s=%s", proto, hostport);
		return 0;
	}
	return cli_error("unknown protocol '%s'", proto);
}

/* "PROTO=HOST:PORT" from the command line or "PROTO HOST:PORT" from the file. */
static int listen_spec(struct server *srv, const char *spec, char sep, str_t *ready)
{
	const char *split = strchr(spec, sep);
	char *proto;
	int rc;

	if (split == NULL)
		return cli_error("listen '%s': expected PROTO%cHOST:PORT", spec, sep);
	proto = xstrndup(spec, (size_t)(split - spec));
	rc = listen_one(srv, str_trim(proto), split + 1 + strspn(split + 1, " "), ready);
	free(proto);
	return rc;
}

static void shutdown_poll(void *arg)
{
	struct server *srv = arg;
	size_t busy = smtp_server_session_count(srv->smtp) + pop3_server_session_count(srv->pop3) +
		      imap_server_session_count(srv->imap);

	if (busy > 0 && time_now_ms() >= srv->shutdown_deadline) {
		smtp_server_close_all(srv->smtp);
		pop3_server_shutdown(srv->pop3);
		imap_server_shutdown(srv->imap);
		busy = smtp_server_session_count(srv->smtp) + pop3_server_session_count(srv->pop3) +
		       imap_server_session_count(srv->imap);
	}
	/* Closing connections get a moment to flush their last reply. */
	if (busy == 0 && (net_conn_count(srv->loop) == 0 ||
			  time_now_ms() >= srv->shutdown_deadline + 2000)) {
		net_loop_exit(srv->loop);
		return;
	}
	net_timer_start(srv->shutdown_timer, 50); /* commits in flight end within ms */
}

static void on_terminate(void *arg)
{
	struct server *srv = arg;

	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info("serve: shutting down grace=%llds", param_get(P_SHUTDOWN_GRACE));
	net_listeners_close(srv->loop);
	smtp_queue_stop(srv->queue); /* rows in flight stay queued for the next start */
	smtp_server_shutdown(srv->smtp);
	pop3_server_shutdown(srv->pop3);
	imap_server_shutdown(srv->imap);
	srv->shutdown_deadline = time_now_ms() + param_get(P_SHUTDOWN_GRACE) * 1000;
	srv->shutdown_timer = net_timer_new(srv->loop, shutdown_poll, srv);
	shutdown_poll(srv);
}

static char *data_path(const char *datadir, const char *path)
{
	return path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", datadir, path);
}

static int server_open(struct server *srv, const char *datadir, const struct config *cfg)
{
	const char *hostname = config_get(cfg, "hostname");
	char *cert = data_path(datadir, config_get(cfg, "tls_cert") ? config_get(cfg, "tls_cert") : "tls/cert.pem");
	char *key = data_path(datadir, config_get(cfg, "tls_key") ? config_get(cfg, "tls_key") : "tls/key.pem");
	char *err = NULL;
	int rc = -1;

	mime_init();
	srv->loop = net_loop_new();
	if (store_open(datadir, &srv->store, &err) < 0 ||
	    store_writer_start(datadir, &srv->writer, &err) < 0 ||
	    (srv->tls = net_tls_server_new(cert, key, &err)) == NULL ||
	    (srv->dns = net_dns_new(srv->loop, config_get(cfg, "dns_servers"), &err)) == NULL) {
		cli_error("%s", err);
	} else {
		srv->mta = mta_new(srv->loop, srv->store, srv->writer, hostname ? hostname : "localhost");
		srv->queue = smtp_queue_new(srv->loop, srv->store, srv->writer, srv->mta, srv->dns,
					    hostname ? hostname : "localhost", &err);
		mta_set_dns(srv->mta, srv->dns);
		mta_policy_start(srv->mta);
		srv->smtp = smtp_server_new(srv->loop, srv->mta, srv->store, srv->tls);
		srv->pop3 = pop3_server_new(srv->loop, srv->store, srv->writer, srv->tls, srv->mta);
		srv->imap = imap_server_new(srv->loop, srv->store, srv->writer, srv->tls, srv->mta);
		store_writer_set_idle(srv->writer, mta_index_idle, NULL);
		rc = srv->queue != NULL ? 0 : cli_error("%s", err);
	}
	free(err);
	free(cert);
	free(key);
	return rc;
}

static void server_close(struct server *srv)
{
	if (srv->loop != NULL)
		net_listeners_close(srv->loop);
	if (srv->queue != NULL)
		smtp_queue_stop(srv->queue);
	net_dns_free(&srv->dns); /* lookups still pending end their clients and sessions now */
	smtp_server_free(&srv->smtp);
	pop3_server_free(&srv->pop3);
	imap_server_free(&srv->imap);
	store_writer_stop(&srv->writer); /* completions it posts run in net_loop_free */
	net_timer_free(&srv->shutdown_timer);
	if (srv->mta != NULL)
		mta_policy_stop(srv->mta); /* its timer belongs to the loop */
	net_loop_free(&srv->loop);
	smtp_queue_free(&srv->queue);
	mta_free(&srv->mta);
	net_tls_free(&srv->tls);
	store_close(&srv->store);
}

static int open_listeners(struct server *srv, const struct config *cfg, char **specs, size_t nspecs)
{
	str_t ready;
	int rc = 0;

	str_init(&ready);
	for (size_t i = 0; i < nspecs && rc == 0; i++)
		rc = listen_spec(srv, specs[i], '=', &ready);
	for (size_t i = 0; nspecs == 0 && i < cfg->count && rc == 0; i++)
		if (strcmp(cfg->entries[i].key, "listen") == 0)
			rc = listen_spec(srv, cfg->entries[i].value, ' ', &ready);
	if (rc == 0 && ready.len == 0)
		rc = cli_error("nothing to listen on");
	if (rc == 0) {
		fprintf(stderr, "sealpost ready%s\n", ready.data);
		fflush(stderr);
	}
	str_free(&ready);
	return rc;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data", required_argument, NULL, 'd' }, { "listen", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct server srv = { 0 };
	struct config cfg = { 0 };
	const char *data = NULL, *level = getenv("SEALPOST_LOG_LEVEL");
	char **specs = NULL;
	size_t nspecs = 0;
	int c, rc = 1;

	if (cli_wants_help(argc, argv))
		return fputs(usage_text, stdout), 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'd') {
			data = optarg;
		} else if (c == 'l') {
			specs = xrealloc(specs, (nspecs + 1) * sizeof(char *));
			specs[nspecs++] = optarg;
		} else {
			free(specs);
			return fputs(usage_text, stderr), 2;
		}
	}
	if (optind != argc) {
		free(specs);
		return fputs(usage_text, stderr), 2;
	}
	if (level != NULL && strcmp(level, "debug") == 0)
		log_set_level(LOG_DEBUG);
	data = cli_data_dir(data);
	if (cli_load_config(data, &cfg) == 0 && server_open(&srv, data, &cfg) == 0 &&
	    open_listeners(&srv, &cfg, specs, nspecs) == 0) {
		net_loop_on_signal(srv.loop, SIGTERM, on_terminate, &srv);
		net_loop_on_signal(srv.loop, SIGINT, on_terminate, &srv);
		net_loop_run(srv.loop);
		log_info("serve: stopped");
		rc = 0;
	}
	server_close(&srv);
	config_free(&cfg);
	free(specs);
	return rc;
}
