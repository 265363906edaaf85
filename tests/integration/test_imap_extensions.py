"""IMAP extensions beyond the core: ESORT, CONTEXT=SEARCH and CONTEXT=SORT
(RFC 5267), THREAD=REFERENCES (RFC 5256). Spoken over a raw TLS socket where the
tags matter (contexts are named by the tag of their command)."""
import re
import smtplib
import socket
import ssl

import pytest

from conftest import tls_context


class Raw:
    """One IMAP session over implicit TLS with tags chosen by the test."""

    def __init__(self, server, user=None, pw=None):
        sock = socket.create_connection(("127.0.0.1", server.port("imaps")), timeout=30)
        self.sock = tls_context().wrap_socket(sock)
        self.buf = b""
        assert self.readline().startswith(b"* OK")
        if user:
            self.ok("l1", f'LOGIN "{user}" "{pw}"')

    def read(self, n):
        """n bytes; a timeout leaves what came in the buffer for the next read."""
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            self.buf += chunk
        return self.read(self.buf.index(b"\n") + 1)

    def response(self):
        """One response line, literals included (as they came)."""
        line = self.readline()
        while True:
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if not m:
                return line.rstrip(b"\r\n")
            line += self.read(int(m.group(1)))
            line += self.readline()

    def cmd(self, tag, text):
        """Sends one command (str, or bytes holding LITERAL+ literals); returns
        (untagged responses, tagged line)."""
        data = text if isinstance(text, bytes) else text.encode()
        self.sock.sendall(tag.encode() + b" " + data + b"\r\n")
        untagged = []
        while True:
            line = self.response()
            if line.startswith(tag.encode() + b" "):
                return untagged, line
            untagged.append(line)

    def ok(self, tag, text):
        untagged, done = self.cmd(tag, text)
        assert done.startswith(f"{tag} OK".encode()), (text, done)
        return untagged

    def body(self, mailbox, uid, section=""):
        self.ok("f0", f"EXAMINE {mailbox}")
        [resp] = [r for r in self.ok("f1", f"UID FETCH {uid} (BODY.PEEK[{section}])") if b" FETCH " in r]
        n = int(re.search(rb"\{(\d+)\}\r\n", resp).group(1))
        start = resp.index(b"}\r\n") + 3
        return resp[start:start + n]

    def close(self):
        self.cmd("z9", "LOGOUT")
        self.sock.close()


def deliver(server, user, messages):
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        for headers in messages:
            s.sendmail("a@remote.test", [user], (headers + "\r\n\r\nbody\r\n").encode())


def uid_of(raw, number):
    untagged = raw.ok("u0", f"FETCH {number} (UID)")
    return int(re.search(rb"UID (\d+)", untagged[0]).group(1))


def test_esort_return_options(server):
    user, pw = server.add_user()
    deliver(server, user, [f"Subject: s{c}\r\nDate: Sat, 28 Nov 2026 0{d}:00:00 +0000"
                           for c, d in (("c", 1), ("a", 2), ("d", 3), ("b", 4))])
    r = Raw(server, user, pw)
    caps = r.ok("c1", "CAPABILITY")[0].split()
    for cap in (b"ESORT", b"CONTEXT=SEARCH", b"CONTEXT=SORT", b"THREAD=REFERENCES"):
        assert cap in caps
    r.ok("s0", "SELECT INBOX")
    # subjects sa sb sc sd are messages 2 4 1 3: MIN and MAX are first and last in sort order
    out = r.ok("s1", "SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL")
    assert out == [b'* ESEARCH (TAG "s1") MIN 2 MAX 3 COUNT 4 ALL 2,4,1,3'], out
    out = r.ok("s2", "SORT RETURN () (REVERSE DATE) UTF-8 ALL")
    assert out == [b'* ESEARCH (TAG "s2") ALL 4,3,2,1'] or out == [b'* ESEARCH (TAG "s2") ALL 4:1'] \
        or out[0].endswith(b"ALL 4,3,2,1"), out
    out = r.ok("s3", "SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL")
    assert out == [b'* ESEARCH (TAG "s3") PARTIAL (2:3 4,1)'], out
    out = r.ok("s4", "SEARCH RETURN (PARTIAL 3:10) ALL")
    assert out == [b'* ESEARCH (TAG "s4") PARTIAL (3:10 3:4)'], out
    out = r.ok("s5", "SEARCH RETURN (PARTIAL 9:10) ALL")
    assert out == [b'* ESEARCH (TAG "s5") PARTIAL (9:10 NIL)'], out
    _, bad = r.cmd("s6", "SEARCH RETURN (PARTIAL 1:2 ALL) ALL")
    assert bad.startswith(b"s6 BAD")
    r.close()


def test_search_context_updates(server):
    user, pw = server.add_user()
    deliver(server, user, [f"Subject: m{i}" for i in range(3)])
    a, b = Raw(server, user, pw), Raw(server, user, pw)
    a.ok("a1", "SELECT INBOX")
    b.ok("b1", "SELECT INBOX")
    uids = [uid_of(a, n) for n in (1, 2, 3)]
    out = a.ok("ctx", "UID SEARCH RETURN (UPDATE) UNSEEN")
    assert out == [f'* ESEARCH (TAG "ctx") UID ALL {uids[0]}:{uids[2]}'.encode()], out
    _, bad = a.cmd("ctx", "UID SEARCH RETURN (UPDATE) ALL")  # the tag names a context
    assert bad.startswith(b"ctx BAD")

    b.ok("b2", f"UID STORE {uids[1]} +FLAGS (\\Seen)")  # leaves the result
    out = a.ok("a2", "NOOP")
    assert f'* ESEARCH (TAG "ctx") UID REMOVEFROM (0 {uids[1]})'.encode() in out, out

    deliver(server, user, ["Subject: new"])  # joins it
    out = a.ok("a3", "NOOP")
    exists = out.index(b"* 4 EXISTS")
    addto = out.index(b'* ESEARCH (TAG "ctx") UID ADDTO (0 ' + str(uids[2] + 1).encode() + b")")
    assert exists < addto, out  # the ADDTO after the EXISTS that makes it valid

    b.ok("b3", f"UID STORE {uids[0]} +FLAGS (\\Deleted)")
    b.ok("b4", "EXPUNGE")
    out = a.ok("a4", "NOOP")
    removed = out.index(f'* ESEARCH (TAG "ctx") UID REMOVEFROM (0 {uids[0]})'.encode())
    assert removed < out.index(b"* 1 EXPUNGE"), out  # before the expunge

    # The session's own STORE is reported too, before its tagged OK.
    out = a.ok("a5", f"UID STORE {uids[2]} +FLAGS.SILENT (\\Seen)")
    assert f'* ESEARCH (TAG "ctx") UID REMOVEFROM (0 {uids[2]})'.encode() in out, out

    a.ok("a6", 'CANCELUPDATE "ctx"')
    b.ok("b5", f"UID STORE {uids[2]} -FLAGS (\\Seen)")
    out = a.ok("a7", "NOOP")
    assert not any(b"ESEARCH" in line for line in out), out
    _, bad = a.cmd("a8", 'CANCELUPDATE "ctx"')
    assert bad.startswith(b"a8 BAD")
    a.close()
    b.close()


def test_sort_context_positions(server):
    user, pw = server.add_user()
    deliver(server, user, ["Subject: b", "Subject: d"])
    a, b = Raw(server, user, pw), Raw(server, user, pw)
    a.ok("a1", "SELECT INBOX")
    out = a.ok("srt", "SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNDELETED")
    assert out == [b'* ESEARCH (TAG "srt") ALL 1:2'], out
    deliver(server, user, ["Subject: a", "Subject: c"])  # messages 3 and 4
    out = a.ok("a2", "NOOP")
    # a goes first, c third: positions in the sorted result, message numbers
    assert b'* ESEARCH (TAG "srt") ADDTO (1 3 3 4)' in out, out
    b.ok("b1", "SELECT INBOX")
    b.ok("b2", "STORE 1 +FLAGS (\\Deleted)")  # b, now second, leaves
    out = a.ok("a3", "NOOP")
    assert b'* ESEARCH (TAG "srt") REMOVEFROM (2 1)' in out, out
    a.close()
    b.close()


def test_updating_contexts_are_bounded(server):
    user, pw = server.add_user()
    deliver(server, user, ["Subject: x"])
    r = Raw(server, user, pw)
    r.ok("a0", "SELECT INBOX")
    refused = []
    for i in range(12):
        out = r.ok(f"c{i}", "SEARCH RETURN (UPDATE COUNT) ALL")
        refused += [line for line in out if b"NOUPDATE" in line]
        assert any(b"COUNT 1" in line for line in out)  # still answered
    assert refused and refused[0].startswith(b'* NO [NOUPDATE "c'), refused
    r.ok("a1", "UNSELECT")  # contexts end with the selection
    r.close()


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
    r = Raw(server, user, pw)
    r.ok("a0", "SELECT INBOX")
    out = r.ok("t1", "THREAD REFERENCES UTF-8 ALL")
    # 8 alone; 5 and 6 under the missing <gone@x>; 1 with replies 3, 2 (then 4),
    # and 7 joined by subject; the loop broken: 9 under 10 or 10 under 9.
    assert out[0] in (b"* THREAD (8)((5)(6))(1 (3)(2 4)(7))(9 10)",
                      b"* THREAD (8)((5)(6))(1 (3)(2 4)(7))(10 9)"), out
    out = r.ok("t2", "THREAD REFERENCES UTF-8 NOT SUBJECT Plan")
    assert out == [b"* THREAD (8)((5)(6))(9 10)"] or out == [b"* THREAD (8)((5)(6))(10 9)"], out
    out = r.ok("t3", "UID THREAD ORDEREDSUBJECT UTF-8 SUBJECT Solo")
    assert re.fullmatch(rb"\* THREAD \(\d+\)", out[0]), out
    _, bad = r.cmd("t4", "THREAD NOSUCH UTF-8 ALL")
    assert bad.startswith(b"t4 BAD")
    r.close()


MULTIPART = ("From: a@remote.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
             "--XX\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
             "--XX\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--XX--\r\n")


def literal(data):
    return b"{%d+}\r\n" % len(data) + data


def uidvalidity(raw, mailbox):
    out = raw.ok("v0", f"STATUS {mailbox} (UIDVALIDITY)")
    return int(re.search(rb"UIDVALIDITY (\d+)", out[0]).group(1))


def test_catenate(server):
    user, pw = server.add_user()
    other, other_pw = server.add_user()
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.sendmail("a@remote.test", [user], MULTIPART.encode())
        s.sendmail("a@remote.test", [other], MULTIPART.encode())
    r = Raw(server, user, pw)
    assert b"CATENATE" in r.ok("c0", "CAPABILITY")[0].split()
    v = uidvalidity(r, "INBOX")
    head = b"From: me@here.test\r\nSubject: forwarded part\r\n\r\nSee below:\r\n"
    _, done = r.cmd("c1", b"APPEND Drafts (\\Draft) CATENATE (TEXT " + literal(head) +
                    f' URL "/INBOX;UIDVALIDITY={v}/;UID=1/;SECTION=2" TEXT '.encode() +
                    literal(b"\r\n-- \r\nme\r\n") + b")")
    assert done.startswith(b"c1 OK [APPENDUID "), done
    uid = int(done.split()[4].rstrip(b"]"))
    assert r.body("Drafts", uid) == head + b"second part" + b"\r\n-- \r\nme\r\n"
    # A URL with PARTIAL, and the whole message
    _, done = r.cmd("c2", f'APPEND Drafts CATENATE (URL "/INBOX/;UID=1/;SECTION=1/;PARTIAL=0.5")'.encode())
    assert done.startswith(b"c2 OK"), done
    assert r.body("Drafts", uid + 1) == b"first"
    whole = r.body("INBOX", 1)
    _, done = r.cmd("c3", b'APPEND Drafts CATENATE (URL "/INBOX/;UID=1")')
    assert r.body("Drafts", uid + 2) == whole
    # Wrong UIDVALIDITY, no such message, someone else's mailbox, garbage: BADURL
    other_url = "imap://" + other.replace("@", "%40") + "@127.0.0.1/INBOX/;UID=1"
    for i, url in enumerate([f"/INBOX;UIDVALIDITY={v + 1}/;UID=1", "/INBOX/;UID=99",
                             other_url, "/INBOX/;UID=1/;SECTION=9", "nonsense"]):
        _, done = r.cmd(f"e{i}", f'APPEND Drafts CATENATE (TEXT {{1+}}\r\nx URL "{url}")'.encode())
        assert done.startswith(f"e{i} NO [BADURL".encode()), (url, done)
    _, done = r.cmd("e9", b"APPEND Drafts CATENATE (TEXT)")
    assert done.startswith(b"e9 BAD"), done
    r.close()


def test_urlauth(server):
    owner, owner_pw = server.add_user()
    friend, friend_pw = server.add_user()
    stranger, stranger_pw = server.add_user()
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.sendmail("a@remote.test", [owner], MULTIPART.encode())
    r = Raw(server, owner, owner_pw)
    assert b"URLAUTH" in r.ok("c0", "CAPABILITY")[0].split()
    v = uidvalidity(r, "INBOX")
    base = f"imap://{owner.replace('@', '%40')}@127.0.0.1/INBOX;UIDVALIDITY={v}/;UID=1/;SECTION=1"

    def sign(tag, rump):
        out = r.ok(tag, f'GENURLAUTH "{rump}" INTERNAL')
        [url] = re.findall(rb'"([^"]+)"', out[0])
        assert url.startswith(rump.encode() + b":internal:"), url
        return url.decode()

    for_friend = sign("g1", base + ";URLAUTH=user+" + friend.replace("@", "%40"))
    for_all = sign("g2", base + ";URLAUTH=authuser")
    expired = sign("g3", base + ";EXPIRE=2020-01-01T00:00:00Z;URLAUTH=authuser")
    tampered = for_all[:-1] + ("0" if for_all[-1] != "0" else "1")
    _, done = r.cmd("g4", f'GENURLAUTH "{base};URLAUTH=authuser" NOSUCHMECH')
    assert done.startswith(b"g4 NO"), done
    friend_url = "imap://" + friend.replace("@", "%40") + "@127.0.0.1/INBOX/;UID=1;URLAUTH=authuser"
    _, done = r.cmd("g5", f'GENURLAUTH "{friend_url}" INTERNAL')  # not the owner's mail
    assert done.startswith(b"g5 NO [BADURL"), done

    def fetch(raw, url):
        [resp] = raw.ok("u1", f'URLFETCH "{url}"')
        assert resp.startswith(b'* URLFETCH "' + url.encode() + b'" '), resp
        rest = resp[len(url) + 14:]
        return None if rest == b"NIL" else rest[rest.index(b"}\r\n") + 3:]

    f = Raw(server, friend, friend_pw)
    st = Raw(server, stranger, stranger_pw)
    assert fetch(f, for_friend) == b"first part"
    assert fetch(st, for_friend) is None          # user+friend only
    assert fetch(st, for_all) == b"first part"    # any authenticated user
    assert fetch(st, tampered) is None
    assert fetch(st, expired) is None
    assert fetch(st, base) is None                # not signed at all
    # CATENATE may use a URL signed for this user
    _, done = f.cmd("c1", f'APPEND INBOX CATENATE (URL "{for_friend}")'.encode())
    assert done.startswith(b"c1 OK"), done
    r.ok("k1", "RESETKEY INBOX")                  # the old URLs stop working
    assert fetch(f, for_friend) is None
    renewed = sign("g6", base + ";URLAUTH=authuser")
    assert renewed != for_all and fetch(st, renewed) == b"first part"
    r.ok("k2", "RESETKEY")
    assert fetch(st, renewed) is None
    for raw in (r, f, st):
        raw.close()


def wait_for(raw, pattern, seconds=3.0):
    """Reads unsolicited responses until one matches the regex; returns the
    responses read, the match last."""
    raw.sock.settimeout(seconds)
    seen = []
    try:
        while True:
            line = raw.response()
            seen.append(line)
            if re.search(pattern, line):
                return seen
    except (socket.timeout, TimeoutError):
        raise AssertionError(f"no {pattern!r} within {seconds}s; got {seen}")
    finally:
        raw.sock.settimeout(30)


def test_notify(server):
    user, pw = server.add_user()
    a, b = Raw(server, user, pw), Raw(server, user, pw)
    assert b"NOTIFY" in a.ok("c0", "CAPABILITY")[0].split()
    out = a.ok("n1", "NOTIFY SET STATUS (PERSONAL (MessageNew MessageExpunge FlagChange"
                     " MailboxName SubscriptionChange))")
    assert b'* STATUS "INBOX" (MESSAGES 0 UIDNEXT 1 UNSEEN 0)' in out, out
    assert any(line.startswith(b'* STATUS "Sent" ') for line in out), out

    deliver(server, user, ["Subject: pushed"])  # no command from a: it is told
    wait_for(a, rb'^\* STATUS "INBOX" \(MESSAGES 1 UIDNEXT 2 UNSEEN 1\)')
    b.ok("b1", "SELECT INBOX")
    b.ok("b2", "STORE 1 +FLAGS (\\Seen)")
    wait_for(a, rb'^\* STATUS "INBOX" \(MESSAGES 1 UIDNEXT 2 UNSEEN 0\)')
    b.ok("b3", "CREATE Projects")  # created subscribed
    wait_for(a, rb'^\* LIST \(\\Subscribed\) "/" "Projects"$')
    b.ok("b4", "RENAME Projects Archive2")
    wait_for(a, rb'^\* LIST \(\) "/" "Archive2" \("OLDNAME" \("Projects"\)\)$')
    b.ok("b5", "UNSUBSCRIBE Archive2")
    wait_for(a, rb'^\* LIST \(\) "/" "Archive2"$')
    b.ok("b6", "DELETE Archive2")
    wait_for(a, rb'^\* LIST \(\\NonExistent\) "/" "Archive2"$')

    # The selected mailbox: EXISTS and the FETCH items asked for, unasked.
    a.ok("a1", "SELECT INBOX")
    a.ok("n2", "NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge))"
               " (PERSONAL (MessageNew MessageExpunge))")
    deliver(server, user, ["Subject: second"])
    seen = wait_for(a, rb"^\* 2 FETCH \(UID 2 FLAGS \(\)\)$")
    assert b"* 2 EXISTS" in seen, seen
    b.ok("b7", "STORE 1 +FLAGS (\\Deleted)")
    b.ok("b8", "EXPUNGE")
    wait_for(a, rb"^\* 1 EXPUNGE$")

    # Refusals, and NOTIFY NONE
    _, done = a.cmd("n3", "NOTIFY SET (PERSONAL (AnnotationChange))")
    assert done.startswith(b"n3 NO [BADEVENT (MessageNew"), done
    _, done = a.cmd("n4", "NOTIFY SET (PERSONAL (FlagChange))")
    assert done.startswith(b"n4 BAD"), done
    _, done = a.cmd("n5", "NOTIFY SET (PERSONAL (MessageNew (BODY[]) MessageExpunge))")
    assert done.startswith(b"n5 BAD"), done
    a.ok("n6", "NOTIFY NONE")
    deliver(server, user, ["Subject: quiet"])
    with pytest.raises(AssertionError):
        wait_for(a, rb"EXISTS|STATUS|FETCH", seconds=1.5)
    out = a.ok("a2", "NOOP")  # the usual way still works
    assert b"* 2 EXISTS" in out, out
    a.close()
    b.close()


def test_imap4rev2(server):
    user, pw = server.add_user()
    deliver(server, user, ["Subject: one", "Subject: two"])
    r, old = Raw(server, user, pw), Raw(server, user, pw)
    caps = r.ok("c0", "CAPABILITY")[0].split()
    assert b"IMAP4rev2" in caps and b"IMAP4rev1" in caps and b"STATUS=SIZE" in caps
    assert r.ok("e1", "ENABLE IMAP4rev2") == [b"* ENABLED IMAP4rev2"]
    name = "Entwürfe"
    r.ok("m1", f'CREATE "{name}"'.encode())     # UTF-8 from a rev2 client
    listed = [line for line in old.ok("o1", 'LIST "" "Entw*"')]
    assert listed == [b'* LIST (\\HasNoChildren \\Subscribed) "/" "Entw&APw-rfe"'] or \
        listed == [b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"'], listed  # rev1 reads modified UTF-7
    listed = r.ok("m2", 'LIST "" "Entw*"')
    assert listed[0].endswith(b'"/" {9}\r\n' + name.encode()), listed
    _, done = r.cmd("m3", b'CREATE "bad\xff"')
    assert done.startswith(b"m3 NO"), done
    out = r.ok("s1", "SELECT INBOX")
    assert b'* LIST () "/" "INBOX"' in out and not any(b"RECENT" in line for line in out), out
    out = r.ok("s2", f'SELECT "{name}"'.encode())
    assert out[0] == b"* OK [CLOSED] Previous mailbox closed", out
    assert r.ok("a1", b"APPEND \"" + name.encode() + b"\" {5+}\r\nhi\r\n\r\n") == [b"* 1 EXISTS"]
    r.ok("s3", "SELECT INBOX")
    assert r.ok("q1", "SEARCH ALL") == [b'* ESEARCH (TAG "q1") ALL 1:2']
    assert r.ok("q2", "UID SEARCH SUBJECT nothing") == [b'* ESEARCH (TAG "q2") UID']
    r.ok("f1", "STORE 2 +FLAGS (\\Deleted)")
    out = r.ok("t1", f'STATUS "{name}" (MESSAGES SIZE DELETED)'.encode())
    assert out[0].endswith(b" (MESSAGES 1 SIZE 5 DELETED 0)"), out
    out = old.ok("t2", "STATUS INBOX (DELETED MESSAGES)")
    assert out == [b'* STATUS "INBOX" (DELETED 1 MESSAGES 2)'], out
    old.ok("o2", "SELECT INBOX")  # a rev1 session still hears RECENT and SEARCH
    assert old.ok("o3", "SEARCH DELETED") == [b"* SEARCH 2"]
    r.close()
    old.close()
