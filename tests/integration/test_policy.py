"""The controls against unsolicited mail and relaying (`sealpost policy`): each one
tripped, and normal mail still flowing, through smtplib. Changes are made while the
server runs and must apply within a second. The DNS block list is served by a small
DNS responder on loopback (a fixture: the server is the client here)."""
import base64
import imaplib
import poplib
import socket
import struct
import tempfile
import threading
import time
import uuid

import pytest
import smtplib

from conftest import DOMAIN, Server, stop_and_check, tls_context


class BlockListDNS:
    """Answers A queries for names under bl.test: 127.0.0.2 for the listed
    address (127.0.0.1, asked as 1.0.0.127.bl.test), NXDOMAIN for the rest."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.listed = "1.0.0.127.bl.test"
        self.queries = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            qid, flags, qd = struct.unpack(">HHH", data[:6])
            pos, labels = 12, []
            while data[pos]:
                labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
                pos += 1 + data[pos]
            qtype = struct.unpack(">H", data[pos + 1:pos + 3])[0]
            question = data[12:pos + 5]
            name = ".".join(labels).lower()
            self.queries.append(name)
            if name == self.listed and qtype == 1:
                answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([127, 0, 0, 2])
                reply = struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer
            elif name == self.listed:
                reply = struct.pack(">HHHHHH", qid, 0x8180, 1, 0, 0, 0) + question  # no AAAA
            else:
                reply = struct.pack(">HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question  # NXDOMAIN
            self.sock.sendto(reply, peer)


@pytest.fixture(scope="module")
def dns():
    return BlockListDNS()


@pytest.fixture(scope="module")
def server(dns):
    srv = Server(tempfile.mkdtemp(prefix="sealpost-policy-"), {"dns_servers": f"127.0.0.1:{dns.port}"}).start()
    yield srv
    stop_and_check(srv)


def policy(server, *words, check=True):
    out = server.cli("policy", *words, check=check)
    time.sleep(1.2)  # settings are read once a second; lists at once
    return out


def connect(server):
    s = smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30)
    s.ehlo("client.test")
    return s


def test_relay_networks(server):
    with connect(server) as s:
        s.mail("someone@remote.test")
        assert s.rcpt("far@remote.test")[0] == 554  # no relaying by default
    policy(server, "add", "relay_networks", "127.0.0.0/8")
    try:
        with connect(server) as s:
            s.mail("someone@remote.test")
            assert s.rcpt("far@remote.test")[0] == 250
            s.rset()
    finally:
        policy(server, "remove", "relay_networks", "127.0.0.0/8")
    with connect(server) as s:
        s.mail("someone@remote.test")
        assert s.rcpt("far@remote.test")[0] == 554


def test_client_block_and_allow(server):
    policy(server, "add", "client_block", "127.0.0.0/8")
    try:
        s = smtplib.SMTP(timeout=30)
        code, msg = s.connect("127.0.0.1", server.port("smtp"))
        assert code == 554 and b"5.7.1" in msg and b"client_block 127.0.0.0/8" in msg, msg
        s.close()
        policy(server, "add", "client_allow", "127.0.0.1")  # allowed beats blocked
        with connect(server) as s:
            assert s.noop()[0] == 250
    finally:
        policy(server, "remove", "client_block", "127.0.0.0/8")
        policy(server, "remove", "client_allow", "127.0.0.1")


def test_helo_block(server):
    policy(server, "add", "helo_block", "*.spam.test")
    try:
        with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
            code, msg = s.ehlo("mx1.spam.test")
            assert code == 550 and b"helo_block *.spam.test" in msg
            assert s.ehlo("mx1.fine.test")[0] == 250
    finally:
        policy(server, "remove", "helo_block", "*.spam.test")


def test_sender_block_allow_and_recipient_block(server):
    user, _ = server.add_user()
    other, _ = server.add_user()
    policy(server, "add", "sender_block", "@spam.test")
    policy(server, "add", "sender_allow", "good@spam.test")
    policy(server, "add", "recipient_block", user)
    try:
        with connect(server) as s:
            code, msg = s.mail("bad@spam.test")
            assert code == 550 and b"sender_block @spam.test" in msg
            assert s.mail("good@spam.test")[0] == 250  # on the allow list
            code, msg = s.rcpt(user)
            assert code == 550 and b"recipient_block" in msg
            assert s.rcpt(other)[0] == 250
            s.data(b"Subject: still flows\r\n\r\nhi\r\n")
    finally:
        policy(server, "remove", "sender_block", "@spam.test")
        policy(server, "remove", "sender_allow", "good@spam.test")
        policy(server, "remove", "recipient_block", user)


def test_size_and_recipient_limits_change_while_running(server):
    users = [server.add_user()[0] for _ in range(3)]
    policy(server, "set", "message_size_max", "2000")
    policy(server, "set", "recipients_max", "2")
    try:
        with connect(server) as s:
            assert s.esmtp_features["size"] == "2000"
            code, msg = s.docmd("MAIL FROM:<a@remote.test> SIZE=5000")
            assert code == 552
            s.mail("a@remote.test")
            assert [s.rcpt(u)[0] for u in users] == [250, 250, 452]
            s.rset()
    finally:
        policy(server, "set", "message_size_max", "default")
        policy(server, "set", "recipients_max", "default")
    with connect(server) as s:
        assert int(s.esmtp_features["size"]) > 1000000


def test_connections_per_ip(server):
    policy(server, "set", "conn_per_ip_max", "2")
    try:
        held = [connect(server), connect(server)]
        s = smtplib.SMTP(timeout=30)
        code, msg = s.connect("127.0.0.1", server.port("smtp"))
        assert code == 421
        s.close()
        for h in held:
            h.quit()
    finally:
        policy(server, "set", "conn_per_ip_max", "default")
    with connect(server) as s:
        assert s.noop()[0] == 250


def test_messages_per_sender_per_hour(server):
    user, _ = server.add_user()
    policy(server, "set", "sender_hourly_max", "2")
    sender = f"busy{uuid.uuid4().hex[:6]}@remote.test"
    try:
        with connect(server) as s:
            for _ in range(2):
                s.sendmail(sender, [user], b"Subject: one of two\r\n\r\nhi\r\n")
            code, msg = s.mail(sender)
            assert code == 450 and b"4.7.1" in msg and b"sender_hourly_max" in msg
            s.rset()
            assert s.mail("calm@remote.test")[0] == 250  # others still flow
    finally:
        policy(server, "set", "sender_hourly_max", "default")


def test_errors_are_tarpitted_then_cut_off(server):
    policy(server, "set", "tarpit_after", "2")
    policy(server, "set", "tarpit_delay", "400")
    policy(server, "set", "errors_max", "6")
    try:
        with connect(server) as s:
            timings = []
            for _ in range(5):
                start = time.time()
                code, _ = s.docmd("FROBNICATE")
                timings.append(time.time() - start)
                assert code == 500
            # each answer past the second error waits longer for the command after it
            assert timings[0] < 0.3 and timings[3] >= 0.35 and timings[4] >= 0.75, timings
            code, msg = s.docmd("FROBNICATE")
            assert code == 500
            assert s.getreply()[0] == 421  # the sixth error ends the session
    finally:
        for key in ("tarpit_after", "tarpit_delay", "errors_max"):
            policy(server, "set", key, "default")


def test_failed_logins_lock_the_address_out(server):
    user, pw = server.add_user()
    policy(server, "set", "auth_failures_max", "3")
    policy(server, "set", "auth_lockout", "3")
    try:
        wrong = base64.b64encode(f"\0{user}\0wrong".encode()).decode()
        for _ in range(3):  # AUTH PLAIN itself: smtplib's login() would try LOGIN too
            with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as s:
                s.starttls(context=tls_context())
                s.ehlo()
                assert s.docmd("AUTH", "PLAIN " + wrong)[0] == 535
        with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as s:
            s.starttls(context=tls_context())
            with pytest.raises((smtplib.SMTPAuthenticationError, smtplib.SMTPServerDisconnected)) as e:
                s.login(user, pw)  # even the right password, while locked out
        assert "421" in str(e.value) or isinstance(e.value, smtplib.SMTPServerDisconnected)
        # the lock-out covers every way in
        m = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=tls_context(), timeout=30)
        with pytest.raises(imaplib.IMAP4.error, match="Too many failed logins"):
            m.login(user, pw)
        m.logout()
        with pytest.raises(poplib.error_proto, match="Too many failed logins"):
            server.pop3(user, pw)
        time.sleep(3.2)
        with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as s:
            s.starttls(context=tls_context())
            assert s.login(user, pw)[0] == 235
        server.pop3(user, pw).quit()
    finally:
        policy(server, "set", "auth_failures_max", "default")
        policy(server, "set", "auth_lockout", "default")


def test_dns_block_list(server, dns):
    with connect(server) as s:  # off by default: no zone, no lookup
        assert s.noop()[0] == 250
    assert dns.queries == []
    policy(server, "add", "dnsbl_zones", "bl.test")
    try:
        s = smtplib.SMTP(timeout=30)
        code, msg = s.connect("127.0.0.1", server.port("smtp"))
        assert code == 554 and b"blocked using bl.test" in msg, msg
        s.close()
        assert "1.0.0.127.bl.test" in dns.queries
        dns.listed = "nothing.bl.test"  # delisted: mail flows again
        with connect(server) as s:
            assert s.noop()[0] == 250
    finally:
        policy(server, "remove", "dnsbl_zones", "bl.test")
        dns.listed = "1.0.0.127.bl.test"


def test_policy_command_checks_its_words(server):
    assert policy(server, "set", "no_such_key", "1", check=False).returncode != 0
    assert policy(server, "set", "errors_max", "0", check=False).returncode != 0  # out of range
    assert policy(server, "add", "no_such_list", "x", check=False).returncode != 0
    assert policy(server, "add", "relay_networks", "300.1.1.1/8", check=False).returncode != 0
    assert policy(server, "remove", "helo_block", "never.added", check=False).returncode != 0
    policy(server, "set", "errors_max", "50")
    policy(server, "add", "helo_block", "x.test")
    shown = server.cli("policy", "show").stdout
    assert "errors_max = 50" in shown and "helo_block\tx.test" in shown
    policy(server, "set", "errors_max", "default")
    policy(server, "remove", "helo_block", "x.test")
