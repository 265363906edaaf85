"""IMAP extensions beyond the core, through Python's imaplib: ESORT, CONTEXT=SEARCH
and CONTEXT=SORT (RFC 5267), THREAD=REFERENCES (RFC 5256), CATENATE (RFC 4469),
URLAUTH (RFC 4467), NOTIFY (RFC 5465) and IMAP4rev2 (RFC 9051). imaplib sends the
commands and parses the answers; a subclass only keeps the untagged responses in
the order they came, since several of these extensions are about order."""
import imaplib
import re
import select
import smtplib
import time

import pytest

from conftest import tls_context

for _name in ("CANCELUPDATE", "GENURLAUTH", "RESETKEY", "URLFETCH", "NOTIFY"):
    imaplib.Commands.setdefault(_name, ("AUTH", "SELECTED"))


class Client(imaplib.IMAP4_SSL):
    """imaplib, also recording untagged responses in arrival order."""

    def __init__(self, server, user, pw):
        self.order = []
        super().__init__("127.0.0.1", server.port("imaps"), ssl_context=tls_context(), timeout=30)
        self.login(user, pw)

    def _append_untagged(self, typ, dat):
        self.order.append((typ, dat))
        super()._append_untagged(typ, dat)

    def run(self, name, *args):
        """One command: (its tag, the status, the untagged responses in order).
        BAD raises imaplib.IMAP4.error, as imaplib does."""
        self.order = []
        self.untagged_responses.clear()
        tag = self._command(name, *args)
        status, _ = self._command_complete(name, tag)
        return tag.decode(), status, self.order

    def ok(self, name, *args):
        tag, status, responses = self.run(name, *args)
        assert status == "OK", (name, args, status, self.order)
        return tag, responses

    def lines(self, name, *args):
        """The untagged responses of a command that must succeed, as "TYPE data"."""
        return [flat(t, d) for t, d in self.ok(name, *args)[1]]

    def wait_for(self, pattern):
        """Reads unsolicited responses until one (as "TYPE data") matches; returns
        all of them, in order. Fails by the client's timeout if none comes."""
        seen = []
        while True:
            self.order = []
            self._get_response()
            seen += [flat(t, d) for t, d in self.order]
            if any(re.search(pattern, line) for line in seen):
                return seen

    def silent_for(self, seconds):
        """True if the server sends nothing unasked for that long."""
        time.sleep(seconds)
        return self.sock.pending() == 0 and not select.select([self.sock], [], [], 0)[0]


def flat(typ, dat):
    """One untagged response as bytes "TYPE data", literals inline."""
    if isinstance(dat, tuple):
        dat = b"".join(dat)
    return typ.encode() + b" " + (dat or b"")


def deliver(server, user, messages):
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        for headers in messages:
            s.sendmail("a@remote.test", [user], (headers + "\r\n\r\nbody\r\n").encode())


def esearch(lines):
    return [line for line in lines if line.startswith(b"ESEARCH ")]


def test_esort_return_options(server):
    user, pw = server.add_user()
    deliver(server, user, [f"Subject: s{c}\r\nDate: Sat, 28 Nov 2026 0{d}:00:00 +0000"
                           for c, d in (("c", 1), ("a", 2), ("d", 3), ("b", 4))])
    m = Client(server, user, pw)
    for cap in ("ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "THREAD=REFERENCES"):
        assert cap in m.capabilities
    m.select("INBOX")
    # subjects sa sb sc sd are messages 2 4 1 3: MIN and MAX are first and last in sort order
    tag, lines = m.ok("SORT", "RETURN", "(MIN MAX COUNT ALL)", "(SUBJECT)", "UTF-8", "ALL")
    assert [flat(*r) for r in lines] == [f'ESEARCH (TAG "{tag}") MIN 2 MAX 3 COUNT 4 ALL 2,4,1,3'.encode()]
    tag, lines = m.ok("SORT", "RETURN", "()", "(REVERSE DATE)", "UTF-8", "ALL")
    assert [flat(*r) for r in lines] == [f'ESEARCH (TAG "{tag}") ALL 4,3,2,1'.encode()]
    tag, lines = m.ok("SORT", "RETURN", "(PARTIAL 2:3)", "(SUBJECT)", "UTF-8", "ALL")
    assert [flat(*r) for r in lines] == [f'ESEARCH (TAG "{tag}") PARTIAL (2:3 4,1)'.encode()]
    tag, lines = m.ok("SEARCH", "RETURN", "(PARTIAL 3:10)", "ALL")
    assert [flat(*r) for r in lines] == [f'ESEARCH (TAG "{tag}") PARTIAL (3:10 3:4)'.encode()]
    tag, lines = m.ok("SEARCH", "RETURN", "(PARTIAL 9:10)", "ALL")
    assert [flat(*r) for r in lines] == [f'ESEARCH (TAG "{tag}") PARTIAL (9:10 NIL)'.encode()]
    with pytest.raises(imaplib.IMAP4.error):
        m.run("SEARCH", "RETURN", "(PARTIAL 1:2 ALL)", "ALL")
    m.logout()


def test_search_context_updates(server):
    user, pw = server.add_user()
    deliver(server, user, [f"Subject: m{i}" for i in range(3)])
    a, b = Client(server, user, pw), Client(server, user, pw)
    a.select("INBOX")
    b.select("INBOX")
    ctx, lines = a.ok("UID", "SEARCH", "RETURN", "(UPDATE)", "UNSEEN")
    assert [flat(*r) for r in lines] == [f'ESEARCH (TAG "{ctx}") UID ALL 1:3'.encode()]
    prefix = f'ESEARCH (TAG "{ctx}") UID '.encode()

    b.ok("UID", "STORE", "2", "+FLAGS", "(\\Seen)")  # leaves the result
    assert esearch(a.lines("NOOP")) == [prefix + b"REMOVEFROM (0 2)"]

    deliver(server, user, ["Subject: new"])  # joins it: after the EXISTS that makes it valid
    lines = a.lines("NOOP")
    assert lines.index(b"EXISTS 4") < lines.index(prefix + b"ADDTO (0 4)"), lines

    b.ok("UID", "STORE", "1", "+FLAGS", "(\\Deleted)")
    b.ok("EXPUNGE")
    lines = a.lines("NOOP")
    assert lines.index(prefix + b"REMOVEFROM (0 1)") < lines.index(b"EXPUNGE 1"), lines

    # The session's own STORE is reported too, before its tagged OK.
    assert esearch(a.lines("UID", "STORE", "3", "+FLAGS.SILENT", "(\\Seen)")) == [prefix + b"REMOVEFROM (0 3)"]

    a.ok("CANCELUPDATE", f'"{ctx}"')
    b.ok("UID", "STORE", "3", "-FLAGS", "(\\Seen)")
    assert esearch(a.lines("NOOP")) == []
    with pytest.raises(imaplib.IMAP4.error):
        a.run("CANCELUPDATE", f'"{ctx}"')  # no such context any more
    a.logout()
    b.logout()


def test_sort_context_positions(server):
    user, pw = server.add_user()
    deliver(server, user, ["Subject: b", "Subject: d"])
    a, b = Client(server, user, pw), Client(server, user, pw)
    a.select("INBOX")
    ctx, lines = a.ok("SORT", "RETURN", "(UPDATE)", "(SUBJECT)", "UTF-8", "UNDELETED")
    assert [flat(*r) for r in lines] == [f'ESEARCH (TAG "{ctx}") ALL 1:2'.encode()]
    deliver(server, user, ["Subject: a", "Subject: c"])  # messages 3 and 4
    # a goes first, c third: positions in the sorted result, message numbers
    assert f'ESEARCH (TAG "{ctx}") ADDTO (1 3 3 4)'.encode() in a.lines("NOOP")
    b.select("INBOX")
    b.ok("STORE", "1", "+FLAGS", "(\\Deleted)")  # b, now second, leaves
    assert f'ESEARCH (TAG "{ctx}") REMOVEFROM (2 1)'.encode() in a.lines("NOOP")
    a.logout()
    b.logout()


def test_updating_contexts_are_bounded(server):
    user, pw = server.add_user()
    deliver(server, user, ["Subject: x"])
    m = Client(server, user, pw)
    m.select("INBOX")
    refused = []
    for _ in range(12):
        tag, responses = m.ok("SEARCH", "RETURN", "(UPDATE COUNT)", "ALL")
        refused += [d for t, d in responses if t == "NOUPDATE"]
        assert any(flat(*r).endswith(b"COUNT 1") for r in responses)  # still answered
    assert len(refused) == 4, refused  # eight contexts at most
    assert refused[-1] == f'"{tag}"'.encode()
    m.unselect()  # contexts end with the selection
    m.logout()


def test_thread_references(server):
    user, pw = server.add_user()
    day = "Sat, 28 Nov 2026"
    deliver(server, user, [
        f"Message-ID: <a@x>\r\nSubject: Plan\r\nDate: {day} 10:00:00 +0000",
        f"Message-ID: <b@x>\r\nReferences: <a@x>\r\nSubject: Re: Plan\r\nDate: {day} 11:00:00 +0000",
        f"Message-ID: <c@x>\r\nIn-Reply-To: <a@x>\r\nSubject: Re: Plan\r\nDate: {day} 10:30:00 +0000",
        f"Message-ID: <d@x>\r\nReferences: <a@x> <b@x>\r\nSubject: Re: Plan\r\nDate: {day} 12:00:00 +0000",
        f"Message-ID: <e@x>\r\nReferences: <gone@x>\r\nSubject: Other\r\nDate: {day} 09:00:00 +0000",
        f"Message-ID: <f@x>\r\nReferences: <gone@x>\r\nSubject: Else\r\nDate: {day} 09:30:00 +0000",
        f"Message-ID: <g@x>\r\nSubject: Re: Plan\r\nDate: {day} 13:00:00 +0000",
        f"Subject: Solo\r\nDate: {day} 08:00:00 +0000",
        # a loop: h says it follows i, i says it follows h
        f"Message-ID: <h@x>\r\nReferences: <i@x>\r\nSubject: Loop\r\nDate: {day} 14:00:00 +0000",
        f"Message-ID: <i@x>\r\nReferences: <h@x>\r\nSubject: Loop\r\nDate: {day} 14:30:00 +0000",
    ])
    m = Client(server, user, pw)
    m.select("INBOX")
    # 8 alone; 5 and 6 under the missing <gone@x>; 1 with replies 3, 2 (then 4),
    # and 7 joined by subject; the loop broken: one of 9 and 10 under the other.
    typ, data = m.thread("REFERENCES", "UTF-8", "ALL")
    assert data[0] in (b"(8)((5)(6))(1 (3)(2 4)(7))(9 10)", b"(8)((5)(6))(1 (3)(2 4)(7))(10 9)"), data
    typ, data = m.thread("REFERENCES", "UTF-8", "NOT", "SUBJECT", "Plan")
    assert data[0] in (b"(8)((5)(6))(9 10)", b"(8)((5)(6))(10 9)"), data
    typ, data = m.uid("THREAD", "ORDEREDSUBJECT", "UTF-8", "SUBJECT", "Solo")
    assert re.fullmatch(rb"\(\d+\)", data[0]), data
    with pytest.raises(imaplib.IMAP4.error):
        m.thread("NOSUCH", "UTF-8", "ALL")
    m.logout()


MULTIPART = ("From: a@remote.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
             "--XX\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
             "--XX\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--XX--\r\n")


def literal(data):
    """A LITERAL+ literal inside the command line (imaplib sends it as it is)."""
    return b"{%d+}\r\n" % len(data) + data


def uidvalidity(m, mailbox):
    _, data = m.status(mailbox, "(UIDVALIDITY)")
    return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))


def body(m, mailbox, uid):
    m.select(mailbox, readonly=True)
    _, data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")
    return data[0][1]


def test_catenate(server):
    user, pw = server.add_user()
    other, _ = server.add_user()
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.sendmail("a@remote.test", [user], MULTIPART.encode())
        s.sendmail("a@remote.test", [other], MULTIPART.encode())
    m = Client(server, user, pw)
    assert "CATENATE" in m.capabilities
    v = uidvalidity(m, "INBOX")
    head = b"From: me@here.test\r\nSubject: forwarded part\r\n\r\nSee below:\r\n"
    tail = b"\r\n-- \r\nme\r\n"
    typ, data = m._simple_command("APPEND", "Drafts", "(\\Draft)", b"CATENATE (TEXT " + literal(head) +
                                  f' URL "/INBOX;UIDVALIDITY={v}/;UID=1/;SECTION=2" TEXT '.encode() +
                                  literal(tail) + b")")
    assert typ == "OK", data
    uid = int(m.untagged_responses.pop("APPENDUID")[0].split()[1])
    assert body(m, "Drafts", uid) == head + b"second part" + tail
    # A URL with PARTIAL, and a whole message
    typ, _ = m._simple_command("APPEND", "Drafts", 'CATENATE (URL "/INBOX/;UID=1/;SECTION=1/;PARTIAL=0.5")')
    assert typ == "OK" and body(m, "Drafts", uid + 1) == b"first"
    typ, _ = m._simple_command("APPEND", "Drafts", 'CATENATE (URL "/INBOX/;UID=1")')
    assert typ == "OK" and body(m, "Drafts", uid + 2) == body(m, "INBOX", 1)
    # Wrong UIDVALIDITY, no such message, someone else's mailbox, no such part, garbage
    other_url = "imap://" + other.replace("@", "%40") + "@127.0.0.1/INBOX/;UID=1"
    for url in [f"/INBOX;UIDVALIDITY={v + 1}/;UID=1", "/INBOX/;UID=99", other_url,
                "/INBOX/;UID=1/;SECTION=9", "nonsense"]:
        _, status, responses = m.run("APPEND", "Drafts", b"CATENATE (TEXT " + literal(b"x") +
                                     f' URL "{url}")'.encode())
        assert status == "NO" and any(t == "BADURL" for t, _ in responses), (url, responses)
    with pytest.raises(imaplib.IMAP4.error):
        m.run("APPEND", "Drafts", "CATENATE (TEXT)")
    m.logout()


def test_urlauth(server):
    owner, owner_pw = server.add_user()
    friend, friend_pw = server.add_user()
    stranger, stranger_pw = server.add_user()
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.sendmail("a@remote.test", [owner], MULTIPART.encode())
    m = Client(server, owner, owner_pw)
    assert "URLAUTH" in m.capabilities
    v = uidvalidity(m, "INBOX")
    base = f"imap://{owner.replace('@', '%40')}@127.0.0.1/INBOX;UIDVALIDITY={v}/;UID=1/;SECTION=1"

    def sign(rump):
        [line] = m.lines("GENURLAUTH", f'"{rump}"', "INTERNAL")
        [url] = re.findall(rb'"([^"]+)"', line)
        assert url.startswith(rump.encode() + b":internal:"), url
        return url.decode()

    for_friend = sign(base + ";URLAUTH=user+" + friend.replace("@", "%40"))
    for_all = sign(base + ";URLAUTH=authuser")
    expired = sign(base + ";EXPIRE=2020-01-01T00:00:00Z;URLAUTH=authuser")
    tampered = for_all[:-1] + ("0" if for_all[-1] != "0" else "1")
    assert m.run("GENURLAUTH", f'"{base};URLAUTH=authuser"', "NOSUCHMECH")[1] == "NO"
    friend_url = "imap://" + friend.replace("@", "%40") + "@127.0.0.1/INBOX/;UID=1;URLAUTH=authuser"
    assert m.run("GENURLAUTH", f'"{friend_url}"', "INTERNAL")[1] == "NO"  # not the owner's mail

    def fetch(client, url):
        """The data URLFETCH returns for url, or None for NIL (a literal comes
        from imaplib as a (line, data) pair and then the rest of the line)."""
        _, responses = client.ok("URLFETCH", f'"{url}"')
        first = responses[0][1]
        if isinstance(first, tuple):
            assert first[0] == b'"' + url.encode() + b'" {%d}' % len(first[1]), first
            return first[1]
        assert first == b'"' + url.encode() + b'" NIL', first
        return None

    f = Client(server, friend, friend_pw)
    st = Client(server, stranger, stranger_pw)
    assert fetch(f, for_friend) == b"first part"
    assert fetch(st, for_friend) is None          # user+friend only
    assert fetch(st, for_all) == b"first part"    # any authenticated user
    assert fetch(st, tampered) is None
    assert fetch(st, expired) is None
    assert fetch(st, base) is None                # not signed at all
    # CATENATE may use a URL signed for this user
    assert f._simple_command("APPEND", "INBOX", f'CATENATE (URL "{for_friend}")')[0] == "OK"
    m.ok("RESETKEY", "INBOX")                     # the old URLs stop working
    assert fetch(f, for_friend) is None
    renewed = sign(base + ";URLAUTH=authuser")
    assert renewed != for_all and fetch(st, renewed) == b"first part"
    m.ok("RESETKEY")
    assert fetch(st, renewed) is None
    for client in (m, f, st):
        client.logout()


def test_notify(server):
    user, pw = server.add_user()
    a, b = Client(server, user, pw), Client(server, user, pw)
    assert "NOTIFY" in a.capabilities
    lines = a.lines("NOTIFY", "SET", "STATUS",
                    "(PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))")
    assert b'STATUS "INBOX" (MESSAGES 0 UIDNEXT 1 UNSEEN 0)' in lines, lines
    assert any(line.startswith(b'STATUS "Sent" ') for line in lines), lines

    deliver(server, user, ["Subject: pushed"])  # no command from a: it is told
    a.wait_for(rb'^STATUS "INBOX" \(MESSAGES 1 UIDNEXT 2 UNSEEN 1\)')
    b.select("INBOX")
    b.store("1", "+FLAGS", "(\\Seen)")
    a.wait_for(rb'^STATUS "INBOX" \(MESSAGES 1 UIDNEXT 2 UNSEEN 0\)')
    b.create("Projects")  # created subscribed
    a.wait_for(rb'^LIST \(\\Subscribed\) "/" "Projects"$')
    b.rename("Projects", "Archive2")
    a.wait_for(rb'^LIST \(\) "/" "Archive2" \("OLDNAME" \("Projects"\)\)$')
    b.unsubscribe("Archive2")
    a.wait_for(rb'^LIST \(\) "/" "Archive2"$')
    b.delete("Archive2")
    a.wait_for(rb'^LIST \(\\NonExistent\) "/" "Archive2"$')

    # The selected mailbox: EXISTS and the FETCH items asked for, unasked.
    a.select("INBOX")
    a.ok("NOTIFY", "SET", "(SELECTED (MessageNew (UID FLAGS) MessageExpunge))",
         "(PERSONAL (MessageNew MessageExpunge))")
    deliver(server, user, ["Subject: second"])
    seen = a.wait_for(rb"^FETCH 2 \(UID 2 FLAGS \(\)\)$")
    assert b"EXISTS 2" in seen, seen
    b.store("1", "+FLAGS", "(\\Deleted)")
    b.expunge()
    a.wait_for(rb"^EXPUNGE 1$")

    # Refusals, and NOTIFY NONE
    _, status, responses = a.run("NOTIFY", "SET", "(PERSONAL (AnnotationChange))")
    assert status == "NO" and any(t == "BADEVENT" for t, _ in responses), responses
    with pytest.raises(imaplib.IMAP4.error):
        a.run("NOTIFY", "SET", "(PERSONAL (FlagChange))")  # needs MessageNew and MessageExpunge
    with pytest.raises(imaplib.IMAP4.error):
        a.run("NOTIFY", "SET", "(PERSONAL (MessageNew (BODY[]) MessageExpunge))")  # would set \Seen
    a.ok("NOTIFY", "NONE")
    deliver(server, user, ["Subject: quiet"])
    assert a.silent_for(1.5)
    assert b"EXISTS 2" in a.lines("NOOP")  # the usual way still works
    a.logout()
    b.logout()


def test_imap4rev2(server):
    user, pw = server.add_user()
    deliver(server, user, ["Subject: one", "Subject: two"])
    r, old = Client(server, user, pw), Client(server, user, pw)
    for cap in ("IMAP4REV2", "IMAP4REV1", "STATUS=SIZE"):
        assert cap in r.capabilities
    assert r.lines("ENABLE", "IMAP4rev2") == [b"ENABLED IMAP4rev2"]
    name = "Entwürfe".encode()
    r.ok("CREATE", b'"' + name + b'"')  # UTF-8 from a rev2 client
    listed = old.lines("LIST", '""', "Entw*")
    assert listed in ([b'LIST (\\HasNoChildren \\Subscribed) "/" "Entw&APw-rfe"'],
                      [b'LIST (\\HasNoChildren) "/" "Entw&APw-rfe"']), listed  # rev1 reads modified UTF-7
    listed = r.lines("LIST", '""', "Entw*")
    assert listed[0].endswith(b'"/" {9}' + name), listed
    assert r.run("CREATE", b'"bad\xff"')[1] == "NO"
    lines = r.lines("SELECT", "INBOX")
    assert b'LIST () "/" "INBOX"' in lines and not any(b"RECENT" in line for line in lines), lines
    lines = r.lines("SELECT", b'"' + name + b'"')
    assert lines[0] == b"OK [CLOSED] Previous mailbox closed", lines
    assert r.lines("APPEND", b'"' + name + b'"', literal(b"hi\r\n\r\n"))[0] == b"EXISTS 1"
    r.select("INBOX")
    tag, lines = r.ok("SEARCH", "ALL")  # a rev2 SEARCH answers ESEARCH
    assert [flat(*x) for x in lines] == [f'ESEARCH (TAG "{tag}") ALL 1:2'.encode()]
    tag, lines = r.ok("UID", "SEARCH", "SUBJECT", "nothing")
    assert [flat(*x) for x in lines] == [f'ESEARCH (TAG "{tag}") UID'.encode()]
    r.ok("STORE", "2", "+FLAGS", "(\\Deleted)")
    lines = r.lines("STATUS", b'"' + name + b'"', "(MESSAGES SIZE DELETED)")
    assert lines == [b"STATUS {9}" + name, b"STATUS  (MESSAGES 1 SIZE 6 DELETED 0)"], lines  # a literal name
    assert old.lines("STATUS", "INBOX", "(DELETED MESSAGES)") == [b'STATUS "INBOX" (DELETED 1 MESSAGES 2)']
    old.select("INBOX")  # a rev1 session still gets plain SEARCH answers
    assert old.search(None, "DELETED")[1] == [b"2"]
    r.logout()
    old.logout()
