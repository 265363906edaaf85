"""POP3: capabilities, TLS before login, UIDL, DELE at QUIT, locking, TOP, errors."""
import poplib
import smtplib
import socket
import time

import pytest

from conftest import tls_context


def deliver(server, user, n):
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        for i in range(n):
            s.sendmail("a@remote.test", [user], f"Subject: m{i}\r\n\r\nbody {i}\r\n")


def test_capa_and_plaintext_login_refused(server):
    user, pw = server.add_user()
    p = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=30)
    caps = p.capa()
    assert "STLS" in caps and "UIDL" in caps and "TOP" in caps and "USER" not in caps
    with pytest.raises(poplib.error_proto):
        p.user(user)
    p.stls(context=tls_context())
    assert "USER" in p.capa() and "SASL" in p.capa()
    p.user(user)
    assert p.pass_(pw).startswith(b"+OK")
    p.quit()


def test_uidl_stable_and_dele_applies_at_quit(server):
    user, pw = server.add_user()
    deliver(server, user, 3)
    p = server.pop3(user, pw)
    uids = p.uidl()[1]
    p.dele(2)
    with pytest.raises(poplib.error_proto):
        p.retr(2)
    p.rset()
    p.dele(1)
    p.quit()
    p = server.pop3(user, pw)
    assert p.stat()[0] == 2
    assert p.uidl()[1] == [b"1 " + uids[1].split()[1], b"2 " + uids[2].split()[1]]
    p.quit()


def test_no_deletion_without_quit(server):
    user, pw = server.add_user()
    deliver(server, user, 1)
    p = server.pop3(user, pw)
    p.dele(1)
    p.sock.shutdown(socket.SHUT_RDWR)  # dropped connection: no UPDATE state
    p.sock.close()
    for _ in range(50):  # the lock goes once the server sees the connection end
        try:
            p = server.pop3(user, pw)
            break
        except poplib.error_proto:
            time.sleep(0.1)
    assert p.stat()[0] == 1
    p.quit()


def test_maildrop_locked(server):
    user, pw = server.add_user()
    first = server.pop3(user, pw)
    with pytest.raises(poplib.error_proto) as e:
        server.pop3(user, pw)
    assert b"[IN-USE]" in e.value.args[0]
    first.quit()
    server.pop3(user, pw).quit()


def test_sasl_plain(server):
    import base64
    user, pw = server.add_user()
    p = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=tls_context(), timeout=30)
    token = base64.b64encode(f"\0{user}\0{pw}".encode()).decode()
    assert p._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK")
    p.quit()


def test_bad_commands(server):
    user, pw = server.add_user()
    p = server.pop3(user, pw)
    for bad in ("RETR 0", "RETR 99", "RETR x", "TOP 1", "DELE 18446744073709551617", "BOGUS"):
        with pytest.raises(poplib.error_proto):
            p._shortcmd(bad)
    p.quit()


def test_overlong_line(server):
    s = socket.create_connection(("127.0.0.1", server.port("pop3")), timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"USER " + b"x" * 10000 + b"\r\nNOOP\r\n")
    assert f.readline().startswith(b"-ERR")
    assert f.readline().startswith(b"-ERR")  # NOOP is not valid before login
    s.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"+OK")
