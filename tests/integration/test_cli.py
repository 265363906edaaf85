"""The command-line contract scripts rely on."""
import subprocess
import tempfile

import pytest

from conftest import BIN, DOMAIN


def run(*args, stdin=None):
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture
def data():
    d = tempfile.mkdtemp(prefix="sealpost-cli-")
    assert run("init", "--data", d, "--domain", DOMAIN, "--org", "Acme", "--site", "Paris").returncode == 0
    return d


@pytest.mark.parametrize("sub", ["init", "user", "alias", "group", "site", "domain", "queue",
                                 "transport", "policy", "config", "serve"])
def test_every_subcommand_has_help(sub):
    out = run(sub, "--help")
    assert out.returncode == 0 and "usage: sealpost" in out.stdout


def test_errors_exit_nonzero_with_one_line(data):
    for args in (["user", "show", "ghost@example.test", "--data", data],
                 ["user", "add", "x@elsewhere.test", "--password-stdin", "--data", data],
                 ["frobnicate"], ["init", "--data", data, "--domain", DOMAIN]):
        out = run(*args, stdin="pw\n")
        assert out.returncode != 0, args
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_user_lifecycle_and_dn_forms(data):
    assert run("user", "add", f"carol@{DOMAIN}", "--name", "Carol C", "--password-stdin",
               "--data", data, stdin="s3cret\n").returncode == 0
    assert run("user", "add", f"carol@{DOMAIN}", "--password-stdin", "--data", data,
               stdin="x\n").returncode != 0  # taken
    listing = run("user", "list", "--data", data).stdout
    assert f"carol@{DOMAIN}" in listing and "Carol C" in listing
    for dn in ("/o=Acme/ou=Paris/cn=Recipients/cn=carol", "cn=carol,cn=Recipients,ou=Paris,o=Acme"):
        shown = run("user", "show", dn, "--data", data)
        assert shown.returncode == 0, shown.stderr
        assert f"address: carol@{DOMAIN}" in shown.stdout
        assert "dn: /o=Acme/ou=Paris/cn=Recipients/cn=carol" in shown.stdout
        assert "ldap-dn: cn=carol,cn=Recipients,ou=Paris,o=Acme" in shown.stdout
    assert run("user", "passwd", "cn=carol,cn=Recipients,ou=Paris,o=Acme", "--password-stdin",
               "--data", data, stdin="n3w\n").returncode == 0
    assert run("user", "remove", f"carol@{DOMAIN}", "--data", data).returncode == 0
    assert f"carol@{DOMAIN}" not in run("user", "list", "--data", data).stdout


def test_alias_and_group_take_dns(data):
    run("user", "add", f"dan@{DOMAIN}", "--password-stdin", "--data", data, stdin="pw\n")
    out = run("alias", "add", f"d@{DOMAIN}", "/o=Acme/ou=Paris/cn=Recipients/cn=dan", "--data", data)
    assert out.returncode == 0, out.stderr
    assert f"target: dan@{DOMAIN}" in run("alias", "show", f"d@{DOMAIN}", "--data", data).stdout
    out = run("group", "add", f"crew@{DOMAIN}", "--member", "cn=dan,cn=Recipients,ou=Paris,o=Acme",
              "--member", "ext@remote.test", "--data", data)
    assert out.returncode == 0, out.stderr
    shown = run("group", "show", f"crew@{DOMAIN}", "--data", data).stdout
    assert f"member: dan@{DOMAIN}" in shown and "member: ext@remote.test" in shown


def test_data_from_environment(data):
    import os
    env = dict(os.environ, SEALPOST_DATA=data)
    out = subprocess.run([BIN, "config"], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0 and "message_size_max = 52428800" in out.stdout


def test_serve_refuses_unknown_protocol(data):
    out = run("serve", "--data", data, "--listen", "gopher=127.0.0.1:7070")
    assert out.returncode != 0 and "gopher" in out.stderr


def test_sites_and_domains(data):
    assert run("site", "add", "Berlin", "--data", data).returncode == 0
    assert run("site", "add", "Berlin", "--data", data).returncode != 0  # exists
    assert run("site", "list", "--data", data).stdout.split() == ["Paris", "Berlin"]
    out = run("domain", "add", "Berlin.Test", "--site", "Berlin", "--data", data)
    assert out.returncode == 0, out.stderr
    assert run("domain", "add", "nosite.test", "--site", "Rome", "--data", data).returncode != 0
    assert run("domain", "add", "bad@domain", "--data", data).returncode != 0
    listing = run("domain", "list", "--data", data).stdout
    assert f"{DOMAIN}\tParis" in listing and "berlin.test\tBerlin" in listing
    run("user", "add", "erika@berlin.test", "--password-stdin", "--data", data, stdin="pw\n")
    shown = run("user", "show", "cn=erika,cn=Recipients,ou=Berlin,o=Acme", "--data", data)
    assert "address: erika@berlin.test" in shown.stdout
