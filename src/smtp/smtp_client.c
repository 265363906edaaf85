/* smtp_client: one outbound SMTP connection (RFC 5321) carrying a batch of
 * messages for one domain: route (transport table, else MX with the A/AAAA
 * fallback), connect to each address in turn, EHLO, STARTTLS by the destination's
 * policy (none, may, encrypt, verify), AUTH PLAIN for a smart host, then per
 * message MAIL, RCPT..., DATA (pipelined when offered) and the body streamed from
 * the store with dot-stuffing as the output drains. Each message's outcome goes
 * to the queue runner at once; whatever is left when the connection fails is
 * deferred. A message that needs 8BITMIME or SMTPUTF8 the server lacks is never
 * altered: it is returned to its sender. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mime/mime.h"
#include "smtp_private.h"

#define REPLY_LINE_MAX 1024
#define REPLY_LINES_MAX 100
#define BODY_CHUNK (64 * 1024)
#define OUTPUT_HIGH (256 * 1024)

enum tls_policy { TLS_NONE, TLS_MAY, TLS_ENCRYPT, TLS_VERIFY };
enum client_state {
	C_ROUTE, C_CONNECT, C_GREETING, C_EHLO, C_HELO, C_STARTTLS, C_AUTH,
	C_MAIL, C_RCPT, C_DATA, C_BODY, C_DOT, C_RSET, C_QUIT,
};

struct smtp_client {
	struct smtp_queue *q;
	char *domain;
	struct store_queue_item *items;
	size_t n, msg, msg_end; /* the current message is items[msg .. msg_end) */
	struct smtp_result *results; /* one per item of the current message */
	/* where to go */
	struct store_transport transport;
	enum tls_policy tls_policy;
	char **hosts;
	int *ports;
	size_t host_count, host_next;
	char **addrs;
	size_t addr_count, addr_next;
	char *host; /* the name we are talking to */
	char *peer; /* "host[ip]" for reports and logs */
	char *last_error;
	bool tls_fallback; /* a "may" handshake failed with this address: go on in the clear */
	/* the connection */
	conn_t *conn;
	enum client_state state;
	str_t line, reply;
	int reply_code, reply_lines;
	bool pipelining, eightbit, smtputf8, starttls, auth_plain, tls_active, authenticated;
	long long size_max;
	/* the transaction */
	size_t rcpt_sent, rcpt_replied, accepted;
	bool refused; /* MAIL or DATA was refused: the results are set */
	uint64_t body_off;
	bool body_bol;
	str_t converted; /* the message made 7-bit for this server, if it had to be */
	bool finished; /* freed soon (on a later turn of the loop): touch nothing */
	LIST_ENTRY(smtp_client) entry;
};

static void client_next_address(struct smtp_client *c);
static void client_finish(struct smtp_client *c);

/* ---- results ---- */

/* "550 5.1.1 text": the enhanced code of a reply (RFC 3463: class.subject.detail,
 * its class that of the reply), or one made from the reply's class. */
static void status_of_reply(int code, const char *reply, char status[16])
{
	const char *p = strlen(reply) > 4 ? reply + 4 : "";
	size_t len = strspn(p, "0123456789.");
	int dots = 0;

	for (size_t i = 0; i < len; i++)
		dots += p[i] == '.';
	if (len >= 5 && len < 16 && dots == 2 && p[0] - '0' == code / 100 && p[1] == '.' && p[len - 1] != '.')
		snprintf(status, 16, "%.*s", (int)len, p);
	else
		snprintf(status, 16, "%d.0.0", code / 100);
}

static void result_set(struct smtp_result *r, enum smtp_verdict v, const char *status, const char *text,
		       const char *remote)
{
	free(r->text);
	free(r->remote);
	r->verdict = v;
	snprintf(r->status, sizeof(r->status), "%s", status);
	r->text = xstrdup(text);
	r->remote = remote ? xstrdup(remote) : NULL;
}

/* Every recipient of the current message not yet settled gets this result. */
static void results_set_open(struct smtp_client *c, enum smtp_verdict v, const char *status, const char *text,
			     bool only_accepted)
{
	for (size_t i = 0; i < c->msg_end - c->msg; i++)
		if (c->results[i].text == NULL || (only_accepted && c->results[i].verdict == SMTP_DONE))
			result_set(&c->results[i], v, status, text, c->peer);
}

/* From a reply: 2xx done, 4xx deferred, 5xx failed. */
static enum smtp_verdict verdict_of(int code)
{
	return code < 400 ? SMTP_DONE : code < 500 ? SMTP_DEFER : SMTP_FAIL;
}

/* Hands the current message's outcome to the queue and moves to the next one. */
static void message_report(struct smtp_client *c)
{
	size_t count = c->msg_end - c->msg;
	struct store_queue_item *moved = xcalloc(count, sizeof(*moved));

	for (size_t i = 0; i < count; i++) {
		moved[i] = c->items[c->msg + i];
		memset(&c->items[c->msg + i], 0, sizeof(c->items[0]));
		if (c->results[i].text == NULL)
			result_set(&c->results[i], SMTP_DEFER, "4.4.1", c->last_error ? c->last_error : "not attempted",
				   c->peer);
	}
	smtp_queue_outcome(c->q, moved, count, c->results);
	for (size_t i = 0; i < count; i++)
		free(c->results[i].text), free(c->results[i].remote);
	free(c->results);
	c->results = NULL;
	c->msg = c->msg_end;
}

/* Makes the message at c->msg current: its rows, and empty results for them. */
static void message_open(struct smtp_client *c)
{
	c->msg_end = c->msg + 1;
	while (c->msg_end < c->n && c->items[c->msg_end].ref.message_id == c->items[c->msg].ref.message_id)
		c->msg_end++;
	c->results = xcalloc(c->msg_end - c->msg, sizeof(*c->results));
}

/* Ends every message left, the current one included, with one result. */
static void settle_all(struct smtp_client *c, enum smtp_verdict v, const char *status, const char *text)
{
	while (c->msg < c->n) {
		if (c->results == NULL)
			message_open(c);
		results_set_open(c, v, status, text, false);
		message_report(c);
	}
}

static void set_error(struct smtp_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;
	str_t s;

	str_init(&s);
	va_start(ap, fmt);
	str_vappendf(&s, fmt, ap);
	va_end(ap);
	free(c->last_error);
	c->last_error = str_steal(&s);
}

/* ---- talking ---- */

static void send_line(struct smtp_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_line(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;
	str_t s;

	str_init(&s);
	va_start(ap, fmt);
	str_vappendf(&s, fmt, ap);
	va_end(ap);
	str_append(&s, "\r\n", 2);
	conn_write(c->conn, s.data, s.len);
	str_free(&s);
}

static bool needs_utf8(const struct smtp_client *c)
{
	for (size_t i = c->msg; i < c->msg_end; i++)
		for (const char *p = c->items[i].recipient; *p; p++)
			if ((unsigned char)*p >= 0x80)
				return true;
	for (const char *p = c->items[c->msg].sender; *p; p++)
		if ((unsigned char)*p >= 0x80)
			return true;
	return false;
}

/* Any octet above 127 in the stored message? (It is read once more to send it.) */
static bool needs_8bit(struct smtp_client *c, const struct store_message_ref *ref)
{
	char buf[BODY_CHUNK];

	for (uint64_t off = 0; off < (uint64_t)ref->size;) {
		ssize_t got = store_message_read(c->q->store, ref, off, buf, sizeof(buf));
		if (got <= 0)
			return false; /* an unreadable message fails when it is sent */
		for (ssize_t i = 0; i < got; i++)
			if ((unsigned char)buf[i] >= 0x80)
				return true;
		off += (uint64_t)got;
	}
	return false;
}

/* For a server without 8BITMIME: the message made 7-bit (RFC 6152 3), never
 * touching signed or encrypted parts. 0 with c->converted set, or -1. */
static int downgrade(struct smtp_client *c, const struct store_message_ref *ref)
{
	str_t bytes;
	int rc = -1;

	str_init(&bytes);
	str_reserve(&bytes, (size_t)ref->size);
	if (store_message_read(c->q->store, ref, 0, bytes.data, (size_t)ref->size) == ref->size) {
		str_init(&c->converted);
		rc = mime_downgrade_7bit(bytes.data, (size_t)ref->size, &c->converted);
		if (rc < 0)
			str_free(&c->converted);
		else
			log_info("queue: converted to 7 bits for %s msgid=%s", c->peer, ref->msgid);
	}
	str_free(&bytes);
	return rc;
}

static void send_rcpts(struct smtp_client *c, size_t upto)
{
	for (; c->rcpt_sent < upto; c->rcpt_sent++)
		send_line(c, "RCPT TO:<%s>", c->items[c->msg + c->rcpt_sent].recipient);
}

/* The next message of the batch, or QUIT. Messages the server cannot take as they
 * are fail here, without a word sent. */
static void message_start(struct smtp_client *c)
{
	const struct store_queue_item *first;
	bool eight, utf8;

	if (c->msg >= c->n && !c->q->stopping) { /* the connection stays for more of the domain's mail */
		struct store_queue_item *more;
		size_t n = smtp_queue_take(c->q, c->domain, &more);
		if (n > 0) {
			free(c->items); /* every row of the last batch went with its outcome */
			c->items = more;
			c->n = n;
			c->msg = 0;
		}
	}
	if (c->msg >= c->n || c->q->stopping) {
		c->state = C_QUIT;
		send_line(c, "QUIT");
		return;
	}
	message_open(c);
	c->rcpt_sent = c->rcpt_replied = c->accepted = 0;
	c->refused = false;
	first = &c->items[c->msg];
	eight = needs_8bit(c, &first->ref);
	utf8 = needs_utf8(c);
	str_free(&c->converted);
	if (eight && !c->eightbit && downgrade(c, &first->ref) < 0) {
		results_set_open(c, SMTP_FAIL, "5.6.3", "the receiving server does not accept 8-bit data (no 8BITMIME),"
				 " and the 8-bit data is under a signature or in a header, so it cannot be converted",
				 false);
	} else if (utf8 && !c->smtputf8) {
		results_set_open(c, SMTP_FAIL, "5.6.7", "the addresses need SMTPUTF8, which the receiving server lacks",
				 false);
	} else if (c->size_max > 0 && (c->converted.data ? (int64_t)c->converted.len : first->ref.size) > c->size_max) {
		results_set_open(c, SMTP_FAIL, "5.3.4", "the message is larger than the receiving server accepts", false);
	}
	if (c->results[0].text != NULL) {
		message_report(c);
		message_start(c);
		return;
	}
	c->state = C_MAIL;
	str_t mail;
	str_init(&mail);
	str_appendf(&mail, "MAIL FROM:<%s>", first->sender);
	if (c->size_max >= 0)
		str_appendf(&mail, " SIZE=%lld",
			    c->converted.data ? (long long)c->converted.len : (long long)first->ref.size);
	str_append_cstr(&mail, eight && c->eightbit ? " BODY=8BITMIME" : "");
	str_append_cstr(&mail, utf8 ? " SMTPUTF8" : "");
	send_line(c, "%s", mail.data);
	str_free(&mail);
	if (c->pipelining) {
		send_rcpts(c, c->msg_end - c->msg);
		send_line(c, "DATA");
	}
}

/* ---- the body: the stored bytes, dot-stuffed, as the output drains ---- */

static void body_pump(struct smtp_client *c)
{
	const struct store_message_ref *ref = &c->items[c->msg].ref;
	uint64_t size = c->converted.data ? c->converted.len : (uint64_t)ref->size;
	char buf[BODY_CHUNK];
	str_t out;

	str_init(&out);
	while (c->state == C_BODY && conn_output_length(c->conn) < OUTPUT_HIGH) {
		if (c->body_off >= size) {
			if (!c->body_bol)
				str_append(&out, "\r\n", 2);
			str_append(&out, ".\r\n", 3);
			c->state = C_DOT;
			break;
		}
		ssize_t got;
		if (c->converted.data != NULL) {
			got = size - c->body_off < sizeof(buf) ? (ssize_t)(size - c->body_off) : (ssize_t)sizeof(buf);
			memcpy(buf, c->converted.data + c->body_off, (size_t)got);
		} else {
			got = store_message_read(c->q->store, ref, c->body_off, buf, sizeof(buf));
		}
		if (got <= 0) {
			log_warnx("queue: cannot read message msgid=%s", ref->msgid);
			results_set_open(c, SMTP_DEFER, "4.3.0", "the stored message could not be read", false);
			conn_close(c->conn); /* never a truncated message: drop the transaction */
			c->conn = NULL;
			client_finish(c);
			str_free(&out);
			return;
		}
		for (ssize_t i = 0; i < got; i++) {
			if (c->body_bol && buf[i] == '.')
				str_append(&out, ".", 1);
			str_append(&out, &buf[i], 1);
			c->body_bol = buf[i] == '\n';
		}
		c->body_off += (uint64_t)got;
		conn_write(c->conn, out.data, out.len);
		str_clear(&out);
	}
	if (out.len > 0)
		conn_write(c->conn, out.data, out.len);
	str_free(&out);
}

/* ---- replies ---- */

static void ehlo_capabilities(struct smtp_client *c)
{
	c->pipelining = c->eightbit = c->smtputf8 = c->starttls = c->auth_plain = false;
	c->size_max = -1;
	for (const char *line = c->reply.data; line != NULL && *line; ) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char word[64];
		snprintf(word, sizeof(word), "%.*s", (int)(len > 4 ? len - 4 : 0), line + 4);
		if (strcasecmp(word, "PIPELINING") == 0)
			c->pipelining = true;
		else if (strcasecmp(word, "8BITMIME") == 0)
			c->eightbit = true;
		else if (strcasecmp(word, "SMTPUTF8") == 0)
			c->smtputf8 = true;
		else if (strcasecmp(word, "STARTTLS") == 0)
			c->starttls = true;
		else if (strncasecmp(word, "SIZE", 4) == 0 && (word[4] == '\0' || word[4] == ' '))
			c->size_max = atoll(word + 4);
		else if (strncasecmp(word, "AUTH ", 5) == 0 && strcasestr(word, " PLAIN") != NULL)
			c->auth_plain = true;
		line = end ? end + 1 : NULL;
	}
}

static void send_auth(struct smtp_client *c)
{
	str_t plain, b64;

	str_init(&plain);
	str_init(&b64);
	str_append(&plain, "", 1);
	str_append_cstr(&plain, c->transport.auth_user);
	str_append(&plain, "", 1);
	str_append_cstr(&plain, c->transport.auth_password ? c->transport.auth_password : "");
	base64_encode((const unsigned char *)plain.data, plain.len, &b64);
	c->state = C_AUTH;
	send_line(c, "AUTH PLAIN %s", b64.data);
	str_free(&plain);
	str_free(&b64);
}

/* After EHLO (or HELO): TLS first if the policy wants it, then AUTH, then mail. */
static void after_hello(struct smtp_client *c)
{
	bool must_tls = c->tls_policy == TLS_ENCRYPT || c->tls_policy == TLS_VERIFY;

	if (!c->tls_active && c->starttls && c->tls_policy != TLS_NONE && !c->tls_fallback) {
		c->state = C_STARTTLS;
		send_line(c, "STARTTLS");
	} else if (!c->tls_active && must_tls) {
		set_error(c, "%s offers no STARTTLS, and the policy requires TLS", c->peer);
		settle_all(c, SMTP_DEFER, "4.7.5", c->last_error);
		c->state = C_QUIT;
		send_line(c, "QUIT");
	} else if (c->transport.auth_user != NULL && !c->authenticated) {
		if (!c->auth_plain || (!c->tls_active && c->tls_policy != TLS_NONE)) {
			set_error(c, "%s offers no AUTH PLAIN%s", c->peer, c->tls_active ? "" : " over TLS");
			settle_all(c, SMTP_DEFER, "4.7.0", c->last_error);
			c->state = C_QUIT;
			send_line(c, "QUIT");
		} else {
			send_auth(c);
		}
	} else {
		message_start(c);
	}
}

static void on_message_reply(struct smtp_client *c, int code, const char *text)
{
	char status[16];

	status_of_reply(code, text, status);
	switch (c->state) {
	case C_MAIL:
		if (code >= 300) {
			results_set_open(c, verdict_of(code), status, text, false);
			c->refused = true;
		}
		c->state = C_RCPT;
		if (!c->pipelining && !c->refused)
			send_rcpts(c, 1);
		if (c->refused && !c->pipelining) {
			message_report(c);
			c->state = C_RSET;
			send_line(c, "RSET");
		}
		return;
	case C_RCPT:
		if (!c->refused) {
			struct smtp_result *r = &c->results[c->rcpt_replied];
			result_set(r, verdict_of(code), status, text, c->peer);
			c->accepted += code < 300;
		}
		if (++c->rcpt_replied < c->msg_end - c->msg) {
			if (!c->pipelining)
				send_rcpts(c, c->rcpt_replied + 1);
			return;
		}
		c->state = C_DATA;
		if (!c->pipelining) {
			if (c->accepted == 0) {
				message_report(c);
				c->state = C_RSET;
				send_line(c, "RSET");
			} else {
				send_line(c, "DATA");
			}
		}
		return;
	case C_DATA:
		if (code == 354 && c->accepted > 0 && !c->refused) {
			c->state = C_BODY;
			c->body_off = 0;
			c->body_bol = true;
			body_pump(c);
			return;
		}
		if (code == 354) { /* nobody to send it to after all: an empty message ends it */
			send_line(c, ".");
			c->state = C_DOT;
			c->refused = true;
			return;
		}
		if (!c->refused)
			results_set_open(c, verdict_of(code), status, text, true);
		message_report(c);
		c->state = C_RSET;
		send_line(c, "RSET");
		return;
	case C_DOT:
		if (!c->refused)
			results_set_open(c, verdict_of(code), status, text, true);
		message_report(c);
		if (code >= 300 || c->refused) {
			c->state = C_RSET;
			send_line(c, "RSET");
		} else {
			message_start(c);
		}
		return;
	default:
		return;
	}
}

static void on_reply(struct smtp_client *c, int code, const char *text)
{
	switch (c->state) {
	case C_GREETING:
		if (code != 220) {
			set_error(c, "%s greeted us with: %s", c->peer, text);
			conn_close(c->conn);
			c->conn = NULL;
			client_next_address(c);
			return;
		}
		c->state = C_EHLO;
		send_line(c, "EHLO %s", c->q->hostname);
		return;
	case C_EHLO:
		if (code >= 500) {
			c->state = C_HELO;
			send_line(c, "HELO %s", c->q->hostname);
			return;
		}
		/* fall through */
	case C_HELO:
		if (code != 250) {
			set_error(c, "%s refused %s: %s", c->peer, c->state == C_EHLO ? "EHLO" : "HELO", text);
			settle_all(c, verdict_of(code), "4.0.0", c->last_error);
			c->state = C_QUIT;
			send_line(c, "QUIT");
			return;
		}
		after_hello(c);
		return;
	case C_STARTTLS:
		if (code != 220 || conn_start_tls_client(c->conn, c->tls_policy == TLS_VERIFY ? c->q->tls_verify : c->q->tls,
							 c->host) < 0) {
			c->starttls = false; /* go on in the clear if the policy allows it */
			after_hello(c);
			return;
		}
		c->tls_active = true;
		c->state = C_EHLO;
		send_line(c, "EHLO %s", c->q->hostname);
		return;
	case C_AUTH:
		if (code != 235) {
			set_error(c, "%s refused our credentials: %s", c->peer, text);
			settle_all(c, SMTP_DEFER, "4.7.8", c->last_error);
			c->state = C_QUIT;
			send_line(c, "QUIT");
			return;
		}
		c->authenticated = true;
		message_start(c);
		return;
	case C_RSET:
		message_start(c);
		return;
	case C_QUIT:
		conn_close(c->conn);
		c->conn = NULL;
		client_finish(c);
		return;
	default:
		on_message_reply(c, code, text);
	}
}

/* Reads reply lines; a whole reply (the last line has a space after its code)
 * goes to on_reply. Malformed or endless replies end the connection. */
static void read_replies(struct smtp_client *c)
{
	bool bare_lf;

	while (c->conn != NULL && !c->finished) {
		enum conn_line r = conn_read_line(c->conn, REPLY_LINE_MAX, &c->line, &bare_lf);
		const char *l = c->line.data;
		if (r == CONN_LINE_NONE)
			return;
		if (r == CONN_LINE_TOO_LONG || strlen(l) < 3 || !isdigit((unsigned char)l[0]) ||
		    !isdigit((unsigned char)l[1]) || !isdigit((unsigned char)l[2]) ||
		    (l[3] != '\0' && l[3] != ' ' && l[3] != '-') || ++c->reply_lines > REPLY_LINES_MAX) {
			set_error(c, "%s sent a malformed reply", c->peer);
			conn_close(c->conn);
			c->conn = NULL;
			client_finish(c);
			return;
		}
		if (c->reply.len > 0)
			str_append(&c->reply, "\n", 1);
		str_append_cstr(&c->reply, l);
		if (l[3] == '-')
			continue;
		if (c->state == C_EHLO)
			ehlo_capabilities(c); /* from every line, before they go */
		int code = atoi(l);
		char *text = xstrdup(c->reply_lines > 1 ? l : c->reply.data);
		for (char *p = text; *p; p++) /* one line for reports and logs */
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		str_clear(&c->reply);
		c->reply_lines = 0;
		on_reply(c, code, text); /* may finish the client */
		free(text);
		if (c->finished)
			return;
	}
}

static const char *stage_name(enum client_state s)
{
	static const char *const names[] = { "routing", "connecting", "the greeting", "EHLO", "HELO", "STARTTLS",
					     "AUTH", "MAIL", "RCPT", "DATA", "the message", "the end of data", "RSET",
					     "QUIT" };
	return names[s];
}

static void client_event(conn_t *conn, enum conn_event event, void *arg)
{
	struct smtp_client *c = arg;

	switch (event) {
	case CONN_READABLE:
		read_replies(c);
		return;
	case CONN_DRAINED:
		if (c->state == C_BODY)
			body_pump(c);
		return;
	case CONN_TIMEOUT:
	case CONN_CLOSED: {
		const char *tls_error = event == CONN_CLOSED ? conn_error(conn) : NULL;
		if (event == CONN_TIMEOUT)
			conn_close(conn);
		c->conn = NULL;
		if (c->state == C_QUIT) {
			client_finish(c);
			return;
		}
		if (c->tls_active && c->tls_policy == TLS_MAY && !c->authenticated && c->msg == 0 && c->results == NULL &&
		    !c->tls_fallback) {
			/* the TLS handshake (or what followed) failed: once more, in the clear */
			c->tls_fallback = true;
			c->addr_next--;
			client_next_address(c);
			return;
		}
		if (tls_error != NULL)
			set_error(c, "TLS with %s failed: %s", c->peer, tls_error);
		else
			set_error(c, "%s with %s during %s", event == CONN_TIMEOUT ? "timed out" : "lost connection",
				  c->peer, stage_name(c->state));
		client_finish(c);
		return;
	}
	}
}

/* ---- routing and connecting ---- */

static void connected(conn_t *conn, const char *error, void *arg)
{
	struct smtp_client *c = arg;

	if (conn == NULL) {
		set_error(c, "cannot connect to %s: %s", c->peer, error);
		client_next_address(c);
		return;
	}
	c->conn = conn;
	conn_set_handler(conn, client_event, c);
	conn_set_timeout(conn, (int)param_get(P_SMTP_CLIENT_TIMEOUT));
	c->state = C_GREETING;
	c->tls_active = c->authenticated = false;
	c->pipelining = c->eightbit = c->smtputf8 = c->starttls = c->auth_plain = false;
	c->size_max = -1; /* no SIZE unless EHLO offers it */
	str_clear(&c->reply);
	c->reply_lines = 0;
}

static void client_next_host(struct smtp_client *c);

static void client_next_address(struct smtp_client *c)
{
	const char *ip;

	if (c->q->stopping) {
		client_finish(c);
		return;
	}
	if (c->addr_next >= c->addr_count) {
		client_next_host(c);
		return;
	}
	ip = c->addrs[c->addr_next++];
	free(c->peer);
	c->peer = xasprintf("%s[%s]", c->host, ip);
	c->state = C_CONNECT;
	net_connect(c->q->loop, ip, c->ports[c->host_next - 1], (int)param_get(P_SMTP_CLIENT_TIMEOUT), connected, c);
}

static void addrs_found(void *arg, enum net_dns_status status, const char *const *addrs, size_t n)
{
	struct smtp_client *c = arg;

	for (size_t i = 0; i < c->addr_count; i++)
		free(c->addrs[i]);
	free(c->addrs);
	c->addrs = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c->addrs[i] = xstrdup(addrs[i]);
	c->addr_count = n;
	c->addr_next = 0;
	if (n == 0)
		set_error(c, "no address for %s (%s)", c->host, status == NET_DNS_TEMP ? "DNS failure" : "no A/AAAA record");
	client_next_address(c);
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void client_next_host(struct smtp_client *c)
{
	if (c->host_next >= c->host_count) {
		client_finish(c); /* every host tried: the rest waits for the next attempt */
		return;
	}
	free(c->host);
	c->host = xstrdup(c->hosts[c->host_next++]);
	c->tls_fallback = false;
	if (is_ip_literal(c->host)) {
		const char *one[] = { c->host };
		addrs_found(c, NET_DNS_OK, one, 1);
	} else {
		net_dns_addrs(c->q->dns, c->host, addrs_found, c);
	}
}

static void add_host(struct smtp_client *c, const char *host, int port)
{
	c->hosts = xrealloc(c->hosts, (c->host_count + 1) * sizeof(char *));
	c->ports = xrealloc(c->ports, (c->host_count + 1) * sizeof(int));
	c->hosts[c->host_count] = xstrdup(host);
	c->ports[c->host_count++] = port;
}

static void mx_found(void *arg, enum net_dns_status status, const struct net_mx *mx, size_t n)
{
	struct smtp_client *c = arg;
	int port = (int)param_get(P_SMTP_CLIENT_PORT);

	if (status == NET_DNS_NXDOMAIN) {
		set_error(c, "the domain %s does not exist", c->domain);
		settle_all(c, SMTP_FAIL, "5.1.2", c->last_error);
	} else if (status == NET_DNS_TEMP) {
		set_error(c, "cannot look up the MX of %s now", c->domain);
	} else if (n == 1 && (mx[0].host[0] == '\0' || strcmp(mx[0].host, ".") == 0)) {
		set_error(c, "%s accepts no mail (null MX, RFC 7505)", c->domain);
		settle_all(c, SMTP_FAIL, "5.1.10", c->last_error);
	} else if (n == 0) {
		add_host(c, c->domain, port); /* no MX: the domain's own address (RFC 5321 5.1) */
	} else {
		for (size_t i = 0; i < n; i++)
			add_host(c, mx[i].host, port);
	}
	client_next_host(c);
}

static enum tls_policy policy_of(const char *text)
{
	static const char *const names[] = { "none", "may", "encrypt", "verify" };

	for (int i = 0; text != NULL && i < 4; i++)
		if (strcasecmp(text, names[i]) == 0)
			return (enum tls_policy)i;
	return TLS_MAY;
}

void smtp_client_start(struct smtp_queue *q, const char *domain, struct store_queue_item *items, size_t n)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));

	c->q = q;
	c->domain = xstrdup(domain);
	c->items = items;
	c->n = n;
	c->state = C_ROUTE;
	c->tls_policy = TLS_MAY;
	str_init(&c->line);
	str_init(&c->reply);
	LIST_INSERT_HEAD(&q->clients, c, entry);
	if (store_transport_find(q->store, domain, &c->transport) == 1) {
		const char *host = c->transport.host;
		char *bare = host[0] == '[' ? xstrndup(host + 1, strcspn(host + 1, "]")) : xstrdup(host);
		c->tls_policy = policy_of(c->transport.tls);
		add_host(c, bare, c->transport.port);
		free(bare);
		client_next_host(c);
	} else {
		/* Found by MX: the policy's tls_verify / tls_encrypt / tls_none lists say how. */
		static const struct { const char *list; enum tls_policy policy; } lists[] = {
			{ "tls_verify", TLS_VERIFY }, { "tls_encrypt", TLS_ENCRYPT }, { "tls_none", TLS_NONE },
		};
		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
			if (store_policy_list_has(q->store, lists[i].list, domain) == 1) {
				c->tls_policy = lists[i].policy;
				break;
			}
		net_dns_mx(q->dns, domain, mx_found, c);
	}
}

static void client_free(void *arg)
{
	struct smtp_client *c = arg;

	for (size_t i = 0; c->results != NULL && i < c->msg_end - c->msg; i++)
		free(c->results[i].text), free(c->results[i].remote);
	free(c->results);
	for (size_t i = 0; i < c->host_count; i++)
		free(c->hosts[i]);
	for (size_t i = 0; i < c->addr_count; i++)
		free(c->addrs[i]);
	free(c->hosts);
	free(c->ports);
	free(c->addrs);
	store_transport_clear(&c->transport);
	free(c->items); /* every row was handed to the queue with its outcome */
	free(c->domain);
	free(c->host);
	free(c->peer);
	free(c->last_error);
	str_free(&c->line);
	str_free(&c->reply);
	str_free(&c->converted);
	free(c);
}

/* Settles what is left, tells the queue, and frees the client on a later turn of
 * the loop (callers up the stack may still hold it: they check finished). */
static void client_finish(struct smtp_client *c)
{
	if (c->finished)
		return;
	c->finished = true;
	if (c->conn != NULL) {
		conn_close(c->conn);
		c->conn = NULL;
	}
	if (!c->q->stopping) {
		settle_all(c, SMTP_DEFER, "4.4.1", c->last_error ? c->last_error : "delivery was not completed");
	} else { /* shutting down: the rows stay as they are, due again at the next start */
		for (size_t i = c->msg; i < c->n; i++)
			free(c->items[i].sender), free(c->items[i].recipient), free(c->items[i].last_error);
		c->msg = c->n;
	}
	LIST_REMOVE(c, entry);
	smtp_queue_client_done(c->q, c->domain);
	net_loop_post(c->q->loop, client_free, c);
}

/* Shutting down: clients that talk are closed now; one waiting for DNS or a
 * connection ends when that answer comes (net_dns_free and net_loop_free give it). */
void smtp_client_close_all(struct smtp_queue *q)
{
	struct smtp_client *c, *next;

	for (c = LIST_FIRST(&q->clients); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (c->conn != NULL)
			client_finish(c);
	}
}
