"""What POP3 hands back is byte for byte what SMTP was given, below our Received
header: compared by SHA-256 for many shapes of message."""
import base64
import hashlib
import os
import smtplib

import pytest

from conftest import strip_trace


def sha(b):
    return hashlib.sha256(b).hexdigest()


def seven_bit():
    return b"Subject: plain\r\nMIME-Version: 1.0\r\n\r\nJust ASCII.\r\nTwo lines.\r\n"


def eight_bit():
    body = "Grüße aus Köln, ça va? 日本語のテキスト\r\n".encode() * 20
    return (b"Subject: 8bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body)


def binary_looking():
    raw = bytes(b for b in range(256) if b not in (10, 13)) * 40
    lines = [raw[i:i + 200] for i in range(0, len(raw), 200)]
    return (b"Subject: binary\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" + b"\r\n".join(lines) + b"\r\n")


def long_lines_and_dots():
    return (b"Subject: dots\r\n\r\n" + b"x" * 998 + b"\r\n.\r\n..\r\n.leading dot\r\n"
            + b"y" * 998 + b"\r\n. \r\n.\r\nend\r\n")


def big_attachment():
    payload = base64.encodebytes(os.urandom(15 * 1024 * 1024)).replace(b"\n", b"\r\n")
    msg = (b"Subject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
           b"--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
           b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + payload + b"--b1--\r\n")
    assert len(msg) > 20 * 1024 * 1024
    return msg


CASES = {"7bit": seven_bit, "8bit": eight_bit, "binary": binary_looking,
         "long-lines-and-dots": long_lines_and_dots, "20MiB": big_attachment}


@pytest.mark.parametrize("name", list(CASES))
def test_bytes_survive(server, name):
    user, pw = server.add_user()
    msg = CASES[name]()
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=120) as s:
        options = ["BODY=8BITMIME"] if name in ("8bit", "binary") else []
        s.sendmail("sender@remote.test", [user], msg, mail_options=options)
    [got] = server.fetch_all(user, pw)
    assert sha(strip_trace(got)) == sha(msg)


def test_top_gives_headers_and_lines(server):
    user, pw = server.add_user()
    msg = b"Subject: top\r\nX-Two: 2\r\n\r\nline1\r\n.line2\r\nline3\r\n"
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as s:
        s.sendmail("sender@remote.test", [user], msg)
    p = server.pop3(user, pw)
    _, lines0, _ = p.top(1, 0)
    _, lines2, _ = p.top(1, 2)
    p.quit()
    assert lines0[-3:] == [b"Subject: top", b"X-Two: 2", b""]
    assert lines2[-4:] == [b"X-Two: 2", b"", b"line1", b".line2"]
