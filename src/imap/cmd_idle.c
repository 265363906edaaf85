/* cmd_idle: IDLE (RFC 2177). While idling, the selected mailbox is checked twice a
 * second and changes are pushed (EXISTS, EXPUNGE, FETCH FLAGS); DONE ends it. */
#include <strings.h>

#include "imap_private.h"

#define IDLE_POLL_MS 500

static void idle_tick(void *arg)
{
	struct imap_session *s = arg;

	if (!s->idling || s->conn == NULL)
		return;
	imap_view_sync(s);
	net_timer_start(s->idle_timer, IDLE_POLL_MS);
}

void cmd_idle(struct imap_session *s)
{
	if (s->cmd.argc != 0) {
		imap_command_done(s, "BAD", "IDLE takes no arguments");
		return;
	}
	s->idling = true;
	conn_write(s->conn, "+ idling\r\n", 10);
	imap_view_sync(s);
	if (s->idle_timer == NULL)
		s->idle_timer = net_timer_new(s->server->loop, idle_tick, s);
	net_timer_start(s->idle_timer, IDLE_POLL_MS);
	conn_resume_read(s->conn);
}

void cmd_idle_line(struct imap_session *s, const char *line)
{
	s->idling = false;
	if (strcasecmp(line, "DONE") == 0)
		imap_command_done(s, "OK", "IDLE terminated");
	else
		imap_command_done(s, "BAD", "Expected DONE");
}
