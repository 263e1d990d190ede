# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cadir.py: the one owner of the CA directory, its ledger interface and the shared options."""

import os

import pytest

from ansible_collections.iotsec.tls.plugins.module_utils import cadir as cadir_mod
from ansible_collections.iotsec.tls.plugins.module_utils.cadir import CADirectory, LedgerBackend, ca_argument_spec
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import cert_summary, cert_to_pem, utcnow
from ansible_collections.iotsec.tls.plugins.module_utils.issue import issue_batch
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import COLUMNS, Ledger, LedgerError, NoLedger
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError


def test_the_layout_is_named_once(ca_dir):
    cadir = CADirectory(ca_dir)
    assert cadir.ledger_path == os.path.join(ca_dir, "ledger.sqlite3")
    assert cadir.crl_path == os.path.join(ca_dir, "crl.pem")
    assert cadir.policy_path == os.path.join(ca_dir, "policy.json")
    assert cadir.state() == "present"
    assert CADirectory(os.path.join(ca_dir, "nothing")).state() == "absent"


def test_is_ledger_accepts_any_spelling_of_its_own_ledger_only(ca_dir, tmp_path):
    cadir = CADirectory(ca_dir)
    assert cadir.is_ledger(cadir.ledger_path)
    assert cadir.is_ledger(os.path.join(ca_dir, ".", "ledger.sqlite3"))
    assert cadir.is_ledger(os.path.join(ca_dir, "..", os.path.basename(ca_dir), "ledger.sqlite3"))
    assert not cadir.is_ledger(str(tmp_path / "elsewhere.sqlite3"))
    link = str(tmp_path / "link")
    os.symlink(ca_dir, link)
    assert cadir.is_ledger(os.path.join(link, "ledger.sqlite3"))


def test_load_is_the_issuing_ca(ca_dir, passphrase):
    ca = CADirectory(ca_dir).load(passphrase)
    assert ca.key is not None and ca.ca_dir == ca_dir
    assert CADirectory(ca_dir).load(None, load_key=False).key is None
    with pytest.raises(PKIError) as err:
        CADirectory(os.path.join(ca_dir, "nothing")).load(passphrase)
    assert err.value.check == "ca_missing"


def test_create_and_policy_through_the_directory(tmp_path, passphrase):
    cadir = CADirectory(str(tmp_path / "new"))
    cadir.create(passphrase, "New", "New Org", issuing_key_type="ecdsa-p384")
    assert cadir.state() == "present"
    assert cadir.load(passphrase).cert.public_key().curve.name == "secp384r1"
    assert cadir.write_policy({"max_lifetime": "10d"}, check_mode=True)
    assert not os.path.exists(cadir.policy_path)
    assert cadir.write_policy({"max_lifetime": "10d"})
    assert cadir.read_policy()["max_lifetime"] == "10d"
    assert not cadir.write_policy({"max_lifetime": "10d"})


def test_modes_drift_and_fix(ca_dir, pki):
    cadir = CADirectory(ca_dir)
    with cadir.open_ledger():
        pass
    assert not cadir.modes_drift()
    os.chmod(cadir.file("issuing.key"), 0o644)
    os.chmod(cadir.ledger_path, 0o644)
    assert cadir.modes_drift()
    assert cadir.fix_modes()
    assert pki.mode(cadir.file("issuing.key")) == 0o600 and pki.mode(cadir.ledger_path) == 0o600
    assert not cadir.fix_modes()


def test_open_ledger_modes(ca_dir):
    cadir = CADirectory(ca_dir)
    with pytest.raises(LedgerError):
        cadir.open_ledger(read_only=True)
    noledger = cadir.open_ledger(check_mode=True)
    assert isinstance(noledger, NoLedger) and not os.path.exists(cadir.ledger_path)
    with cadir.open_ledger() as ledger:
        assert isinstance(ledger, Ledger) and not ledger.read_only
    with cadir.open_ledger(check_mode=True) as ledger:
        assert isinstance(ledger, Ledger) and ledger.read_only
    with cadir.open_ledger(read_only=True, timeout=1.0) as ledger:
        assert ledger.read_only and ledger.entries() == []


@pytest.mark.parametrize("backend", [NoLedger, Ledger])
def test_every_backend_has_the_whole_interface(backend):
    wanted = [name for name in dir(LedgerBackend) if not name.startswith("_") or name in ("__enter__", "__exit__")]
    wanted = [name for name in wanted if callable(getattr(LedgerBackend, name))]
    assert "open_ledger" not in wanted and "hosts_for_keys" in wanted and "transaction" in wanted
    missing = [name for name in wanted if not callable(getattr(backend, name, None))]
    assert missing == []


def test_no_ledger_knows_nothing_and_writes_nothing():
    ledger = NoLedger()
    with ledger.transaction(dry_run=True) as same:
        assert same is ledger
        assert ledger.hosts_for_key("x") == [] and ledger.hosts_for_keys(["x"]) == {}
        assert ledger.entries() == [] and ledger.find("01") is None and not ledger.known_host("h")
        assert ledger.crl_state() is None and ledger.revoke(["01"], "unspecified", "now") == []
    with pytest.raises(LedgerError):
        with ledger.transaction():
            pass
    with pytest.raises(LedgerError):
        ledger.record_many([{"host": "h"}])


def test_ca_argument_spec_is_fresh_and_secret():
    one, two = ca_argument_spec(), ca_argument_spec(passphrase_required=False)
    assert one["passphrase"]["no_log"] and one["passphrase"]["required"]
    assert not two["passphrase"]["required"]
    one["extra"] = {}
    assert "extra" not in ca_argument_spec()
    assert one["ca_dir"] == {"type": "path", "required": True}


def test_module_names_the_layout_nowhere_else():
    """The modules reach the CA directory's files only through CADirectory."""
    modules = os.path.join(os.path.dirname(cadir_mod.__file__), "..", "modules")
    for name in ("fleet_ca", "fleet_ca_info", "fleet_crl", "certificate_issue", "certificate_revoke"):
        with open(os.path.join(modules, name + ".py")) as handle:
            code = handle.read().split('"""\n\n', 3)[-1]  # after DOCUMENTATION, EXAMPLES, RETURN
        for word in ("ledger.sqlite3", "crl.pem", "policy.json", "IssuingCA(", "Ledger("):
            assert word not in code, (name, word)


# --- the ledger's batch methods, and issue_batch on them -------------------------------------

def test_hosts_for_keys_answers_many_keys_in_chunks(ca, ledger, pki, monkeypatch):
    monkeypatch.setattr("ansible_collections.iotsec.tls.plugins.module_utils.ledger._PER_QUERY", 2)
    keys = [pki.new_key() for _key in range(5)]
    results = issue_batch(ca, ledger, [pki.request("dev%d" % i, key) for i, key in enumerate(keys)])
    hashes = [results["dev%d" % i]["public_key_sha256"] for i in range(5)]
    assert ledger.hosts_for_keys(hashes + ["unknown"]) == dict(
        (h, ["dev%d" % i]) for i, h in enumerate(hashes))
    assert ledger.hosts_for_key(hashes[3]) == ["dev3"]
    assert ledger.hosts_for_key("unknown") == []
    # a second batch supersedes across chunks
    issue_batch(ca, ledger, [pki.request("dev%d" % i, pki.new_key()) for i in range(5)])
    assert sorted(e["host"] for e in ledger.entries(status="superseded")) == ["dev%d" % i for i in range(5)]
    assert len(ledger.entries(status="valid")) == 5


def test_record_many_refuses_two_certificates_for_one_host(ledger):
    entry = dict((c, "x") for c in COLUMNS if c not in ("status", "revoked_at", "revocation_reason"))
    entry["sans"] = []
    with pytest.raises(LedgerError):
        with ledger.transaction():
            ledger.record_many([dict(entry), dict(entry, serial="y", sha256="y")])
    assert ledger.entries() == []


def test_a_read_only_ledger_gives_a_read_transaction(ca, tmp_path, pki):
    path = str(tmp_path / "ledger.sqlite3")
    with Ledger(path) as writer:
        issue_batch(ca, writer, [pki.request("dev1", pki.new_key())])
    with Ledger(path, read_only=True) as reader:
        with reader.transaction():
            assert len(reader.entries()) == 1
        results = issue_batch(ca, reader, [pki.request("dev2", pki.new_key())], check_mode=True)
        assert results["dev2"]["would_issue"]
    with Ledger(path) as writer:
        assert len(writer.entries()) == 1


def test_issued_facts_are_what_the_certificate_says(ca, ledger, pki):
    """issue_batch takes its facts from what it built; they must be what cert_summary reads."""
    requests = [pki.request("dev1", pki.new_key(), dns_names=["b.example", "A.example"],
                            ip_addresses=["2001:db8::1", "192.0.2.7"]),
                pki.request("broker1", pki.new_key("ecdsa-p384"), profile="broker",
                            dns_names=["broker1.example"], common_name="mqtt-1", lifetime="1d"),
                pki.request("dev3", pki.new_key("ed25519"), dns_names=["dev3.example"], lifetime="300s")]
    results = issue_batch(ca, ledger, requests, now=utcnow())
    for host, result in results.items():
        cert = pki.load(result["certificate"])
        assert result["certificate"] == cert_to_pem(cert)
        for key, value in cert_summary(cert).items():
            assert result[key] == value, (host, key)
        entry = ledger.find(result["serial"])
        assert entry["subject"] == result["subject"] and entry["sha256"] == result["sha256"]
        assert (entry["not_before"], entry["not_after"]) == (result["not_before"], result["not_after"])
