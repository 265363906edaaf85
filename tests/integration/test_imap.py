"""IMAP (the subset built so far) through imaplib and curl: TLS before login,
byte-exact BODY[], flags, expunge, two sessions seeing each other's changes, IDLE,
APPEND to Sent (stored, not transmitted), and hostile input."""
import hashlib
import imaplib
import os
import smtplib
import socket
import subprocess
import time
import uuid

import pytest

from conftest import tls_context, strip_trace


def deliver(server, user, body=b"", subject=None):
    subject = subject or uuid.uuid4().hex
    msg = f"Subject: {subject}\r\nFrom: a@remote.test\r\n\r\n".encode() + (body or b"hello\r\n")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.sendmail("a@remote.test", [user], msg)
    return msg


def login(server, user, pw):
    m = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=tls_context(), timeout=30)
    m.login(user, pw)
    return m


def test_login_needs_tls(server):
    user, pw = server.add_user()
    m = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    assert "LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        m.login(user, pw)
    m.starttls(ssl_context=tls_context())
    assert m.login(user, pw)[0] == "OK"
    typ, data = m.select("NoSuchBox")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    m.logout()


def test_wrong_password(server):
    user, _ = server.add_user()
    m = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=tls_context(), timeout=30)
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login(user, "wrong")
    assert b"AUTHENTICATIONFAILED" in str(e.value).encode()


def test_body_bytes_match_what_smtp_carried(server):
    user, pw = server.add_user()
    sent = deliver(server, user, body=b"x" * 998 + b"\r\n.\r\n" + "äöü\r\n".encode() * 50)
    m = login(server, user, pw)
    assert m.select("INBOX") == ("OK", [b"1"])
    _, data = m.fetch("1", "(BODY.PEEK[] RFC822.SIZE)")
    body = data[0][1]
    assert hashlib.sha256(strip_trace(body)).digest() == hashlib.sha256(sent).digest()
    assert f"RFC822.SIZE {len(body)})".encode() in data[1]
    _, data = m.fetch("1", "(BODY.PEEK[HEADER] BODY.PEEK[TEXT])")
    assert data[0][1] + data[1][1] == body
    _, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]  # PEEK does not set \Seen
    _, data = m.fetch("1", "(BODY[TEXT]<0.10>)")
    assert data[0][1] == b"x" * 10 and b"\\Seen" in data[1]
    m.logout()


def test_flags_expunge_and_uidplus(server):
    user, pw = server.add_user()
    for _ in range(3):
        deliver(server, user)
    m = login(server, user, pw)
    m.select("INBOX")
    assert m.store("1:2", "+FLAGS", "(\\Deleted \\Flagged)")[0] == "OK"
    assert m.store("2", "-FLAGS", "(\\Deleted)")[0] == "OK"
    _, data = m.fetch("1:3", "(FLAGS)")
    assert [b"\\Deleted" in d for d in data] == [True, False, False]
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"1"]
    _, data = m.uid("FETCH", "1:*", "(FLAGS)")
    assert [d.split(b"UID ")[1].split(b" ")[0] for d in data] == [b"2", b"3"]
    typ, data = m.append("Sent", "(\\Seen)", None, b"Subject: draft\r\n\r\nsaved\r\n")
    assert typ == "OK" and b"APPENDUID" in data[0]
    assert "draft" not in server.cli("queue", "list").stdout  # stored, not sent
    assert m.status("Sent", "(MESSAGES UNSEEN)")[1] == [b'"Sent" (MESSAGES 1 UNSEEN 0)']
    m.logout()


def test_two_sessions_see_each_others_changes(server):
    user, pw = server.add_user()
    deliver(server, user)
    deliver(server, user)
    a, b = login(server, user, pw), login(server, user, pw)
    a.select("INBOX")
    b.select("INBOX")
    b.untagged_responses.clear()
    a.store("1", "+FLAGS", "(\\Deleted)")
    a.expunge()
    a.store("1", "+FLAGS", "(\\Flagged)")
    deliver(server, user)
    typ, _ = b.noop()
    untagged = b.untagged_responses
    assert untagged.get("EXPUNGE") == [b"1"]
    assert untagged.get("EXISTS") == [b"2"]
    assert any(b"\\Flagged" in f for f in untagged.get("FETCH", []))
    a.logout()
    b.logout()


def test_idle_reports_delivery_within_a_second(server):
    user, pw = server.add_user()
    m = login(server, user, pw)
    m.select("INBOX")
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    assert m.readline().startswith(b"+")
    start = time.time()
    deliver(server, user)
    line = m.readline()
    elapsed = time.time() - start
    assert line == b"* 1 EXISTS\r\n", line
    assert elapsed < 1.5  # delivery commit + at most one 500 ms poll
    m.send(b"DONE\r\n")
    assert m.readline().startswith(tag + b" OK")
    m.logout()


def test_curl_fetches_a_message(server):
    user, pw = server.add_user()
    sent = deliver(server, user, subject="curl-imap")
    out = subprocess.run(["curl", "-sS", "--ssl-reqd", "-k", "-u", f"{user}:{pw}",
                          f"imap://127.0.0.1:{server.port('imap')}/INBOX;UID=1"],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert strip_trace(out.stdout) == sent


def raw_imap(server):
    sock = socket.create_connection(("127.0.0.1", server.port("imap")), timeout=30)
    f = sock.makefile("rb")
    assert f.readline().startswith(b"* OK")
    return sock, f


def test_bad_input_gets_bad_and_server_goes_on(server):
    sock, f = raw_imap(server)
    cases = [
        b"a1 FETCH (1\r\n",                      # unbalanced parentheses
        b"a2 NOOP " + b"(" * 100 + b"\r\n",      # deep nesting
        b"a3 LOGIN {999999999999}\r\n",          # literal larger than the limit
        b"a4 SELECT INBOX\r\n",                  # wrong state
        b"a5 FROBNICATE\r\n",                    # unknown
        b"a6 X \"open\r\n",                      # unterminated string
    ]
    for line in cases:
        sock.sendall(line)
        reply = f.readline()
        assert b" BAD " in reply, (line, reply)
    sock.sendall(b"a7 " + b"A" * (10 * 1024 * 1024) + b"\r\n")  # a 10 MB command line
    reply = f.readline()
    assert reply.startswith(b"a7 BAD") or reply.startswith(b"* BAD"), reply
    sock.sendall(b"a8 NOOP\r\n")
    assert f.readline().startswith(b"a8 OK")
    sock.sendall(b"a9 LOGOUT\r\n")
    assert f.readline().startswith(b"* BYE")


def test_nonsync_literal_too_large_closes(server):
    sock, f = raw_imap(server)
    sock.sendall(b"b1 APPEND INBOX {99999999999+}\r\n")
    assert b"BAD" in f.readline()
    assert f.readline().startswith(b"* BYE")


def test_mailbox_management(server):
    user, pw = server.add_user()
    m = login(server, user, pw)
    assert m.create("Projects/Alpha")[0] == "OK"
    assert m.create("Projects")[0] == "OK"
    assert m.create("Projects")[0] == "NO"
    assert m.create("inbox")[0] == "NO"
    assert m.create("bad*name")[0] == "NO"
    assert m.create("Caf&AOk-")[0] == "OK"        # modified UTF-7 for "Café"
    assert m.create("broken&AOk")[0] == "NO"      # unterminated base64 run
    _, names = m.list('""', "*")
    listing = b"\n".join(names)
    assert b'(\\HasChildren) "/" "Projects"' in listing
    assert b'(\\HasNoChildren) "/" "Projects/Alpha"' in listing
    _, names = m.list('""', "%")
    assert b"Projects/Alpha" not in b"\n".join(names)
    assert m.rename("Projects", "Archive")[0] == "OK"
    _, names = m.list('""', "Archive*")
    assert sorted(n.split(b'"/" ')[1] for n in names) == [b'"Archive"', b'"Archive/Alpha"']
    assert m.unsubscribe("Archive")[0] == "OK"
    _, subs = m.lsub('""', "Archive*")
    assert subs == [b'(\\HasChildren) "/" "Archive/Alpha"'] or b'"Archive"' not in b"".join(subs)
    assert m.delete("Archive/Alpha")[0] == "OK"
    assert m.delete("INBOX")[0] == "NO"
    assert m.select("Archive/Alpha")[0] == "NO"
    m.logout()


def test_copy_and_move_share_bytes(server):
    user, pw = server.add_user()
    sent = [deliver(server, user) for _ in range(3)]
    m = login(server, user, pw)
    m.create("Keep")
    m.select("INBOX")
    typ, data = m.copy("1:2", "Keep")
    assert typ == "OK" and data[0].startswith(b"[COPYUID ") and b" 1:2 1:2]" in data[0]
    m.untagged_responses.clear()
    typ, data = m.uid("MOVE", "3", "Keep")
    assert typ == "OK"
    assert m.untagged_responses.get("EXPUNGE") == [b"3"]
    assert m.select("Keep") == ("OK", [b"3"])
    _, data = m.fetch("1:3", "(BODY.PEEK[])")
    bodies = [strip_trace(d[1]) for d in data if isinstance(d, tuple)]
    assert bodies == sent
    assert m.select("INBOX") == ("OK", [b"2"])
    assert m.copy("1", "Nowhere")[0] == "NO"
    m.logout()


def test_search(server):
    user, pw = server.add_user()
    deliver(server, user, subject="Quarterly report", body=b"numbers inside\r\n")
    deliver(server, user, subject="lunch?", body=b"pizza or sushi\r\n")
    deliver(server, user, subject="Re: Quarterly report", body=b"Looks GOOD\r\n" + b"z" * 5000 + b"\r\n")
    m = login(server, user, pw)
    m.select("INBOX")
    m.store("2", "+FLAGS", "(\\Seen \\Flagged)")

    def search(*criteria, uid=False):
        typ, data = m.uid("SEARCH", *criteria) if uid else m.search(None, *criteria)
        assert typ == "OK", data
        return data[0].split()

    assert search("ALL") == [b"1", b"2", b"3"]
    assert search("SUBJECT", '"quarterly"') == [b"1", b"3"]
    assert search("BODY", "good") == [b"3"]
    assert search("TEXT", "pizza") == [b"2"]
    assert search("SEEN") == [b"2"] and search("UNSEEN") == [b"1", b"3"]
    assert search("OR", "FLAGGED", "LARGER", "4000") == [b"2", b"3"]
    assert search("NOT", "(SUBJECT quarterly)") == [b"2"]
    assert search("FROM", "a@remote.test", "SMALLER", "4000") == [b"1", b"2"]
    assert search("HEADER", "Subject", "lunch") == [b"2"]
    assert search("SINCE", "1-Jan-2000", "2:*") == [b"2", b"3"]
    assert search("BEFORE", "1-Jan-2000") == []
    assert search("UID", "2:3", uid=True) == [b"2", b"3"]
    assert m.search("CHARSET", "KOI8-R", "ALL")[0] == "NO"
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        m.search(None, "FROBNICATE")
    m.logout()


def test_envelope_bodystructure_and_parts(server):
    import base64
    import email.message
    import email.policy
    import re
    user, pw = server.add_user()
    attachment = bytes(range(256)) * 7
    msg = email.message.EmailMessage()
    msg["From"] = "Ann Example <ann@remote.test>"
    msg["To"] = f"{user}, Bob <bob@example.test>"
    msg["Subject"] = "Report attached"
    msg["Message-ID"] = "<m1@remote.test>"
    msg["Date"] = "Sat, 28 Nov 2026 05:00:00 +0000"
    msg.set_content("See the numbers.\n")
    msg.add_attachment(attachment, maintype="application", subtype="octet-stream",
                       filename="numbers.bin")
    inner = email.message.EmailMessage()
    inner["Subject"] = "forwarded"
    inner.set_content("inner text\n")
    msg.add_attachment(inner)
    raw = msg.as_bytes(policy=email.policy.SMTP)
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.sendmail("ann@remote.test", [user], raw)
    m = login(server, user, pw)
    m.select("INBOX")
    _, data = m.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
    text = data[0].decode()
    assert ('ENVELOPE ("Sat, 28 Nov 2026 05:00:00 +0000" "Report attached" '
            '(("Ann Example" NIL "ann" "remote.test"))') in text
    assert '"<m1@remote.test>")' in text
    sizes = [int(x) for x in re.findall(r'"(?:7bit|base64|8bit)" (\d+)', text, re.I)]
    assert '"mixed"' in text.lower() and '"message" "rfc822"' in text.lower()
    _, data = m.fetch("1", "(BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[3] BODY.PEEK[3.1] BODY.PEEK[2.MIME])")
    parts = [d[1] for d in data if isinstance(d, tuple)]
    assert parts[0] == b"See the numbers.\r\n"
    assert base64.b64decode(parts[1]) == attachment
    assert parts[3] == b"inner text\r\n"
    assert parts[2].startswith(b"Subject: forwarded") and parts[2].endswith(b"inner text\r\n")
    assert b"filename=\"numbers.bin\"" in parts[4] and parts[4].endswith(b"\r\n\r\n")
    # BODYSTRUCTURE sizes are the sizes of what BODY[n] returns.
    assert sizes[:3] == [len(parts[0]), len(parts[1]), len(parts[2])]
    _, data = m.fetch("1", "(BODY[9])")
    assert data[0][1] == b""  # no such part: an empty string
    # The summary is cached in the store after the first FETCH; the cached answer
    # is the same as the parsed one.
    import sqlite3
    db = sqlite3.connect(os.path.join(server.data, "sealpost.db"))
    for _ in range(50):
        if db.execute("SELECT COUNT(*) FROM message_mime").fetchone()[0] > 0:
            break
        time.sleep(0.1)
    assert db.execute("SELECT COUNT(*) FROM message_mime").fetchone()[0] > 0
    _, again = m.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
    assert again[0].decode() == text
    _, data = m.fetch("1", "(BODY.PEEK[2])")
    assert base64.b64decode(data[0][1]) == attachment
    m.logout()


def test_keywords(server):
    user, pw = server.add_user()
    deliver(server, user)
    deliver(server, user)
    m = login(server, user, pw)
    m.create("Labels")
    typ, data = m.select("INBOX")
    assert b"\\*" in b" ".join(m.untagged_responses.get("OK", []))  # PERMANENTFLAGS allows keywords
    other = login(server, user, pw)
    other.select("INBOX")
    other.untagged_responses.clear()
    typ, data = m.store("1", "+FLAGS", "($Label1 Work \\Flagged)")
    assert typ == "OK" and b"$Label1" in data[0] and b"Work" in data[0] and b"\\Flagged" in data[0]
    assert m.search(None, "KEYWORD", "work")[1] == [b"1"]
    assert m.search(None, "UNKEYWORD", "$Label1")[1] == [b"2"]
    assert m.search(None, "KEYWORD", "NeverUsed")[1] == [b""]
    typ, data = m.store("1", "-FLAGS", "(Work)")
    assert b"Work" not in data[0] and b"$Label1" in data[0]
    other.noop()
    assert any(b"$Label1" in f for f in other.untagged_responses.get("FETCH", []))
    m.copy("1", "Labels")
    typ, data = m.append("Labels", "(\\Seen Todo)", None, b"Subject: todo\r\n\r\nx\r\n")
    assert typ == "OK"
    m.select("Labels")
    _, data = m.fetch("1:2", "(FLAGS)")
    assert b"$Label1" in data[0] and b"\\Flagged" in data[0]
    assert b"Todo" in data[1] and b"\\Seen" in data[1]
    with pytest.raises(imaplib.IMAP4.error):
        m.store("1", "+FLAGS", "(\\Bogus)")
    m.logout()
    other.logout()


def test_condstore(server):
    import re
    user, pw = server.add_user()
    for _ in range(3):
        deliver(server, user)
    m = login(server, user, pw)
    assert "CONDSTORE" in m.capabilities and "ENABLE" in m.capabilities
    typ, data = m._simple_command("ENABLE", "CONDSTORE")
    assert typ == "OK" and m.untagged_responses.pop("ENABLED") == [b"CONDSTORE"]
    m.select("INBOX")
    highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(m.untagged_responses["OK"])).group(1))
    _, data = m.fetch("1:3", "(MODSEQ)")
    modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", d).group(1)) for d in data]
    assert max(modseqs) == highest
    typ, data = m.store("2", "+FLAGS", "(\\Flagged)")
    new = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
    assert new > highest
    _, data = m.fetch("1:*", f"(FLAGS) (CHANGEDSINCE {highest})")
    assert len(data) == 1 and data[0].startswith(b"2 (")
    # A conditional STORE on a message changed since fails and names it.
    typ, data = m._simple_command("STORE", "1:2", f"(UNCHANGEDSINCE {highest})", "+FLAGS", "(\\Seen)")
    assert typ == "OK" and b"[MODIFIED 2]" in data[0]
    m.untagged_responses.clear()
    _, data = m.fetch("2", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    _, data = m.search(None, "MODSEQ", str(new))  # message 2, and 1 changed after it
    assert data[0] == b"1 2 (MODSEQ %d)" % (new + 1)
    typ, data = m.status("INBOX", "(HIGHESTMODSEQ)")
    assert typ == "OK" and b"HIGHESTMODSEQ" in data[0]
    m.logout()


def test_esearch_and_capabilities(server):
    user, pw = server.add_user()
    for _ in range(5):
        deliver(server, user)
    m = login(server, user, pw)
    for cap in ("ESEARCH", "CHILDREN", "SPECIAL-USE", "MOVE", "UIDPLUS", "IDLE", "CONDSTORE"):
        assert cap in m.capabilities, cap
    assert any(c.startswith("APPENDLIMIT=") for c in m.capabilities)
    m.select("INBOX")
    m.store("2,4", "+FLAGS", "(\\Flagged)")
    typ, _ = m._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "UNFLAGGED")
    assert typ == "OK"
    [resp] = m.untagged_responses.pop("ESEARCH")
    assert resp.endswith(b") MIN 1 MAX 5 COUNT 3 ALL 1,3,5"), resp
    typ, _ = m._simple_command("UID", "SEARCH", "RETURN", "()", "FLAGGED")
    [resp] = m.untagged_responses.pop("ESEARCH")
    assert resp.endswith(b") UID ALL 2,4"), resp
    typ, _ = m._simple_command("SEARCH", "RETURN", "(COUNT)", "KEYWORD", "nothing")
    assert m.untagged_responses.pop("ESEARCH")[0].endswith(b" COUNT 0")
    with pytest.raises(imaplib.IMAP4.error):
        m._simple_command("SEARCH", "RETURN", "(PARTIAL)", "ALL")
    m.logout()


def test_quota_on_append_copy_and_delivery(server):
    user, pw = server.add_user()
    server.cli("user", "quota", user, "3000")
    deliver(server, user, body=b"x" * 1000 + b"\r\n")
    assert "quota: 3000" in server.cli("user", "show", user).stdout
    m = login(server, user, pw)
    assert "QUOTA" in m.capabilities
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK" and data[0] == [b'"INBOX" ""'] and b"STORAGE" in data[1][0]
    assert data[1][0].endswith(b" 2)")  # limit 3000 octets = 2 KiB
    typ, data = m.append("INBOX", None, None, b"Subject: big\r\n\r\n" + b"y" * 2500 + b"\r\n")
    assert typ == "NO" and b"OVERQUOTA" in data[0]
    m.select("INBOX")
    m.copy("1", "Trash")
    typ, data = m.copy("1", "Trash")
    assert typ == "NO" and b"OVERQUOTA" in data[0]
    assert m._simple_command("SETQUOTA", '""', "(STORAGE 10)")[0] == "NO"
    m.logout()
    server.cli("user", "quota", user, "2000")  # below what the mailboxes hold now
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.ehlo("client.test")
        s.mail("a@remote.test")
        code, reply = s.rcpt(user)
        assert (code, reply[:5]) == (452, b"4.2.2")
        s.rset()
        s.mail("a@remote.test", ["SIZE=5000"])
        code, reply = s.rcpt(user)
        assert (code, reply[:5]) == (552, b"5.2.2")
    server.cli("user", "quota", user, "default")
    deliver(server, user)  # the default (2 GiB) takes it


def test_multiappend_is_all_or_nothing(server):
    user, pw = server.add_user()
    m = login(server, user, pw)
    assert "MULTIAPPEND" in m.capabilities
    one, two = b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"
    tag = m._new_tag()
    m.send(tag + b" APPEND Drafts (\\Draft) {%d+}\r\n" % len(one) + one +
           b' (\\Seen Later) "28-Nov-2026 05:00:00 +0100" {%d+}\r\n' % len(two) + two + b"\r\n")
    line = m.readline()
    assert line.startswith(tag + b" OK [APPENDUID ") and b" 1:2]" in line, line
    m.select("Drafts")
    _, data = m.fetch("1:2", "(FLAGS INTERNALDATE BODY.PEEK[])")
    data = [d for d in data if isinstance(d, tuple)]
    assert b"\\Draft" in data[0][0] and b"Later" in data[1][0]
    assert b"28-Nov-2026 04:00:00 +0000" in data[1][0]
    assert data[0][1] == one and data[1][1] == two
    # A bad second message: nothing is stored.
    tag = m._new_tag()
    m.send(tag + b" APPEND Drafts {%d+}\r\n" % len(one) + one + b" (\\Bogus) {1+}\r\nx\r\n")
    assert m.readline().startswith(tag + b" BAD")
    assert m.status("Drafts", "(MESSAGES)")[1] == [b'"Drafts" (MESSAGES 2)']
    m.logout()


def test_list_extended_and_status(server):
    user, pw = server.add_user()
    deliver(server, user)
    m = login(server, user, pw)
    assert "LIST-EXTENDED" in m.capabilities and "LIST-STATUS" in m.capabilities
    m.create("Work")
    m.unsubscribe("Work")
    typ, data = m._simple_command("LIST", '""', "(INBOX Work)", "RETURN", "(STATUS (MESSAGES UNSEEN) SUBSCRIBED)")
    assert typ == "OK"
    lists = m.untagged_responses.pop("LIST")
    statuses = m.untagged_responses.pop("STATUS")
    assert lists == [b'(\\HasNoChildren \\Subscribed) "/" "INBOX"', b'(\\HasNoChildren) "/" "Work"']
    assert statuses == [b'"INBOX" (MESSAGES 1 UNSEEN 1)', b'"Work" (MESSAGES 0 UNSEEN 0)']
    typ, _ = m._simple_command("LIST", "(SUBSCRIBED)", '""', "*")
    names = [l.split(b'"/" ')[1] for l in m.untagged_responses.pop("LIST")]
    assert b'"Work"' not in names and b'"INBOX"' in names
    typ, _ = m._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
    assert sorted(l.split(b" ")[1].rstrip(b")") for l in m.untagged_responses.pop("LIST")) == \
        [b"\\Drafts", b"\\Junk", b"\\Sent", b"\\Trash"]
    with pytest.raises(imaplib.IMAP4.error):
        m._simple_command("LIST", "(RECURSIVEMATCH)", '""', "*")
    m.logout()


def test_searchres(server):
    user, pw = server.add_user()
    for _ in range(5):
        deliver(server, user)
    m = login(server, user, pw)
    assert "SEARCHRES" in m.capabilities
    m.select("INBOX")
    m.store("2,3,5", "+FLAGS", "(\\Flagged)")
    m.untagged_responses.clear()
    typ, _ = m._simple_command("SEARCH", "RETURN", "(SAVE)", "FLAGGED")
    assert typ == "OK" and "ESEARCH" not in m.untagged_responses
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()  # message numbers shift; "$" holds UIDs 2, 3, 5
    m.untagged_responses.clear()
    _, data = m.fetch("$", "(UID)")
    assert [d.split(b"UID ")[1].rstrip(b")") for d in data] == [b"2", b"3", b"5"]
    _, data = m.search(None, "$", "NOT", "UID", "3")
    assert data == [b"1 4"]
    typ, data = m.copy("$", "Trash")
    assert typ == "OK" and b" 2:3,5 " in data[0]
    m.logout()


def test_binary(server):
    import email.message
    import email.policy
    user, pw = server.add_user()
    blob = bytes(range(256)) * 4
    msg = email.message.EmailMessage()
    msg["Subject"] = "binary"
    msg.set_content("Grüße, café\n", cte="quoted-printable")
    msg.add_attachment(blob, maintype="application", subtype="octet-stream", filename="b.bin")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.sendmail("a@remote.test", [user], msg.as_bytes(policy=email.policy.SMTP))
    m = login(server, user, pw)
    assert "BINARY" in m.capabilities
    m.select("INBOX")
    tag = m._new_tag()
    m.send(tag + b" FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2] BINARY.PEEK[1])\r\n")
    head = m.readline()
    assert b"BINARY.SIZE[2] %d" % len(blob) in head and head.rstrip().endswith(b"~{%d}" % len(blob)), head
    assert m.file.read(len(blob)) == blob
    rest = m.readline()
    text = m.file.read(int(rest.rsplit(b"{", 1)[1].rstrip(b"}\r\n")))
    assert text == "Grüße, café\r\n".encode()
    m.readline()
    assert m.readline().startswith(tag + b" OK")
    # literal8 APPEND keeps NULs; BINARY[] of the whole message gives it back.
    raw = b"Subject: nul\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\r\n"
    tag = m._new_tag()
    m.send(tag + b" APPEND INBOX ~{%d+}\r\n" % len(raw) + raw + b"\r\n")
    line = m.readline()
    while line.startswith(b"* "):  # "* 2 EXISTS": the mailbox is selected
        line = m.readline()
    assert line.startswith(tag + b" OK"), line
    _, data = m.fetch("2", "(BINARY.PEEK[])")
    assert data[0][1] == raw
    raw = b"Subject: odd\r\nContent-Transfer-Encoding: x-martian\r\n\r\nzz\r\n"
    m.append("INBOX", None, None, raw)
    typ, data = m.fetch("3", "(BINARY.PEEK[1])")
    assert typ == "NO" and b"UNKNOWN-CTE" in data[0]
    m.logout()


def test_sort_and_thread(server):
    user, pw = server.add_user()
    msgs = [  # subject, date, from
        ("Re: Lunch", "Sat, 28 Nov 2026 10:00:00 +0000", "Zed <z@remote.test>"),
        ("Budget", "Sat, 28 Nov 2026 08:00:00 +0000", "amy@remote.test"),
        ("lunch", "Sat, 28 Nov 2026 09:00:00 +0000", "Bob Brown <bob@remote.test>"),
        ("Fwd: [team] LUNCH (fwd)", "Sat, 28 Nov 2026 11:00:00 +0000", "=?utf-8?q?=C3=81da?= <ada@remote.test>"),
    ]
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        for subject, date, frm in msgs:
            s.sendmail("a@remote.test", [user],
                       f"Subject: {subject}\r\nDate: {date}\r\nFrom: {frm}\r\n\r\nx\r\n".encode())
    m = login(server, user, pw)
    for cap in ("SORT", "SORT=DISPLAY", "THREAD=ORDEREDSUBJECT"):
        assert cap in m.capabilities
    m.select("INBOX")
    assert m.sort("(SUBJECT)", "UTF-8", "ALL")[1] == [b"2 1 3 4"]
    assert m.sort("(REVERSE DATE)", "UTF-8", "ALL")[1] == [b"4 1 3 2"]
    assert m.sort("(FROM)", "UTF-8", "ALL")[1] == [b"4 2 3 1"]          # ada amy bob z
    assert m.sort("(DISPLAYFROM)", "UTF-8", "ALL")[1] == [b"2 3 1 4"]   # amy, Bob Brown, Zed, Ada
    assert m.uid("SORT", "(SUBJECT DATE)", "UTF-8", "NOT", "SUBJECT", "budget")[1] == [b"3 1 4"]
    typ, data = m.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert data == [b"(2)(3 (1)(4))"], data
    with pytest.raises(imaplib.IMAP4.error):
        m.sort("(SUBJECT)", "KOI8-R", "ALL")
    m.logout()


def test_qresync(server):
    import re
    user, pw = server.add_user()
    for _ in range(4):
        deliver(server, user)
    m = login(server, user, pw)
    assert "QRESYNC" in m.capabilities
    m._simple_command("ENABLE", "QRESYNC")
    assert m.untagged_responses.pop("ENABLED") == [b"QRESYNC"]
    m.select("INBOX")
    oks = b" ".join(m.untagged_responses["OK"])
    validity = int(re.search(rb"UIDVALIDITY (\d+)", oks).group(1))
    highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", oks).group(1))
    other = login(server, user, pw)
    other.select("INBOX")
    other.store("2", "+FLAGS", "(\\Deleted)")
    other.expunge()
    other.store("2", "+FLAGS", "(\\Flagged)")  # UID 3 is now number 2
    other.logout()
    deliver(server, user)
    m.untagged_responses.clear()
    typ, _ = m._simple_command("SELECT", "INBOX", f"(QRESYNC ({validity} {highest} 1:10))")
    assert typ == "OK"
    assert m.untagged_responses.get("VANISHED") == [b"(EARLIER) 2"]
    fetches = m.untagged_responses.get("FETCH", [])
    assert any(b"UID 3 FLAGS (\\Flagged)" in f for f in fetches)
    assert any(b"UID 5 " in f for f in fetches)
    assert b"CLOSED" in b" ".join(m.untagged_responses.get("OK", []))
    m.untagged_responses.clear()
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    assert m.untagged_responses.get("VANISHED") == [b"1"]
    assert "EXPUNGE" not in m.untagged_responses
    m.untagged_responses.clear()
    typ, _ = m._simple_command("UID", "FETCH", "1:*", "(FLAGS)", f"(CHANGEDSINCE {highest} VANISHED)")
    assert typ == "OK" and m.untagged_responses.get("VANISHED") == [b"(EARLIER) 1:2"]
    m.logout()


def test_full_text_index(server):
    import email.message
    import email.policy
    import sqlite3
    user, pw = server.add_user()
    msg = email.message.EmailMessage()
    msg["Subject"] = "encoded"
    msg.set_content("The quarterly figures for Übersee are in.\n", cte="base64")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.sendmail("a@remote.test", [user], msg.as_bytes(policy=email.policy.SMTP))
    deliver(server, user, body=b"nothing to see\r\n")
    db = sqlite3.connect(os.path.join(server.data, "sealpost.db"))
    for _ in range(50):  # the index is filled just after delivery, in the background
        if db.execute("SELECT COUNT(*) FROM messages WHERE indexed = 0").fetchone()[0] == 0:
            break
        time.sleep(0.1)
    assert db.execute("SELECT COUNT(*) FROM messages WHERE indexed = 0").fetchone()[0] == 0
    m = login(server, user, pw)
    m.select("INBOX")
    # The words exist only base64-encoded in the stored bytes: only the index finds them.
    assert m.search(None, "BODY", "QUARTERLY")[1] == [b"1"]
    assert m.search("UTF-8", "TEXT", "übersee".encode())[1] == [b"1"]
    assert m.search(None, "BODY", "see")[1] == [b"1 2"]
    assert m.search(None, "NOT", "BODY", "quarterly")[1] == [b"2"]
    assert m.search(None, "BODY", "xy")[1] == [b""]  # too short for trigrams: scanned
    m.logout()
