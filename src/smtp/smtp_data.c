/* smtp_data: the DATA byte decoder. Only CRLF "." CRLF ends a message; a leading
 * dot is removed (RFC 5321 4.5.2); bare CR or LF are recorded so the message can be
 * refused (they are how SMTP smuggling hides a second message). Past max octets
 * nothing more is kept, but input is consumed to the end so the reply is in sync. */
#include <string.h>

#include "smtp.h"

void smtp_data_init(struct smtp_data *d, str_t *out, size_t max)
{
	d->state = SMTP_DATA_BOL;
	d->bare_eol = false;
	d->too_big = false;
	d->max = max;
	d->out = out;
	str_clear(out);
}

static void emit(struct smtp_data *d, const char *bytes, size_t n)
{
	if (d->too_big)
		return;
	if (d->out->len + n > d->max) {
		d->too_big = true;
		return;
	}
	str_append(d->out, bytes, n);
}

/* Plain text until the next CR or LF, copied in one go. */
static size_t text_run(struct smtp_data *d, const char *buf, size_t len)
{
	size_t n = 0;

	while (n < len && buf[n] != '\r' && buf[n] != '\n')
		n++;
	emit(d, buf, n);
	return n;
}

/* One byte in the current state; returns true when the end marker is complete. */
static bool data_step(struct smtp_data *d, char c)
{
	switch (d->state) {
	case SMTP_DATA_DOT:
		if (c == '\r') {
			d->state = SMTP_DATA_DOT_CR;
			return false;
		}
		d->state = SMTP_DATA_TEXT; /* the stuffed dot is dropped */
		return data_step(d, c);
	case SMTP_DATA_DOT_CR:
		if (c == '\n')
			return true;
		d->bare_eol = true;
		emit(d, "\r", 1);
		d->state = SMTP_DATA_TEXT;
		return data_step(d, c);
	case SMTP_DATA_CR:
		if (c == '\n') {
			emit(d, "\r\n", 2);
			d->state = SMTP_DATA_BOL;
			return false;
		}
		d->bare_eol = true;
		emit(d, "\r", 1);
		d->state = SMTP_DATA_TEXT;
		return data_step(d, c);
	case SMTP_DATA_BOL:
		if (c == '.') {
			d->state = SMTP_DATA_DOT;
			return false;
		}
		/* fall through */
	case SMTP_DATA_TEXT:
		if (c == '\r') {
			d->state = SMTP_DATA_CR;
		} else {
			if (c == '\n')
				d->bare_eol = true;
			emit(d, &c, 1);
			d->state = SMTP_DATA_TEXT;
		}
		return false;
	}
	return false;
}

size_t smtp_data_feed(struct smtp_data *d, const char *buf, size_t len, bool *done_r)
{
	size_t i = 0;

	*done_r = false;
	while (i < len) {
		if (d->state == SMTP_DATA_TEXT) {
			i += text_run(d, buf + i, len - i);
			if (i == len)
				break;
		}
		if (data_step(d, buf[i++])) {
			*done_r = true;
			break;
		}
	}
	return i;
}
