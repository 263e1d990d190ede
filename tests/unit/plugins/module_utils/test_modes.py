# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every directory and file the collection creates has its own mode, whatever the umask.

Each test runs under umask 000 (nothing masked: a mode left to the umask comes out world
writable) and under umask 077 (everything but the owner masked: a mode left to the umask comes
out unreadable for services), and compares the mode of every path it created with a table.
Symlinks are left out: their mode means nothing.
"""

import os
import stat

import pytest

from ansible_collections.iotsec.tls.plugins.module_utils import ca as ca_mod
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import KeySettings, ensure_dir
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import Ledger
from ansible_collections.iotsec.tls.plugins.module_utils.revocation import publish
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore

DAY = 86400


@pytest.fixture(params=[0o000, 0o077], ids=["umask000", "umask077"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def modes(top):
    """{path relative to top: mode} of every directory and file below top (symlinks left out)."""
    out = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            if not stat.S_ISLNK(st.st_mode):
                out[os.path.relpath(full, top)] = stat.S_IMODE(st.st_mode)
    return out


def test_ensure_dir_gives_every_new_parent_0755(tmp_path, umask):
    ensure_dir(str(tmp_path / "a" / "b" / "c"), 0o700)
    assert modes(str(tmp_path)) == {"a": 0o755, "a/b": 0o755, "a/b/c": 0o700}


def test_ensure_dir_leaves_existing_parents_alone(tmp_path, umask):
    os.mkdir(str(tmp_path / "a"))
    os.chmod(str(tmp_path / "a"), 0o711)
    ensure_dir(str(tmp_path / "a" / "b"), 0o750)
    assert modes(str(tmp_path)) == {"a": 0o711, "a/b": 0o750}


@pytest.mark.parametrize("with_group", [False, True], ids=["owner", "group"])
def test_identity_tree(tmp_path, ca, backend, pki, with_group, umask):
    """identity_key / certificate_status prepare_key, then certificate_install, into an
    identity directory two levels below anything that exists."""
    gid = os.getgid() if with_group else -1
    key_mode = 0o640 if with_group else 0o600
    store = IdentityStore(str(tmp_path / "etc" / "iotsec-tls" / "identity"))
    top = str(tmp_path / "etc")

    result = store.next_key("ecdsa-p256", False, "dev1", KeySettings(-1, gid, key_mode, 0o755))
    assert result["key_created"]
    pending = 0o750 if with_group else 0o700
    before = {
        "iotsec-tls": 0o755,
        "iotsec-tls/identity": 0o755,
        "iotsec-tls/identity/.lock": 0o600,
        "iotsec-tls/identity/pending": pending,
        "iotsec-tls/identity/pending/key.pem": key_mode,
    }
    assert modes(top) == before

    cert = pki.sign(ca, backend.public_key(store.pending_key), dns_names=["dev1"])
    generation = store.install(cert, ca.chain, KeySettings(-1, gid, key_mode))["generation"]
    gen = "iotsec-tls/identity/" + generation
    after = dict(before)
    del after["iotsec-tls/identity/pending/key.pem"]
    after.update({
        gen: 0o755,
        gen + "/key.pem": key_mode,
        gen + "/cert.pem": 0o644,
        gen + "/chain.pem": 0o644,
        gen + "/fullchain.pem": 0o644,
        gen + "/status.json": 0o600,
    })
    assert modes(top) == after


def test_lock_file_made_world_writable_before_is_tightened(store, umask):
    path = os.path.join(store.path, ".lock")
    with open(path, "a"):
        pass
    os.chmod(path, 0o666)
    with store.lock():
        pass
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_lock_does_not_follow_a_symlink(store, tmp_path, umask):
    victim = str(tmp_path / "victim")
    with open(victim, "w"):
        pass
    os.chmod(victim, 0o644)
    os.symlink(victim, os.path.join(store.path, ".lock"))
    with pytest.raises(OSError):
        with store.lock():
            pass
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o644


def test_ca_tree(tmp_path, pki, passphrase, umask):
    """fleet_ca (create, policy), certificate_issue (ledger, WAL files while it is open) and
    fleet_crl (crl.pem), in a CA directory two levels below anything that exists."""
    top = str(tmp_path / "var")
    ca_dir = str(tmp_path / "var" / "lib" / "ca")
    ca_mod.create_ca(ca_dir, passphrase, "Test", "Test Org")
    ca_mod.write_policy(ca_dir, {"max_lifetime": "30d"})
    ca = ca_mod.IssuingCA(ca_dir, passphrase)
    expected = {
        "lib": 0o755,
        "lib/ca": 0o700,
        "lib/ca/root.pem": 0o644,
        "lib/ca/root.key": 0o600,
        "lib/ca/issuing.pem": 0o644,
        "lib/ca/issuing.key": 0o600,
        "lib/ca/chain.pem": 0o644,
        "lib/ca/policy.json": 0o600,
    }
    assert modes(top) == expected

    ledger = Ledger(os.path.join(ca_dir, "ledger.sqlite3"))
    try:
        result = pki.issue(ca, ledger, [pki.request("dev1", pki.new_key(), dns_names=["dev1"])])
        assert result["dev1"]["ok"], result
        with ledger.transaction():
            publish(ca, ledger, os.path.join(ca_dir, "crl.pem"), DAY)
        expected.update({
            "lib/ca/ledger.sqlite3": 0o600,
            "lib/ca/ledger.sqlite3-wal": 0o600,
            "lib/ca/ledger.sqlite3-shm": 0o600,
            "lib/ca/crl.pem": 0o644,
        })
        assert modes(top) == expected
    finally:
        ledger.close()


def test_ledger_rollback_journal(tmp_path, umask):
    """A rollback journal (a ledger taken out of WAL mode by hand) has the ledger's mode too."""
    path = str(tmp_path / "ledger.sqlite3")
    ledger = Ledger(path)
    try:
        ledger.db.execute("PRAGMA journal_mode = DELETE")
        ledger.begin()
        ledger.save_crl(1, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "[]")
        assert modes(str(tmp_path)) == {"ledger.sqlite3": 0o600, "ledger.sqlite3-journal": 0o600}
        ledger.commit()
    finally:
        ledger.close()
    assert modes(str(tmp_path)) == {"ledger.sqlite3": 0o600}
