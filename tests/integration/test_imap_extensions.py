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
        self.f = self.sock.makefile("rb")
        assert self.f.readline().startswith(b"* OK")
        if user:
            self.ok("l1", f'LOGIN "{user}" "{pw}"')

    def cmd(self, tag, text):
        """Sends one command; returns (untagged lines, tagged line)."""
        self.sock.sendall(f"{tag} {text}\r\n".encode())
        untagged = []
        while True:
            line = self.f.readline()
            assert line, "connection closed"
            line = line.rstrip(b"\r\n")
            if line.startswith(tag.encode() + b" "):
                return untagged, line
            untagged.append(line)

    def ok(self, tag, text):
        untagged, done = self.cmd(tag, text)
        assert done.startswith(f"{tag} OK".encode()), (text, done)
        return untagged

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
