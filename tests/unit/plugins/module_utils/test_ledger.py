# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ledger: schema, entries, supersession, file mode and concurrent writers."""

import multiprocessing
import os
import sqlite3
import threading
import time
import traceback

import pytest

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
from cryptography import x509

from ansible_collections.iotsec.tls.plugins.module_utils.ca import IssuingCA
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    cert_sha256,
    isoformat,
    serial_hex,
    spki_sha256,
    utcnow,
)
from ansible_collections.iotsec.tls.plugins.module_utils.issue import issue_batch
from ansible_collections.iotsec.tls.plugins.module_utils.keys import build_csr
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import (
    COLUMNS,
    SCHEMA_VERSION,
    Ledger,
    LedgerError,
)


def test_schema_created(tmp_path):
    path = str(tmp_path / "ledger.sqlite3")
    Ledger(path).close()
    db = sqlite3.connect(path)
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(certificates)")]
        assert tuple(columns) == COLUMNS
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = set(row[1] for row in db.execute("PRAGMA index_list(certificates)"))
        assert {"certificates_host", "certificates_key"} <= indexes
    finally:
        db.close()
    # reopening an existing ledger keeps it as it is
    with Ledger(path) as led:
        assert led.entries() == []
        assert led.check() == "ok"


def test_newer_schema_refused(tmp_path):
    path = str(tmp_path / "ledger.sqlite3")
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = %d" % (SCHEMA_VERSION + 1))
    db.close()
    with pytest.raises(LedgerError):
        Ledger(path)


def test_read_only_changes_nothing(tmp_path, ca, pki):
    path = str(tmp_path / "ledger.sqlite3")
    with pytest.raises(LedgerError):
        Ledger(path, read_only=True)  # no ledger: not created
    assert not os.path.exists(path)
    with Ledger(path) as led:
        issue_batch(ca, led, [pki.request("dev1", pki.new_key())])
    before = pki.snapshot(str(tmp_path))
    with Ledger(path, read_only=True) as led:
        assert [e["host"] for e in led.entries()] == ["dev1"]
        with pytest.raises(sqlite3.OperationalError):
            led.revoke([led.entries()[0]["serial"]], "keyCompromise", "2026-01-01T00:00:00Z")
    assert pki.snapshot(str(tmp_path)) == before  # no WAL files left behind either
    with Ledger(path) as led:
        assert led.entries()[0]["status"] == "valid"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = %d" % (SCHEMA_VERSION - 1))
    db.close()
    with pytest.raises(LedgerError):
        Ledger(path, read_only=True)  # an older schema is upgraded by a writer only


def test_missing_directory(tmp_path):
    with pytest.raises(LedgerError):
        Ledger(str(tmp_path / "nowhere" / "ledger.sqlite3"))


def test_ledger_file_mode(tmp_path, ca, pki):
    path = str(tmp_path / "ledger.sqlite3")
    old = os.umask(0o022)
    try:
        with Ledger(path) as led:
            issue_batch(ca, led, [pki.request("dev1", pki.new_key())])
            for name in os.listdir(str(tmp_path)):
                if name.startswith("ledger.sqlite3"):
                    assert pki.mode(str(tmp_path / name)) == 0o600, name
        assert os.umask(0o022) == 0o022  # the process umask is restored
    finally:
        os.umask(old)
    assert pki.mode(path) == 0o600


def test_entry_has_every_column(ca, ledger, pki):
    key = pki.new_key()
    now = utcnow()
    result = issue_batch(ca, ledger, [pki.request("broker1", key, profile="broker",
                                                  dns_names=["broker1.example", "b.example"],
                                                  ip_addresses=["192.0.2.1"])],
                         now=now)["broker1"]
    cert = pki.load(result["certificate"])
    entries = ledger.entries()
    assert len(entries) == 1
    entry = entries[0]
    assert set(entry) == set(COLUMNS)
    assert entry["serial"] == serial_hex(cert.serial_number) == result["serial"]
    assert entry["host"] == "broker1"
    assert entry["profile"] == "broker"
    assert entry["subject"] == cert.subject.rfc4514_string()
    assert entry["sans"] == ["b.example", "broker1.example", "192.0.2.1"]
    assert entry["not_before"] == isoformat(cert.not_valid_before_utc)
    assert entry["not_after"] == isoformat(cert.not_valid_after_utc)
    assert entry["sha256"] == cert_sha256(cert)
    assert entry["public_key_sha256"] == spki_sha256(key.public_key())
    assert entry["issuer_sha256"] == cert_sha256(ca.cert)
    assert entry["status"] == "valid"
    assert entry["issued_at"] == isoformat(now)
    assert entry["revoked_at"] is None
    assert entry["revocation_reason"] is None
    assert ledger.entries(host="broker1", status="valid") == entries
    assert ledger.entries(host="other") == []
    assert ledger.entries(status="revoked") == []


def test_reissue_supersedes_earlier_certificate(ca, ledger, pki):
    first = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key()),
                                     pki.request("dev2", pki.new_key())])
    second = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key())])
    by_serial = dict((e["serial"], e) for e in ledger.entries())
    assert by_serial[first["dev1"]["serial"]]["status"] == "superseded"
    assert by_serial[second["dev1"]["serial"]]["status"] == "valid"
    assert by_serial[first["dev2"]["serial"]]["status"] == "valid"
    assert [e["serial"] for e in ledger.entries(host="dev1", status="valid")] == \
        [second["dev1"]["serial"]]


def test_revoked_entries_stay_revoked_on_reissue(ca, ledger, pki):
    first = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key())])["dev1"]
    ledger.db.execute("UPDATE certificates SET status = 'revoked', revoked_at = 'x' "
                      "WHERE serial = ?", (first["serial"],))
    issue_batch(ca, ledger, [pki.request("dev1", pki.new_key())])
    statuses = sorted(e["status"] for e in ledger.entries(host="dev1"))
    assert statuses == ["revoked", "valid"]


def test_status_is_constrained(ledger):
    entry = dict((c, "x") for c in COLUMNS)
    entry.update(sans=[], status="bogus")
    with pytest.raises(sqlite3.IntegrityError):
        ledger.record(entry)


# --- concurrency -------------------------------------------------------------------------------

WORKERS = 8
SHARED_HOSTS = ("shared-a", "shared-b")


def _worker(index, ca_dir, passphrase, ledger_path, barrier, queue):
    try:
        ca = IssuingCA(ca_dir, passphrase)
        requests = []
        for host in SHARED_HOSTS + ("w%d-a" % index, "w%d-b" % index, "w%d-c" % index):
            key = ec.generate_private_key(ec.SECP256R1())
            csr = build_csr(key, host).public_bytes(serialization.Encoding.PEM).decode()
            requests.append({"host": host, "csr": csr, "dns_names": [host + ".example"]})
        barrier.wait(60)  # everyone opens the ledger and starts issuing at once
        with Ledger(ledger_path) as led:
            results = issue_batch(ca, led, requests)
        queue.put((index, dict((h, (r["ok"], r.get("serial"), r.get("error")))
                               for h, r in results.items())))
    except BaseException:
        queue.put((index, traceback.format_exc()))


def test_opening_waits_for_a_writer_on_a_new_ledger(tmp_path):
    """Ledger() must wait (busy timeout) for another writer, also while the file is new.

    Two processes opening a ledger that does not exist yet race on the switch to WAL:
    one holds the write lock while the other's `PRAGMA journal_mode = WAL` already holds
    a read lock and needs to upgrade it. SQLite then returns SQLITE_BUSY at once without
    calling the busy handler (deadlock avoidance), so Ledger() fails immediately with
    'database is locked' instead of waiting. The same happens in about 1 of 20 runs of
    8 concurrent first-time issue_batch calls. Reproduced here deterministically: another
    connection holds the write lock of a fresh (rollback-journal) file for 0.3 s.
    """
    path = str(tmp_path / "ledger.sqlite3")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE IF NOT EXISTS scratch (a)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO scratch VALUES (1)")
    releaser = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    releaser.start()
    started = time.time()
    try:
        led = Ledger(path, timeout=10)
        led.close()
    finally:
        releaser.join()
        other.close()
    assert time.time() - started >= 0.25


def test_concurrent_batches(tmp_path, ca_dir, passphrase):
    ledger_path = str(tmp_path / "ledger.sqlite3")
    # An existing ledger: the first-open race is covered by the test above.
    Ledger(ledger_path).close()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker,
                         args=(i, ca_dir, passphrase, ledger_path, barrier, queue))
             for i in range(WORKERS)]
    for proc in procs:
        proc.start()
    try:
        outcomes = dict(queue.get(timeout=120) for _proc in procs)
    finally:
        for proc in procs:
            proc.join(30)
    failures = dict((i, o) for i, o in outcomes.items() if isinstance(o, str))
    assert not failures, "\n".join("worker %d:\n%s" % item for item in failures.items())
    assert all(proc.exitcode == 0 for proc in procs)

    issued_serials = []
    for index, results in outcomes.items():
        assert len(results) == len(SHARED_HOSTS) + 3
        for host, (ok, serial, error) in results.items():
            assert ok, (index, host, error)
            issued_serials.append(serial)

    with Ledger(ledger_path) as led:
        entries = led.entries()
        assert led.check() == "ok"
        assert len(entries) == WORKERS * (len(SHARED_HOSTS) + 3) == len(issued_serials)
        assert sorted(e["serial"] for e in entries) == sorted(issued_serials)
        assert len(set(e["serial"] for e in entries)) == len(entries)
        assert len(set(e["sha256"] for e in entries)) == len(entries)
        hosts = set(e["host"] for e in entries)
        for host in hosts:
            valid = [e for e in entries if e["host"] == host and e["status"] == "valid"]
            assert len(valid) == 1, host
        for host in SHARED_HOSTS:
            rows = [e for e in entries if e["host"] == host]
            assert len(rows) == WORKERS
            assert sorted(e["status"] for e in rows).count("superseded") == WORKERS - 1


def _reuse_worker(index, ca_dir, passphrase, ledger_path, key_pem, barrier, queue):
    try:
        ca = IssuingCA(ca_dir, passphrase)
        key = serialization.load_pem_private_key(key_pem, password=None)
        csr = build_csr(key, "x").public_bytes(serialization.Encoding.PEM).decode()
        barrier.wait(60)
        with Ledger(ledger_path) as led:
            result = issue_batch(ca, led, [{"host": "host%d" % index, "csr": csr}])
        queue.put((index, result["host%d" % index]["ok"]))
    except BaseException:
        queue.put((index, traceback.format_exc()))


def test_concurrent_batches_cannot_share_a_key(tmp_path, ca_dir, passphrase):
    """The key-reuse check and the insert are one transaction: one key, one host."""
    ledger_path = str(tmp_path / "ledger.sqlite3")
    Ledger(ledger_path).close()
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    ctx = multiprocessing.get_context("fork")
    workers = 6
    barrier = ctx.Barrier(workers)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_reuse_worker,
                         args=(i, ca_dir, passphrase, ledger_path, key_pem, barrier, queue))
             for i in range(workers)]
    for proc in procs:
        proc.start()
    try:
        outcomes = dict(queue.get(timeout=120) for _proc in procs)
    finally:
        for proc in procs:
            proc.join(30)
    assert all(isinstance(o, bool) for o in outcomes.values()), "\n".join(
        str(o) for o in outcomes.values())
    assert sorted(outcomes.values()) == [False] * (workers - 1) + [True]
    with Ledger(ledger_path) as led:
        assert len(led.hosts_for_key(spki_sha256(key.public_key()))) == 1
        assert len(led.entries()) == 1


def test_x509_serials_on_ledger_match_certificates(ca, ledger, pki):
    results = issue_batch(ca, ledger, [pki.request("h%d" % i, pki.new_key()) for i in range(3)])
    for result in results.values():
        cert = x509.load_pem_x509_certificate(result["certificate"].encode())
        [entry] = [e for e in ledger.entries() if e["sha256"] == cert_sha256(cert)]
        assert int(entry["serial"], 16) == cert.serial_number


def test_transaction_commits_rolls_back_and_dry_runs(tmp_path):
    from ansible_collections.iotsec.tls.plugins.module_utils.ledger import Ledger as _Ledger
    with _Ledger(str(tmp_path / "t.sqlite3")) as led:
        with led.transaction():
            led.save_crl(1, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "[]")
        assert led.crl_state()["number"] == 1
        with led.transaction(dry_run=True):
            led.save_crl(2, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "[]")
        assert led.crl_state()["number"] == 1
        try:
            with led.transaction():
                led.save_crl(3, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "[]")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert led.crl_state()["number"] == 1
