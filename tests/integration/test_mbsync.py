"""A full two-way mbsync (isync) of a 2,000 message mailbox: pull everything,
change flags and delete on both sides, sync again, and check that both sides hold
the same messages (SHA-256 of each) with the same flags."""
import hashlib
import imaplib
import os
import smtplib
import subprocess
import threading

from conftest import tls_context

COUNT = 2000
MAILDIR_FLAGS = {"S": b"\\Seen", "F": b"\\Flagged", "R": b"\\Answered", "D": b"\\Draft"}


def deliver_many(server, user, count, threads=4):
    def worker(start):
        with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=60) as s:
            for i in range(start, count, threads):
                s.sendmail("load@remote.test", [user],
                           f"Subject: message {i}\r\nMessage-ID: <m{i}@remote.test>\r\n\r\n"
                           f"body of message {i}\r\n".encode() + os.urandom(200).hex().encode() + b"\r\n")
    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def mbsync(config, tmp_path):
    out = subprocess.run(["mbsync", "-c", str(config), "-a"], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def digest(data):
    """Maildir copies have LF line ends, and mbsync adds its own X-TUID tracking
    header to what it stores; neither is a difference in the message."""
    data = data.replace(b"\r\n", b"\n")
    head, sep, body = data.partition(b"\n\n")
    head = b"\n".join(l for l in head.split(b"\n") if not l.startswith(b"X-TUID: "))
    return hashlib.sha256(head + sep + body).hexdigest()


def server_state(server, user, pw):
    m = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=tls_context(), timeout=120)
    m.login(user, pw)
    m.select("INBOX")
    state = {}
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
    for item in data:
        if isinstance(item, tuple):
            flags = set(f for f in MAILDIR_FLAGS.values() if f in item[0])
            state[digest(item[1])] = flags
    m.logout()
    return state


def local_state(inbox):
    state = {}
    for sub in ("cur", "new"):
        for name in os.listdir(inbox / sub):
            with open(inbox / sub / name, "rb") as f:
                data = f.read()
            letters = name.split(":2,")[1] if ":2," in name else ""
            state[digest(data)] = set(MAILDIR_FLAGS[c] for c in letters if c in MAILDIR_FLAGS)
    return state


def test_two_way_mbsync(server, tmp_path):
    user, pw = server.add_user()
    deliver_many(server, user, COUNT)
    local = tmp_path / "mail"
    local.mkdir()
    config = tmp_path / "mbsyncrc"
    config.write_text(f"""IMAPAccount sp
Host 127.0.0.1
Port {server.port('imaps')}
User {user}
Pass {pw}
SSLType IMAPS
CertificateFile {server.data}/tls/cert.pem
SystemCertificates no

IMAPStore remote
Account sp

MaildirStore local
Path {local}/
Inbox {local}/INBOX

Channel sync
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
""")
    mbsync(config, tmp_path)
    before = server_state(server, user, pw)
    assert len(before) == COUNT
    assert local_state(local / "INBOX") == before

    # Changes on the server: flag 100, delete 50.
    m = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=tls_context(), timeout=120)
    m.login(user, pw)
    m.select("INBOX")
    m.store("1:100", "+FLAGS", "(\\Flagged)")
    m.store("101:150", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    # Changes in the Maildir: mark 100 others seen, delete 50 more.
    inbox = local / "INBOX"
    files = [inbox / sub / n for sub in ("new", "cur") for n in os.listdir(inbox / sub)]
    files.sort(key=lambda p: int(p.name.split(",U=")[1].split(":")[0]))
    for path in files[200:300]:
        base, _, flags = path.name.partition(":2,")
        os.rename(path, inbox / "cur" / f"{base}:2,{''.join(sorted(set(flags + 'S')))}")
    for path in files[300:350]:
        os.unlink(path)

    mbsync(config, tmp_path)
    after_server = server_state(server, user, pw)
    after_local = local_state(local / "INBOX")
    assert len(after_server) == COUNT - 100
    assert after_local == after_server
    assert sum(1 for f in after_server.values() if b"\\Flagged" in f) == 100
    assert sum(1 for f in after_server.values() if b"\\Seen" in f) == 100
