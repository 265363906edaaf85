/* mta_dsn: delivery status notifications (RFC 3464, 3462 multipart/report): the
 * report a sender gets when recipients failed or are delayed. A human-readable
 * part, the machine-readable message/delivery-status, and the original's header
 * section as it was stored (text/rfc822-headers). Words that came from outside
 * (addresses, a remote server's reply) are reduced to printable ASCII so they
 * cannot break the report's structure. */
#include <string.h>

#include "mta.h"

#define HEADER_MAX (64 * 1024) /* of the original, quoted back */
#define WORDS_MAX 512

/* Printable ASCII only: CR, LF and the rest become spaces. */
static void append_clean(str_t *out, const char *text)
{
	for (size_t i = 0; text != NULL && text[i] != '\0' && i < WORDS_MAX; i++) {
		unsigned char c = (unsigned char)text[i];
		str_append(out, c >= 0x20 && c < 0x7f ? &text[i] : " ", 1);
	}
}

static size_t header_length(const char *msg, size_t len)
{
	const char *end = memmem(msg, len, "\r\n\r\n", 4);
	size_t n = end ? (size_t)(end - msg) + 2 : len;

	return n < HEADER_MAX ? n : HEADER_MAX;
}

static bool has_8bit(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] >= 0x80)
			return true;
	return false;
}

static void human_part(const struct mta_dsn *d, str_t *out)
{
	str_appendf(out, "This is the mail system at host %s.\r\n\r\n", d->hostname);
	str_append_cstr(out, d->delayed ? "Your message has not been delivered yet to the recipients below.\r\n"
					  "The mail system will keep trying; you need not send it again.\r\n\r\n"
					: "Your message could not be delivered to the recipients below.\r\n"
					  "This is a permanent error; the mail system has given up.\r\n\r\n");
	for (size_t i = 0; i < d->count; i++) {
		str_append_cstr(out, "<");
		append_clean(out, d->recipients[i].address);
		str_append_cstr(out, ">: ");
		append_clean(out, d->recipients[i].diagnostic ? d->recipients[i].diagnostic : d->recipients[i].status);
		str_append_cstr(out, "\r\n");
	}
}

static void status_part(const struct mta_dsn *d, str_t *out)
{
	char date[64];

	time_rfc5322(date, sizeof(date));
	str_appendf(out, "Reporting-MTA: dns; %s\r\n", d->hostname);
	if (d->original_msgid != NULL)
		str_appendf(out, "X-Sealpost-Queue-ID: %s\r\n", d->original_msgid);
	str_appendf(out, "Arrival-Date: %s\r\n", d->arrival_date ? d->arrival_date : date);
	for (size_t i = 0; i < d->count; i++) {
		const struct mta_dsn_recipient *r = &d->recipients[i];
		str_append_cstr(out, "\r\nFinal-Recipient: rfc822; ");
		append_clean(out, r->address);
		str_appendf(out, "\r\nAction: %s\r\nStatus: ", d->delayed ? "delayed" : "failed");
		append_clean(out, r->status);
		if (r->remote_mta != NULL) {
			str_append_cstr(out, "\r\nRemote-MTA: dns; ");
			append_clean(out, r->remote_mta);
		}
		if (r->diagnostic != NULL) {
			str_append_cstr(out, "\r\nDiagnostic-Code: smtp; ");
			append_clean(out, r->diagnostic);
		}
		if (d->delayed)
			str_appendf(out, "\r\nWill-Retry-Until: %s", d->retry_until ? d->retry_until : date);
		str_append_cstr(out, "\r\n");
	}
}

void mta_dsn_build(const struct mta_dsn *d, str_t *out)
{
	char boundary[33], id[33], date[64];
	size_t hlen = header_length(d->original, d->original_len);
	bool eight = has_8bit(d->original, hlen);

	id_random_hex(boundary, 16);
	id_random_hex(id, 16);
	time_rfc5322(date, sizeof(date));
	str_appendf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <", d->hostname);
	append_clean(out, d->sender);
	str_appendf(out, ">\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n"
			 "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
			 "Content-Type: multipart/report; report-type=delivery-status;\r\n"
			 "\tboundary=\"%s\"\r\n%s\r\n"
			 "This is a MIME-encapsulated delivery status notification.\r\n\r\n",
		    d->delayed ? "Delayed Mail (still being retried)" : "Undelivered Mail Returned to Sender",
		    date, id, d->hostname, boundary, eight ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	str_appendf(out, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
			 "Content-Description: Notification\r\n\r\n", boundary);
	human_part(d, out);
	str_appendf(out, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n"
			 "Content-Description: Delivery report\r\n\r\n", boundary);
	status_part(d, out);
	str_appendf(out, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n%s"
			 "Content-Description: Undelivered message headers\r\n\r\n",
		    boundary, eight ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	str_append(out, d->original, hlen);
	if (hlen < 2 || memcmp(d->original + hlen - 2, "\r\n", 2) != 0)
		str_append_cstr(out, "\r\n");
	str_appendf(out, "\r\n--%s--\r\n", boundary);
}
