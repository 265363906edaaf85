"""Sealpost is never an open relay, and submission needs AUTH, and AUTH needs TLS."""
import smtplib
import subprocess

import pytest

from conftest import DOMAIN, tls_context

RELAY_TRICKS = [
    "victim@remote.test",                    # plain remote address
    f"victim%remote.test@{DOMAIN}",          # %-hack
    f"@{DOMAIN}:victim@remote.test",         # source route
    f'"victim@remote.test"@{DOMAIN}',        # quoted local part holding an @
    f"remote.test!victim@{DOMAIN}",          # bang path
    f"victim@remote.test@{DOMAIN}",          # two @
    "victim@remote.test.",                   # trailing dot
    "victim@[192.0.2.1]",                    # IP literal
    f"victim@{DOMAIN}.",                     # our domain with a trailing dot
]


@pytest.mark.parametrize("rcpt", RELAY_TRICKS)
def test_unauthenticated_relay_refused(server, rcpt):
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.ehlo("client.test")
        assert s.mail("spammer@remote.test")[0] == 250
        code, reply = s.docmd(f"RCPT TO:<{rcpt}>")
    assert code >= 500, (rcpt, code, reply)
    # Nothing may have been queued for remote delivery.
    assert "victim" not in server.cli("queue", "list").stdout


def test_plain_remote_gets_relay_denied_code(server):
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.ehlo("client.test")
        s.mail("spammer@remote.test")
        code, reply = s.rcpt("victim@remote.test")
    assert (code, reply.split()[0]) == (554, b"5.7.1")


def test_submission_without_auth_refused(server):
    user, _ = server.add_user()
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as s:
        s.starttls(context=tls_context())
        s.ehlo("client.test")
        code, reply = s.mail(user)
    assert code == 530 and reply.startswith(b"5.7.0")


def test_auth_before_starttls_refused(server):
    user, pw = server.add_user()
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as s:
        s.ehlo("client.test")
        assert not s.has_extn("auth")
        code, reply = s.docmd("AUTH", "PLAIN " + __import__("base64").b64encode(
            f"\0{user}\0{pw}".encode()).decode())
    assert code == 538


def test_wrong_password_refused(server):
    user, _ = server.add_user()
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as s:
        s.starttls(context=tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login(user, "not-the-password")
    assert e.value.smtp_code == 535


def test_openssl_starttls_handshake(server):
    out = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                          f"127.0.0.1:{server.port('smtp')}", "-brief", "-crlf", "-ign_eof"],
                         input="EHLO client.test\nQUIT\n", capture_output=True, text=True,
                         timeout=60)
    text = out.stdout + out.stderr
    assert "Protocol version: TLSv1.3" in text or "Protocol version: TLSv1.2" in text, text
    assert "250-AUTH PLAIN LOGIN" in text  # offered once the channel is encrypted
    assert "221 2.0.0" in text
