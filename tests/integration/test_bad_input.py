"""Hostile input gets the protocol's own error, and the server keeps serving others."""
import os
import smtplib
import socket
import time
import uuid

from conftest import DOMAIN


class Raw:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
        assert self.reply().startswith(b"220 ")

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """A whole (possibly multi-line) reply; returns its last line."""
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return line

    def cmd(self, text):
        self.send(text + b"\r\n")
        return self.reply()

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def still_serving(server):
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        assert s.noop()[0] == 250


def test_overlong_line(server):
    r = Raw(server.port("smtp"))
    assert r.cmd(b"EHLO " + b"a" * 5000).startswith(b"500 5.5.2")
    assert r.cmd(b"NOOP").startswith(b"250")
    still_serving(server)


def test_bare_lf_command(server):
    r = Raw(server.port("smtp"))
    r.send(b"EHLO client.test\n")
    assert r.reply().startswith(b"500 5.5.2")
    assert r.cmd(b"NOOP").startswith(b"250")


def test_nul_bytes(server):
    r = Raw(server.port("smtp"))
    assert r.cmd(b"EHLO cl\x00ient").startswith(b"500 5.5.2")
    assert r.cmd(b"NOOP").startswith(b"250")


def test_garbage(server):
    r = Raw(server.port("smtp"))
    for _ in range(5):
        junk = os.urandom(300).replace(b"\n", b"").replace(b"\r", b"")
        assert r.cmd(junk)[:1] == b"5"
    still_serving(server)


def test_bare_lf_in_data_refused(server):
    user, _ = server.add_user()
    r = Raw(server.port("smtp"))
    r.cmd(b"EHLO client.test")
    assert r.cmd(b"MAIL FROM:<a@remote.test>").startswith(b"250")
    assert r.cmd(b"RCPT TO:<" + user.encode() + b">").startswith(b"250")
    assert r.cmd(b"DATA").startswith(b"354")
    # A bare-LF "end" must not end the message (SMTP smuggling); only CRLF.CRLF does.
    r.send(b"Subject: x\r\n\r\nline\n.\nMAIL FROM:<b@remote.test>\r\n.\r\n")
    assert r.reply().startswith(b"554 5.6.0")
    assert r.cmd(b"NOOP").startswith(b"250")


def test_size_limit_announced_and_enforced(server):
    r = Raw(server.port("smtp"))
    r.cmd(b"EHLO client.test")
    assert r.cmd(b"MAIL FROM:<a@remote.test> SIZE=999999999999").startswith(b"552 5.3.4")


def test_data_that_never_ends_times_out(server):
    user, pw = server.add_user()
    r = Raw(server.port("smtp"))
    r.cmd(b"EHLO client.test")
    r.cmd(b"MAIL FROM:<a@remote.test>")
    r.cmd(b"RCPT TO:<" + user.encode() + b">")
    assert r.cmd(b"DATA").startswith(b"354")
    r.send(b"Subject: never ends\r\n\r\nand on")
    still_serving(server)  # others are served while this one hangs
    start = time.time()
    assert r.line().startswith(b"421 4.4.2")  # data_timeout is 3 s in the tests
    assert time.time() - start < 20
    assert r.closed()
    assert server.fetch_all(user, pw) == []  # nothing half-received was delivered


def test_hundred_errors_close_with_421(server):
    r = Raw(server.port("smtp"))
    r.send(b"BOGUS\r\n" * 100)
    replies = [r.line() for _ in range(101)]
    assert all(x.startswith(b"500") for x in replies[:100])
    assert replies[100].startswith(b"421 4.7.0")
    assert r.closed()
    still_serving(server)


def test_pipelining_replies_in_order(server):
    user, pw = server.add_user()
    r = Raw(server.port("smtp"))
    r.cmd(b"EHLO client.test")
    r.send(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<" + user.encode() +
           b">\r\nRCPT TO:<nobody-x@" + DOMAIN.encode() + b">\r\nDATA\r\n")
    assert [r.line()[:3] for _ in range(4)] == [b"250", b"250", b"550", b"354"]
    r.send(b"Subject: piped\r\n\r\nbody\r\n.\r\nRSET\r\nQUIT\r\n")
    assert r.line().startswith(b"250 2.0.0 Ok: queued as")
    assert r.line().startswith(b"250")
    assert r.line().startswith(b"221")
    assert len(server.fetch_all(user, pw)) == 1


def test_starttls_discards_injected_commands(server):
    """Commands sent in the clear after STARTTLS (CVE-2011-0411 style) are dropped."""
    import ssl
    from conftest import tls_context
    r = Raw(server.port("smtp"))
    r.cmd(b"EHLO client.test")
    r.send(b"STARTTLS\r\nRSET\r\n")
    assert r.line().startswith(b"220")
    tls = tls_context().wrap_socket(r.sock, server_hostname="mail.example.test")
    tls.sendall(b"NOOP\r\n")
    data = b""
    while b"\r\n" not in data:
        data += tls.recv(4096)
    assert data.startswith(b"250 2.0.0 Ok")  # the reply to NOOP, not to the injected RSET
    tls.close()


def test_unknown_session_states(server):
    r = Raw(server.port("smtp"))
    assert r.cmd(b"MAIL FROM:<a@remote.test>").startswith(b"503")
    r.cmd(b"HELO client.test")
    assert r.cmd(b"RCPT TO:<x@" + DOMAIN.encode() + b">").startswith(b"503")
    assert r.cmd(b"DATA").startswith(b"503")
    assert r.cmd(b"MAIL FROM:<a@remote.test> FOO=BAR").startswith(b"555")
    assert r.cmd(b"MAIL FROM:a@remote.test").startswith(b"501")
    assert r.cmd(b"EXPN team").startswith(b"502")
    assert r.cmd(b"VRFY someone").startswith(b"252")
    assert r.cmd(b"QUIT").startswith(b"221")


def test_client_vanishing_during_auth_check(server):
    """The password check runs off the loop; a client that leaves meanwhile is cleaned up."""
    import base64
    from conftest import tls_context
    user, pw = server.add_user()
    token = base64.b64encode(f"\0{user}\0{pw}".encode())
    for _ in range(10):
        raw = socket.create_connection(("127.0.0.1", server.port("smtps")), timeout=30)
        tls = tls_context().wrap_socket(raw, server_hostname="mail.example.test")
        tls.recv(4096)
        tls.sendall(b"EHLO c.test\r\nAUTH PLAIN " + token + b"\r\nNOOP\r\n")
        tls.close()
    still_serving(server)
    with smtplib.SMTP_SSL("127.0.0.1", server.port("smtps"), context=tls_context(), timeout=30) as s:
        assert s.login(user, pw)[0] == 235


def test_connections_per_ip_limited(server):
    """conn_per_ip_max (50 by default) connections at once; the next gets 421."""
    import re
    limit = int(re.search(r"conn_per_ip_max = (\d+)", server.cli("config").stdout).group(1))
    held = []
    try:
        for _ in range(limit):
            r = Raw(server.port("smtp"))
            held.append(r)
        extra = socket.create_connection(("127.0.0.1", server.port("smtp")), timeout=30)
        assert extra.makefile("rb").readline().startswith(b"421 4.7.0")
        extra.close()
    finally:
        for r in held:
            r.sock.close()
    time.sleep(0.5)
    still_serving(server)


def test_smtputf8(server):
    user, pw = server.add_user()
    sender = "jörg@exämple.test"
    r = Raw(server.port("smtp"))
    r.cmd(b"EHLO client.test")
    assert r.cmd(f"MAIL FROM:<{sender}>".encode()).startswith(b"553 5.6.7")
    assert r.cmd(f"MAIL FROM:<{sender}> SMTPUTF8".encode()).startswith(b"250")
    assert r.cmd(b"RCPT TO:<" + user.encode() + b">").startswith(b"250")
    assert r.cmd(b"DATA").startswith(b"354")
    r.send("Subject: Grüße\r\nFrom: Jörg <jörg@exämple.test>\r\n\r\nHallo\r\n.\r\n".encode())
    assert r.reply().startswith(b"250")
    [m] = server.fetch_all(user, pw)
    assert "(envelope-from <jörg@exämple.test>)".encode() in m
    assert "Subject: Grüße".encode() in m
    assert b" with UTF8SMTP id " in m
