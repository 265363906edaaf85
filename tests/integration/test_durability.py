"""Nothing acknowledged is lost: kill -9 right after 250, restart, the message is
there whole. SIGTERM lets a transaction in flight finish and exits 0."""
import hashlib
import os
import smtplib
import socket
import tempfile

from conftest import Server, strip_trace


def test_kill9_after_250_keeps_messages():
    data = tempfile.mkdtemp(prefix="sealpost-durable-")
    srv = Server(data).start()
    user, pw = srv.add_user()
    sent = []
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
        for i in range(20):
            hexed = os.urandom(8000).hex().encode()
            body = b"\r\n".join(hexed[j:j + 76] for j in range(0, len(hexed), 76))
            msg = f"Subject: durable {i}\r\n\r\n".encode() + body + b"\r\n"
            s.sendmail("a@remote.test", [user], msg)
            sent.append(msg)
        # The last 250 is in; kill at once, before any orderly shutdown.
        srv.kill9()
    srv.start()
    try:
        got = [strip_trace(m) for m in srv.fetch_all(user, pw)]
        assert [hashlib.sha256(m).hexdigest() for m in got] == \
               [hashlib.sha256(m).hexdigest() for m in sent]
        # And the store still takes new mail after recovery.
        with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as s:
            s.sendmail("a@remote.test", [user], b"Subject: after\r\n\r\nx\r\n")
        assert len(srv.fetch_all(user, pw)) == 21
    finally:
        assert srv.stop() == 0


def test_sigterm_finishes_transaction_in_flight():
    data = tempfile.mkdtemp(prefix="sealpost-term-")
    srv = Server(data).start()
    user, pw = srv.add_user()
    sock = socket.create_connection(("127.0.0.1", srv.port("smtp")), timeout=30)
    f = sock.makefile("rb")
    f.readline()
    for cmd in (b"EHLO c.test", b"MAIL FROM:<a@remote.test>", f"RCPT TO:<{user}>".encode(), b"DATA"):
        sock.sendall(cmd + b"\r\n")
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                break
    assert line.startswith(b"354")
    sock.sendall(b"Subject: in flight\r\n\r\nhalf")
    srv.proc.send_signal(15)  # SIGTERM while the client is inside DATA
    sock.sendall(b" and the rest\r\n.\r\n")
    assert f.readline().startswith(b"250 2.0.0")
    assert f.readline().startswith(b"421 4.3.2")
    assert srv.proc.wait(timeout=30) == 0
    srv.log.close()
    srv.start()
    try:
        [m] = srv.fetch_all(user, pw)
        assert strip_trace(m) == b"Subject: in flight\r\n\r\nhalf and the rest\r\n"
    finally:
        assert srv.stop() == 0
