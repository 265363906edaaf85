/* mime: GMime behind one face. For a stored message it gives IMAP's ENVELOPE and
 * BODYSTRUCTURE (and BODY) as ready-to-send text, and where each MIME part's
 * header and body lie in the stored bytes, so BODY[1.2] is a byte range, never a
 * re-serialisation. No GMime type leaves this module. */
#ifndef SEALPOST_MIME_H
#define SEALPOST_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/lib.h"

/* One addressable part: "1", "1.2", ... and its byte ranges in the message. */
struct mime_part {
	char *section;
	uint64_t header_start; /* == body_start when the part has no header */
	uint64_t body_start, body_end;
	int is_message; /* message/rfc822: HEADER and TEXT of it may be fetched */
};

struct mime_summary {
	char *envelope;      /* "(date subject from ... message-id)" */
	char *bodystructure; /* with extension data */
	char *body;          /* BODY: the same without extension data */
	struct mime_part *parts;
	size_t part_count;
};

/* Appends s as an IMAP string: quoted when it can be, a literal when it holds
 * 8-bit octets, line ends or NUL, or is long; NULL gives NIL. */
void mime_put_imap_string(str_t *out, const char *s, size_t len);

/* Call once before any other mime_ function. */
void mime_init(void);
/* Returns 0, or -1 if GMime cannot make anything of the bytes. */
int mime_summarise(const char *bytes, size_t len, struct mime_summary *out);
void mime_summary_free(struct mime_summary *s);
const struct mime_part *mime_find_part(const struct mime_summary *s, const char *section);
/* Removes a Content-Transfer-Encoding (7bit, 8bit, binary, base64,
 * quoted-printable, x-uuencode) from data into out. Returns 0, or -1 for an
 * encoding it does not know. */
int mime_decode(const char *encoding, const char *data, size_t len, str_t *out);

/* What SORT and THREAD (RFC 5256, 5957) compare, from a message's header section. */
struct mime_sort_keys {
	int64_t date;        /* Date: in seconds since the epoch; -1 if absent or bad */
	char *base_subject;  /* decoded, Re:/Fwd:/[blob]/(fwd) removed, spaces folded */
	char *from, *to, *cc; /* local part of the first address ("" if none) */
	char *display_from, *display_to; /* display name, else the address */
	bool subject_is_reply; /* a Re:, Fwd: or (fwd) was taken off the subject */
	char *message_id;      /* without <>; NULL if none */
	char **references;     /* References (the last MIME_REFERENCES_MAX), else In-Reply-To */
	size_t reference_count;
};
#define MIME_REFERENCES_MAX 64
void mime_sort_keys(const char *header, size_t len, struct mime_sort_keys *keys);
void mime_sort_keys_free(struct mime_sort_keys *keys);

/* The searchable text of a message: header fields decoded (RFC 2047), one per
 * line, and the decoded UTF-8 text of every text part. */
void mime_extract_text(const char *bytes, size_t len, str_t *headers, str_t *body);

/* The part table as text ("section start start end flag" lines) for a cache, and
 * back. mime_parts_parse returns 0, or -1 on malformed text. */
char *mime_parts_serialise(const struct mime_summary *s);
int mime_parts_parse(const char *text, struct mime_summary *s);

/* A message with 8-bit content made 7-bit for a server without 8BITMIME: parts
 * sent as 8bit or binary get quoted-printable (text) or base64, everything else as
 * GMime writes it. Returns 0 with the new message in out, or -1 when that is not
 * safe: 8-bit data under a signature or encryption (multipart/signed, encrypted,
 * application/pkcs7-mime), which converting would break, or 8-bit header fields. */
int mime_downgrade_7bit(const char *bytes, size_t len, str_t *out);

#endif
