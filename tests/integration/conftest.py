"""Integration harness: each test module gets a real `sealpost serve` on free
loopback ports, started from a fresh data directory, and stopped with SIGTERM
(which must exit 0). Tests talk to it only through clients nobody here wrote."""
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
import poplib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SEALPOST_BIN", os.path.join(ROOT, "build", "asan", "sealpost"))
DOMAIN = "example.test"
PROTOCOLS = ("smtp", "submission", "smtps", "pop3", "pop3s", "imap", "imaps")
# Settings the tests need short; everything else keeps its default.
TEST_SETTINGS = {"data_timeout": "3", "smtp_timeout": "5",
                 "tarpit_delay": "0",  # test_policy.py turns tarpitting on where it tests it
                 # Tests never leave loopback: MX lookups go to a port where nothing
                 # answers, so remote domains without a transport simply wait.
                 "dns_servers": "127.0.0.1:9"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args, data, stdin=None, check=True):
    proc = subprocess.run([BIN, *args, "--data", data], input=stdin, capture_output=True,
                          text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"sealpost {' '.join(args)} failed: {proc.stderr}")
    return proc


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # init makes a self-signed certificate
    return ctx


class Server:
    def __init__(self, data, settings=None, domain=DOMAIN):
        self.data = data
        self.domain = domain
        self.proc = None
        self.ports = {}
        self.log_path = os.path.join(data, "serve.log")
        if not os.path.exists(os.path.join(data, "sealpost.conf")):
            run_cli("init", "--domain", domain, "--hostname", f"mail.{domain}", data=data)
            with open(os.path.join(data, "sealpost.conf"), "a") as f:
                for k, v in {**TEST_SETTINGS, **(settings or {})}.items():
                    f.write(f"{k} = {v}\n")

    def start(self, same_ports=False):
        """Starts serving; a port some other process took between free_port() and
        the bind (ephemeral ports of outbound connections) means new ports."""
        for attempt in range(5):
            if not (same_ports and self.ports):  # a restart keeps its ports: peers know them
                self.ports = {p: free_port() for p in PROTOCOLS}
            if self._start_once():
                return self
            if same_ports:
                time.sleep(0.5)  # the old one's sockets may still be going
        raise AssertionError(f"server did not become ready; log in {self.log_path}")

    def _start_once(self):
        args = [BIN, "serve", "--data", self.data]
        for proto, port in self.ports.items():
            args += ["--listen", f"{proto}=127.0.0.1:{port}"]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.write(line)
            if line.startswith(b"sealpost ready"):
                # Keep draining stderr into the log so the server never blocks on it.
                import threading
                threading.Thread(target=self._drain, daemon=True).start()
                return True
        self.proc.wait(timeout=30)
        self.log.close()
        return False

    def _drain(self):
        for line in self.proc.stderr:
            self.log.write(line)
            self.log.flush()

    def stop(self):
        """SIGTERM; the server must exit 0 (and ASan must have nothing to say)."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        time.sleep(0.1)
        self.log.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.log.close()

    def port(self, proto):
        return self.ports[proto]

    def add_user(self, local=None, password=None):
        local = local or "u" + uuid.uuid4().hex[:10]
        password = password or uuid.uuid4().hex
        run_cli("user", "add", f"{local}@{self.domain}", "--password-stdin", data=self.data,
                stdin=password + "\n")
        return f"{local}@{self.domain}", password

    def cli(self, *args, stdin=None, check=True):
        return run_cli(*args, data=self.data, stdin=stdin, check=check)

    def pop3(self, user, password):
        p = poplib.POP3_SSL("127.0.0.1", self.port("pop3s"), context=tls_context(), timeout=60)
        p.user(user)
        p.pass_(password)
        return p

    def fetch_all(self, user, password):
        """Every message in the user's INBOX, as the bytes POP3 RETR gives back."""
        p = self.pop3(user, password)
        count, _ = p.stat()
        messages = []
        for i in range(1, count + 1):
            _, lines, _ = p.retr(i)
            messages.append(b"\r\n".join(lines) + b"\r\n")
        p.quit()
        return messages


def strip_trace(message):
    """Removes our Received header (the first field, with its folded lines)."""
    assert message.startswith(b"Received: from "), message[:80]
    lines = message.split(b"\r\n")
    i = 1
    while lines[i].startswith((b"\t", b" ")):
        i += 1
    return b"\r\n".join(lines[i:])


def stop_and_check(srv):
    """SIGTERM must end the server with 0, and the sanitizers must have been silent."""
    rc = srv.stop()
    assert rc == 0, f"server exited {rc}; log in {srv.log_path}"
    with open(srv.log_path, "rb") as f:
        log = f.read()
    assert b"ERROR: AddressSanitizer" not in log and b"runtime error:" not in log, log[-3000:]


@pytest.fixture(scope="module")
def server():
    data = tempfile.mkdtemp(prefix="sealpost-test-")
    srv = Server(data).start()
    yield srv
    stop_and_check(srv)
