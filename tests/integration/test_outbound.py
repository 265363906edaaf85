"""Outbound delivery between two Sealpost instances on loopback (alpha.test and
beta.test, each with a transport pointing at the other): both directions, bytes
intact; a receiver that is down; a permanent failure returned as a DSN; the queue
and transport commands. Clients: smtplib, poplib and the sealpost CLI."""
import email
import hashlib
import smtplib
import tempfile
import time
import uuid

import pytest

from conftest import Server, stop_and_check, tls_context

FAST_RETRY = {"queue_retry_min": "1", "queue_retry_max": "2"}


@pytest.fixture(scope="module")
def pair():
    alpha = Server(tempfile.mkdtemp(prefix="sealpost-alpha-"), FAST_RETRY, domain="alpha.test").start()
    beta = Server(tempfile.mkdtemp(prefix="sealpost-beta-"), FAST_RETRY, domain="beta.test").start()
    alpha.cli("transport", "add", "beta.test", f"smtp:127.0.0.1:{beta.port('smtp')}")
    beta.cli("transport", "add", "alpha.test", f"smtp:127.0.0.1:{alpha.port('smtp')}")
    yield alpha, beta
    stop_and_check(alpha)
    stop_and_check(beta)


def submit(server, user, password, rcpts, body):
    subject = uuid.uuid4().hex
    msg = (f"From: <{user}>\r\nTo: <{rcpts[0]}>\r\nSubject: {subject}\r\n"
           f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           f"Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + body
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as s:
        s.starttls(context=tls_context())
        s.login(user, password)
        assert s.sendmail(user, rcpts, msg) == {}
    return subject, msg


def strip_received(message):
    """The message without the Received fields the servers on its way added."""
    lines = message.split(b"\r\n")
    i = 0
    while lines[i].startswith(b"Received: "):
        i += 1
        while lines[i].startswith((b"\t", b" ")):
            i += 1
    return b"\r\n".join(lines[i:])


def tried_row(server, recipient, seconds=10):
    """The queue row (the columns of `queue list`) for recipient, once it has been
    tried at least once."""
    deadline = time.time() + seconds
    while True:
        rows = [line.split("\t") for line in server.cli("queue", "list").stdout.splitlines()
                if recipient in line]
        if rows and int(rows[0][4]) >= 1:
            return rows[0]
        assert time.time() < deadline, rows
        time.sleep(0.3)


def wait_for_messages(server, user, password, count, seconds=15):
    deadline = time.time() + seconds
    while True:
        got = server.fetch_all(user, password)
        if len(got) >= count or time.time() > deadline:
            return got
        time.sleep(0.2)


def test_mail_crosses_both_ways_byte_for_byte(pair):
    alpha, beta = pair
    a, apw = alpha.add_user()
    b, bpw = beta.add_user()
    body = ("Grüße, ünïcode and a line with a dot:\r\n.\r\n..two dots\r\n" + "x" * 990 + "\r\n").encode()
    _, sent = submit(alpha, a, apw, [b], body)
    [got] = wait_for_messages(beta, b, bpw, 1)
    assert hashlib.sha256(strip_received(got)).digest() == hashlib.sha256(sent).digest()
    assert got.count(b"Received: ") >= 2  # alpha's trace, then beta's
    _, sent = submit(beta, b, bpw, [a], b"and back\r\n")
    [got] = wait_for_messages(alpha, a, apw, 1)
    assert strip_received(got) == sent
    assert alpha.cli("queue", "list").stdout == ""  # delivered rows leave the queue


def test_receiver_down_then_back(pair):
    alpha, beta = pair
    a, apw = alpha.add_user()
    b, bpw = beta.add_user()
    beta.stop()
    try:
        subject, _ = submit(alpha, a, apw, [b], b"patience\r\n")
        qid = tried_row(alpha, b)[0]  # tried, failed, waiting with the reason
        shown = alpha.cli("queue", "show", qid).stdout
        assert "last error: cannot connect to" in shown, shown
    finally:
        beta.start(same_ports=True)
    alpha.cli("queue", "flush")
    [got] = wait_for_messages(beta, b, bpw, 1)
    assert subject.encode() in got


def test_permanent_failure_comes_back_as_a_dsn(pair):
    alpha, beta = pair
    a, apw = alpha.add_user()
    nobody = f"nobody{uuid.uuid4().hex[:6]}@beta.test"
    subject, _ = submit(alpha, a, apw, [nobody], b"to no one\r\n")
    [report] = wait_for_messages(alpha, a, apw, 1)
    msg = email.message_from_bytes(report)
    assert msg.get_content_type() == "multipart/report"
    assert msg["From"].startswith("Mail Delivery System <MAILER-DAEMON@")
    text, status, headers = msg.get_payload()
    fields = dict(status.get_payload()[1].items())
    assert fields["Final-Recipient"] == f"rfc822; {nobody}"
    assert fields["Action"] == "failed" and fields["Status"] == "5.1.1"
    assert fields["Diagnostic-Code"].startswith("smtp; 550 5.1.1")
    assert fields["Remote-MTA"].startswith("dns; 127.0.0.1[127.0.0.1]")
    assert f"Subject: {subject}" in headers.get_payload()
    assert nobody not in alpha.cli("queue", "list").stdout


def test_queue_commands(pair):
    alpha, beta = pair
    a, apw = alpha.add_user()
    alpha.cli("transport", "add", "gamma.test", "smtp:127.0.0.1:9")  # nothing listens there
    submit(alpha, a, apw, ["x@gamma.test", "y@gamma.test"], b"stuck\r\n")
    time.sleep(1)
    rows = [line.split("\t") for line in alpha.cli("queue", "list").stdout.splitlines() if "gamma.test" in line]
    assert len(rows) == 2
    alpha.cli("queue", "retry", rows[0][0])
    alpha.cli("queue", "remove", rows[1][0])
    left = [line for line in alpha.cli("queue", "list").stdout.splitlines() if "gamma.test" in line]
    assert len(left) == 1 and left[0].startswith(rows[0][0] + "\t")
    assert alpha.cli("queue", "show", rows[1][0], check=False).returncode != 0
    assert alpha.cli("queue", "remove", "99999999", check=False).returncode != 0
    listed = alpha.cli("transport", "list").stdout
    assert "gamma.test\tsmtp:127.0.0.1:9\ttls=may" in listed and "beta.test" in listed
    alpha.cli("transport", "remove", "gamma.test")
    assert "gamma.test" not in alpha.cli("transport", "list").stdout
    alpha.cli("queue", "remove", rows[0][0])
    bad = alpha.cli("transport", "add", "x.test", "smtp:nowhere", check=False)
    assert bad.returncode != 0 and "smtp:HOST:PORT" in bad.stderr


def test_tls_policies(pair):
    alpha, beta = pair
    a, apw = alpha.add_user()
    b, bpw = beta.add_user()
    port = beta.port("smtp")
    try:
        # verify: beta's certificate is self-signed, so nothing goes, and the reason is kept
        alpha.cli("transport", "add", "beta.test", f"smtp:127.0.0.1:{port}", "--tls", "verify")
        submit(alpha, a, apw, [b], b"only over verified TLS\r\n")
        shown = alpha.cli("queue", "show", tried_row(alpha, b)[0]).stdout
        assert "TLS with 127.0.0.1[127.0.0.1] failed: certificate verify failed" in shown, shown
        # encrypt: TLS without verification goes through, and beta saw TLS
        alpha.cli("transport", "add", "beta.test", f"smtp:127.0.0.1:{port}", "--tls", "encrypt")
        alpha.cli("queue", "flush")
        [got] = wait_for_messages(beta, b, bpw, 1)
        assert b"with ESMTPS id" in got.split(b"\r\n\r\n")[0]
    finally:
        alpha.cli("transport", "add", "beta.test", f"smtp:127.0.0.1:{port}")


@pytest.fixture(scope="module")
def lonely():
    srv = Server(tempfile.mkdtemp(prefix="sealpost-lonely-"),
                 {**FAST_RETRY, "delay_warning": "1", "queue_lifetime": "6"}, domain="lonely.test").start()
    srv.cli("transport", "add", "nowhere.test", "smtp:127.0.0.1:9")  # nothing listens there
    yield srv
    stop_and_check(srv)


def test_delay_warning_then_expiry(lonely):
    user, pw = lonely.add_user()
    submit(lonely, user, pw, ["far@nowhere.test"], b"will not arrive\r\n")
    reports = wait_for_messages(lonely, user, pw, 2, seconds=30)
    assert len(reports) == 2, reports
    actions = []
    for report in reports:
        status = email.message_from_bytes(report).get_payload()[1]
        fields = dict(status.get_payload()[1].items())
        assert fields["Final-Recipient"] == "rfc822; far@nowhere.test"
        actions.append((fields["Action"], fields["Status"]))
        assert "cannot connect to 127.0.0.1[127.0.0.1]" in fields["Diagnostic-Code"]
    assert actions[0][0] == "delayed" and actions[0][1].startswith("4.")
    assert actions[1] == ("failed", "4.4.7")  # expired
    assert "far@nowhere.test" not in lonely.cli("queue", "list").stdout


class OldServer:
    """A minimal SMTP server on loopback without 8BITMIME or PIPELINING (a
    fixture: the client under test is Sealpost's). Keeps what it received."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = []  # (sender, [rcpts], data with the dot-stuffing undone)
        self.commands = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        import threading
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 old.test ESMTP\r\n")
        sender, rcpts = None, []
        for line in f:
            cmd = line.rstrip(b"\r\n")
            self.commands.append(cmd)
            verb = cmd[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-old.test\r\n250 SIZE 10000000\r\n")
            elif verb == b"MAIL":
                sender, rcpts = cmd, []
                conn.sendall(b"250 ok\r\n")
            elif verb == b"RCPT":
                rcpts.append(cmd)
                conn.sendall(b"250 ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                lines = []
                for data_line in f:
                    if data_line == b".\r\n":
                        break
                    lines.append(data_line[1:] if data_line.startswith(b".") else data_line)
                self.received.append((sender, rcpts, b"".join(lines)))
                conn.sendall(b"250 stored\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            else:
                conn.sendall(b"250 ok\r\n")
        conn.close()


SIGNED_8BIT = ("MIME-Version: 1.0\r\n"
               "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
               " micalg=sha-256; boundary=S\r\n\r\n"
               "--S\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
               "Signed Grüße\r\n"
               "--S\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\r\n--S--\r\n").encode()


def test_8bit_to_a_7bit_server_converted_unless_signed(pair):
    import quopri
    alpha, _ = pair
    old = OldServer()
    alpha.cli("transport", "add", "old.test", f"smtp:127.0.0.1:{old.port}", "--tls", "none")
    a, apw = alpha.add_user()
    try:
        plain = b"plain ASCII\r\n.leading dot\r\n..two\r\n"
        _, sent = submit(alpha, a, apw, ["x@old.test"], plain)
        deadline = time.time() + 15
        while len(old.received) < 1 and time.time() < deadline:
            time.sleep(0.1)
        [(mail, rcpts, data)] = old.received
        assert mail.startswith(b"MAIL FROM:<" + a.encode() + b">") and b"BODY=8BITMIME" not in mail
        assert strip_received(data) == sent  # 7-bit: sent as stored, the dots undone by the receiver

        text = "8-bit text: Grüße, déjà vu\r\n".encode()
        submit(alpha, a, apw, ["y@old.test"], text)  # 8bit text/plain: made quoted-printable
        while len(old.received) < 2 and time.time() < deadline + 15:
            time.sleep(0.1)
        converted = old.received[1][2]
        assert max(converted) < 128
        head, body = converted.split(b"\r\n\r\n", 1)
        assert b"Content-Transfer-Encoding: quoted-printable" in head
        assert quopri.decodestring(body).replace(b"\n", b"\r\n").replace(b"\r\r", b"\r") == text

        with smtplib.SMTP("127.0.0.1", alpha.port("submission"), timeout=30) as s:
            s.starttls(context=tls_context())
            s.login(a, apw)
            s.sendmail(a, ["z@old.test"], b"Subject: signed\r\n" + SIGNED_8BIT)
        [report] = wait_for_messages(alpha, a, apw, 1)
        fields = dict(email.message_from_bytes(report).get_payload()[1].get_payload()[1].items())
        assert fields["Final-Recipient"] == "rfc822; z@old.test"
        assert fields["Status"] == "5.6.3" and "signature" in fields["Diagnostic-Code"]
        assert len(old.received) == 2  # the signed one never went, altered or not
    finally:
        alpha.cli("transport", "remove", "old.test")


def pop3_count(server, user, password):
    p = server.pop3(user, password)
    count, _ = p.stat()
    p.quit()
    return count


def alpha_ids_at(beta, user, password):
    """For each message in the user's mailbox at beta: the id alpha's trace header
    gave it (alpha's queue knows messages by that id)."""
    import re
    p = beta.pop3(user, password)
    count, _ = p.stat()
    ids = []
    for i in range(1, count + 1):
        _, lines, _ = p.top(i, 0)
        found = re.search(rb"with ESMTPSA id ([0-9a-f]+)", b"\n".join(lines))
        ids.append(found.group(1).decode())
    p.quit()
    return ids


def test_kill9_during_delivery_loses_nothing(pair):
    """kill -9 in the middle of delivery: after the restart every message arrives
    at least once, and none whose delivery alpha had recorded is sent again."""
    from collections import Counter
    alpha, beta = pair
    a, apw = alpha.add_user()
    b, bpw = beta.add_user()
    beta.stop()
    with smtplib.SMTP("127.0.0.1", alpha.port("submission"), timeout=30) as s:
        s.starttls(context=tls_context())
        s.login(a, apw)
        for i in range(40):
            s.sendmail(a, [b], f"Subject: {uuid.uuid4().hex}\r\n\r\n".encode() + b"z" * 200000 + b"\r\n")
    queued = {line.split("\t")[1] for line in alpha.cli("queue", "list").stdout.splitlines() if b in line}
    assert len(queued) == 40
    beta.start(same_ports=True)
    alpha.cli("queue", "flush")
    deadline = time.time() + 30
    while pop3_count(beta, b, bpw) < 5 and time.time() < deadline:
        time.sleep(0.05)
    alpha.kill9()  # in the middle of it
    time.sleep(1)  # beta finishes what it had in hand
    before = Counter(alpha_ids_at(beta, b, bpw))
    pending = {line.split("\t")[1] for line in alpha.cli("queue", "list").stdout.splitlines() if b in line}
    recorded = queued - pending  # deliveries alpha had committed before it died
    alpha.start(same_ports=True)
    alpha.cli("queue", "flush")
    deadline = time.time() + 60
    while set(alpha_ids_at(beta, b, bpw)) != queued and time.time() < deadline:
        time.sleep(0.3)
    time.sleep(1)
    after = Counter(alpha_ids_at(beta, b, bpw))
    assert set(after) == queued  # every message at least once
    assert all(after[m] == before[m] for m in recorded)  # recorded ones never again
    assert all(before[m] >= 1 for m in recorded)
    assert b not in alpha.cli("queue", "list").stdout


class FakeDNS:
    """A DNS responder on loopback for the MX tests (a fixture: Sealpost is the
    client). zone maps (name, type) to answers: MX as (preference, host), A as
    "127.0.0.1"; names not in it are NXDOMAIN, known names without the type NODATA."""

    def __init__(self, zone):
        import socket
        import threading
        self.zone = zone
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    @staticmethod
    def name(text):
        return b"".join(bytes([len(p)]) + p.encode() for p in text.split(".") if p) + b"\0"

    def serve(self):
        import struct
        while True:
            data, peer = self.sock.recvfrom(512)
            qid = struct.unpack(">H", data[:2])[0]
            pos, labels = 12, []
            while data[pos]:
                labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
                pos += 1 + data[pos]
            qtype = struct.unpack(">H", data[pos + 1:pos + 3])[0]
            question, qname = data[12:pos + 5], ".".join(labels).lower()
            kind = {1: "A", 15: "MX"}.get(qtype)
            answers = self.zone.get((qname, kind), [])
            known = any(n == qname for n, _ in self.zone)
            rr = b""
            for a in answers:
                rdata = (struct.pack(">H", a[0]) + self.name(a[1])) if kind == "MX" else bytes(
                    int(x) for x in a.split("."))
                rr += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 60, len(rdata)) + rdata
            flags = 0x8180 if known else 0x8183
            self.sock.sendto(struct.pack(">HHHHHH", qid, flags, 1, len(answers), 0, 0) + question + rr, peer)


def test_mx_routing_null_mx_and_missing_domains(pair):
    alpha, beta = pair
    dns = FakeDNS({
        ("beta.test", "MX"): [(20, "backup.beta.test"), (10, "mx.beta.test")],
        ("mx.beta.test", "A"): ["127.0.0.1"],
        ("backup.beta.test", "A"): ["127.0.0.1"],
        ("nullmx.test", "MX"): [(0, ".")],
        ("amx.test", "A"): ["127.0.0.1"],  # no MX: the domain's own address (RFC 5321 5.1)
    })
    mx_user = Server(tempfile.mkdtemp(prefix="sealpost-mx-"),
                     {**FAST_RETRY, "dns_servers": f"127.0.0.1:{dns.port}",
                      "smtp_client_port": str(beta.port("smtp"))}, domain="gamma.test").start()
    try:
        g, gpw = mx_user.add_user()
        b, bpw = beta.add_user()
        subject, _ = submit(mx_user, g, gpw, [b], b"found by MX\r\n")
        [got] = wait_for_messages(beta, b, bpw, 1)
        assert subject.encode() in got and b"by mail.beta.test" in got
        submit(mx_user, g, gpw, ["x@nullmx.test", "y@no-such-domain.test", "z@amx.test"], b"nowhere\r\n")
        statuses, remotes = {}, {}
        deadline = time.time() + 20
        while len(statuses) < 3 and time.time() < deadline:
            for report in mx_user.fetch_all(g, gpw):
                for block in email.message_from_bytes(report).get_payload()[1].get_payload()[1:]:
                    statuses[block["Final-Recipient"]] = block["Status"]
                    remotes[block["Final-Recipient"]] = block["Remote-MTA"]
            time.sleep(0.3)
        assert statuses == {"rfc822; x@nullmx.test": "5.1.10", "rfc822; y@no-such-domain.test": "5.1.2",
                            "rfc822; z@amx.test": "5.7.1"}, statuses  # beta, found by A, relays for no one
        assert remotes["rfc822; z@amx.test"] == "dns; amx.test[127.0.0.1]"

        # A TLS policy for a domain reached by MX: verify (beta's certificate is self-signed)
        mx_user.cli("policy", "add", "tls_verify", "beta.test")
        submit(mx_user, g, gpw, [b], b"verified or not at all\r\n")
        assert "certificate verify failed" in mx_user.cli("queue", "show", tried_row(mx_user, b)[0]).stdout
        mx_user.cli("policy", "remove", "tls_verify", "beta.test")
        mx_user.cli("policy", "add", "tls_encrypt", "beta.test")
        mx_user.cli("queue", "flush")
        got = wait_for_messages(beta, b, bpw, 2)
        assert len(got) == 2 and b"with ESMTPS id" in got[1]
    finally:
        stop_and_check(mx_user)


def test_smart_host_with_auth(pair):
    alpha, beta = pair
    a, apw = alpha.add_user()
    b, bpw = beta.add_user()
    relay_user, relay_pw = beta.add_user()  # alpha's account at the smart host
    submission = f"smtp:127.0.0.1:{beta.port('submission')}"
    alpha.cli("transport", "remove", "beta.test")
    try:
        alpha.cli("transport", "add", "*", submission, "--auth", relay_user, "--password-stdin",
                  stdin="wrong\n")
        submit(alpha, a, apw, [b], b"via the smart host\r\n")
        assert "refused our credentials: 535 5.7.8" in alpha.cli("queue", "show", tried_row(alpha, b)[0]).stdout
        alpha.cli("transport", "add", "*", submission, "--auth", relay_user, "--password-stdin",
                  stdin=relay_pw + "\n")
        assert "*\tsmtp:127.0.0.1" in alpha.cli("transport", "list").stdout
        alpha.cli("queue", "flush")
        [got] = wait_for_messages(beta, b, bpw, 1)
        assert b"with ESMTPSA" in got  # over TLS, authenticated
    finally:
        alpha.cli("transport", "remove", "*")
        alpha.cli("transport", "add", "beta.test", f"smtp:127.0.0.1:{beta.port('smtp')}")
