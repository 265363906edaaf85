"""Delivery through SMTP to users, aliases and nested lists, read back over POP3."""
import smtplib
import subprocess
import uuid

import pytest

from conftest import DOMAIN


def send(server, rcpts, body=None, sender="someone@remote.test"):
    tag = uuid.uuid4().hex
    msg = (f"From: <{sender}>\r\nTo: undisclosed\r\nSubject: {tag}\r\n\r\n"
           f"{body or 'hello ' + tag}\r\n")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        refused = s.sendmail(sender, rcpts, msg)
    assert refused == {}
    return tag


def subjects(server, user, password):
    return [m.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
            for m in server.fetch_all(user, password)]


def test_one_user(server):
    alice, pw = server.add_user()
    tag = send(server, [alice])
    assert subjects(server, alice, pw) == [tag]


def test_several_users(server):
    users = [server.add_user() for _ in range(3)]
    tag = send(server, [u for u, _ in users])
    for user, pw in users:
        assert subjects(server, user, pw) == [tag]


def test_alias(server):
    user, pw = server.add_user()
    alias = f"a{uuid.uuid4().hex[:8]}@{DOMAIN}"
    server.cli("alias", "add", alias, user)
    tag = send(server, [alias])
    assert subjects(server, user, pw) == [tag]


def test_nested_list_with_loop_and_duplicates(server):
    a, apw = server.add_user()
    b, bpw = server.add_user()
    c, cpw = server.add_user()
    inner = f"inner{uuid.uuid4().hex[:6]}@{DOMAIN}"
    outer = f"outer{uuid.uuid4().hex[:6]}@{DOMAIN}"
    server.cli("group", "add", inner, "--member", b, "--member", c)
    # outer holds a, inner, and (by DN) a again; inner is made to contain outer: a loop.
    local_a = a.split("@")[0]
    server.cli("group", "add", outer, "--member", a, "--member", inner,
               "--member", f"/o=Example/ou=HQ/cn=Recipients/cn={local_a}")
    server.cli("group", "add", inner, "--member", outer)
    tag = send(server, [outer, a, inner])
    for user, pw in ((a, apw), (b, bpw), (c, cpw)):
        assert subjects(server, user, pw) == [tag], user


def test_duplicate_recipients_collapse(server):
    user, pw = server.add_user()
    upper = user.split("@")[0].upper() + "@" + DOMAIN.upper()
    tag = send(server, [user, upper, user.replace("@", "+tag@")])
    assert subjects(server, user, pw) == [tag]


def test_unknown_user_refused_at_rcpt(server):
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.ehlo("client.test")
        s.mail("someone@remote.test")
        code, reply = s.rcpt(f"nobody-{uuid.uuid4().hex[:6]}@{DOMAIN}")
    assert code == 550
    assert b"5.1.1" in reply


def test_swaks_delivery(server):
    user, pw = server.add_user()
    out = subprocess.run(["swaks", "--server", f"127.0.0.1:{server.port('smtp')}",
                          "--from", "x@remote.test", "--to", user, "--header", "Subject: swaks-check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "250 2.0.0 Ok: queued as" in out.stdout
    assert subjects(server, user, pw) == ["swaks-check"]


def test_curl_delivery(server, tmp_path):
    user, pw = server.add_user()
    mail = tmp_path / "mail.txt"
    mail.write_bytes(b"From: <c@remote.test>\r\nSubject: curl-check\r\n\r\nbody\r\n")
    out = subprocess.run(["curl", "-sS", f"smtp://127.0.0.1:{server.port('smtp')}",
                          "--mail-from", "c@remote.test", "--mail-rcpt", user,
                          "-T", str(mail)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert subjects(server, user, pw) == ["curl-check"]


def test_authenticated_submission_queues_remote(server):
    user, pw = server.add_user()
    rcpt = f"far-{uuid.uuid4().hex[:8]}@remote.test"
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as s:
        s.starttls(context=__import__("conftest").tls_context())
        s.login(user, pw)
        s.sendmail(user, [rcpt], "Subject: out\r\n\r\nto the world\r\n")
    listing = server.cli("queue", "list").stdout
    assert rcpt in listing and user in listing


@pytest.mark.parametrize("port_name", ["smtps"])
def test_implicit_tls_submission(server, port_name):
    import conftest
    user, pw = server.add_user()
    with smtplib.SMTP_SSL("127.0.0.1", server.port(port_name), context=conftest.tls_context(),
                          timeout=30) as s:
        s.login(user, pw)
        s.sendmail(user, [user], "Subject: self\r\n\r\nnote to self\r\n")
    assert subjects(server, user, pw) == ["self"]


def test_new_domain_takes_mail_without_restart(server):
    domain = f"d{uuid.uuid4().hex[:8]}.test"
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.ehlo("client.test")
        s.mail("someone@remote.test")
        assert s.rcpt(f"x@{domain}")[0] == 554  # not ours yet: relay denied
    server.cli("domain", "add", domain)
    user, pw = f"x@{domain}", "pw-" + uuid.uuid4().hex
    server.cli("user", "add", user, "--password-stdin", stdin=pw + "\n")
    tag = send(server, [user])
    assert subjects(server, user, pw) == [tag]


def test_list_member_over_quota_is_bounced_with_a_dsn(server):
    import email
    from email import policy
    full, full_pw = server.add_user()
    roomy, roomy_pw = server.add_user()
    sender, sender_pw = server.add_user()
    server.cli("user", "quota", full, "7000")
    crew = f"crew{uuid.uuid4().hex[:6]}@{DOMAIN}"
    server.cli("group", "add", crew, "--member", full, "--member", roomy)
    big = ("x" * 70 + "\r\n") * 60  # 4,320 octets: one fits in 7,000, two do not
    first = send(server, [full], body=big)
    tag = send(server, [crew], body=big, sender=sender)
    assert subjects(server, roomy, roomy_pw) == [tag]
    assert subjects(server, full, full_pw) == [first]  # not delivered over quota...
    [report] = server.fetch_all(sender, sender_pw)    # ...but the sender is told, by a DSN
    msg = email.message_from_bytes(report, policy=policy.compat32)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Auto-Submitted"] == "auto-replied"
    text, status, headers = msg.get_payload()
    assert full in text.get_payload()
    # message/delivery-status: per-message fields, then one block per recipient
    blocks = [b.items() for b in status.get_payload()]
    per_recipient = dict(blocks[1])
    assert per_recipient["Final-Recipient"] == f"rfc822; {full}"
    assert per_recipient["Action"] == "failed" and per_recipient["Status"] == "5.2.2"
    assert headers.get_content_type() == "text/rfc822-headers"
    assert f"Subject: {tag}" in headers.get_payload()
    assert b"Return-Path: <>" in report or b"envelope-from <>" in report

    # Everyone on the list full: the client is refused at DATA instead (no report).
    server.cli("user", "quota", roomy, "2000")  # too small for it at all: 5.2.3
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail(sender, [crew], f"Subject: again\r\n\r\n{big}")
    assert e.value.smtp_code == 552
    assert len(server.fetch_all(sender, sender_pw)) == 1

    # A null sender never gets a report (no bounce loops).
    server.cli("user", "quota", roomy, "default")
    tag2 = send(server, [crew], body=big, sender="")
    assert tag2 in subjects(server, roomy, roomy_pw)
    assert len(server.fetch_all(sender, sender_pw)) == 1
