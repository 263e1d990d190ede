# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status memo: a fresh host judged without cryptography, exactly as the full check would."""

import calendar
import datetime
import json
import os
import subprocess
import sys

import pytest

from cryptography.hazmat.primitives import serialization

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import cert_sha256
from ansible_collections.iotsec.tls.plugins.module_utils.freshness import (
    MEMO_NAME,
    memo_inputs,
    pem_certificates_sha256,
    read_generation,
    status_from_memo,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import KeySettings
from ansible_collections.iotsec.tls.plugins.module_utils.status import identity_facts
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore

LIFETIME = 3000  # seconds; the policy backdates notBefore by 60 s more


def _install(tmp_path, backend, ca, pki, issued_at, memo=True, **names):
    store = IdentityStore(str(tmp_path / "identity"))
    store.make_dirs(0o755)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    names.setdefault("common_name", "dev1")
    names.setdefault("dns_names", ["dev1.example"])
    names.setdefault("ip_addresses", ["192.0.2.1"])
    cert = pki.sign(ca, backend.public_key(store.pending_key), lifetime=LIFETIME, now=issued_at,
                    **names)
    store.install(cert, ca.chain, KeySettings())
    if not memo:  # as an earlier version left it
        os.unlink(os.path.join(os.path.realpath(os.path.join(store.path, "current")), MEMO_NAME))
    return store, cert


@pytest.fixture
def installed(tmp_path, backend, ca, pki, issued_at):
    """Installed the way certificate_install does it: with the new generation's memo."""
    return _install(tmp_path, backend, ca, pki, issued_at)


def _from_memo(store, expected, now):
    """What certificate_status's fast path returns (None: it runs the full check)."""
    chain = expected.get("ca_chain")
    want = dict(expected, ca_chain_sha256=[cert_sha256(c) for c in chain] if chain else None)
    return status_from_memo(store.path, want, now=calendar.timegm(now.utctimetuple()))


def _generation(store):
    return os.path.realpath(os.path.join(store.path, "current"))


def _codes(result):
    return [r["code"] for r in result["reasons"]]


# Each case: a change to inventory's expectations, seconds after issuance, the full check's codes.
CASES = [
    ({}, 0, []),
    ({}, 1900, []),
    ({}, 2100, ["renew"]),
    ({}, 3000, ["expired"]),
    ({"renew_before": 0.99999}, 0, ["renew"]),
    ({"force": True}, 0, ["forced"]),
    ({"force": False}, 0, []),
    ({"force": True}, 3000, ["forced", "expired"]),
    ({"common_name": "dev2"}, 0, ["subject"]),
    ({"dns_names": ["dev1.example", "extra.example"]}, 0, ["sans"]),
    ({"dns_names": ["DEV1.example.", "192.0.2.1"], "ip_addresses": []}, 0, []),
    ({"ip_addresses": []}, 0, ["sans"]),
    ({"extended_key_usage": ["serverAuth"]}, 0, ["eku"]),
    ({"extended_key_usage": None}, 0, []),
    ({"key_type": "ecdsa-p384"}, 0, ["key_type"]),
    ({"key_type": None}, 0, []),
    ({"lifetime": LIFETIME // 2}, 0, ["lifetime"]),
    ({"lifetime": LIFETIME}, 0, []),
    ({"ca_chain": None}, 0, []),
    ({"common_name": "x", "dns_names": [], "extended_key_usage": ["serverAuth"],
      "key_type": "ed25519"}, 4000, ["key_type", "subject", "sans", "eku", "expired"]),
]


@pytest.mark.parametrize("change,later,codes", CASES)
def test_memo_judges_as_the_full_check(installed, backend, expected, issued_at, change, later, codes):
    store, _cert = installed
    expected.update(change)
    now = issued_at + datetime.timedelta(seconds=later)
    full = store.status(expected, now=now)
    assert _codes(full) == codes
    assert _from_memo(store, expected, now) == full


def test_install_records_what_the_full_check_finds(installed, backend):
    store, _cert = installed
    generation = _generation(store)
    with open(os.path.join(generation, MEMO_NAME)) as handle:
        memo = json.load(handle)
    assert memo["facts"] == identity_facts(store, backend)
    assert memo["inputs"] == memo_inputs(read_generation(generation), "file")
    assert os.stat(os.path.join(generation, MEMO_NAME)).st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in json.dumps(memo)


def test_full_check_records_a_missing_memo(tmp_path, backend, ca, pki, expected, issued_at):
    store, _cert = _install(tmp_path, backend, ca, pki, issued_at, memo=False)
    memo_path = os.path.join(_generation(store), MEMO_NAME)
    assert _from_memo(store, expected, issued_at) is None
    store.status(expected, now=issued_at, check_mode=True)  # check mode: no memo written
    assert not os.path.exists(memo_path)
    full = store.status(expected, now=issued_at)
    assert os.path.exists(memo_path)
    assert _from_memo(store, expected, issued_at) == full


def test_up_to_date_memo_is_left_alone(installed, backend, expected, issued_at):
    store, _cert = installed
    memo_path = os.path.join(_generation(store), MEMO_NAME)
    before = os.stat(memo_path)
    store.status(dict(expected, key_type="ecdsa-p384"), now=issued_at)
    after = os.stat(memo_path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def _write(path, data):
    os.unlink(path)  # the generation's files may be hard links (the key): replace, not rewrite
    with open(path, "wb") as handle:
        handle.write(data)


def test_changed_certificate_is_read_again(tmp_path, installed, backend, ca, pki, expected, issued_at):
    store, _cert = installed
    other = pki.sign(ca, pki.new_key().public_key(), common_name="dev1", dns_names=["dev1.example"],
                     ip_addresses=["192.0.2.1"], lifetime=LIFETIME, now=issued_at)
    _write(os.path.join(_generation(store), "cert.pem"), other.public_bytes(serialization.Encoding.PEM))
    assert _from_memo(store, expected, issued_at) is None
    assert _codes(store.status(expected, now=issued_at)) == ["key_mismatch"]


def test_changed_key_is_read_again(installed, backend, pki, expected, issued_at):
    store, _cert = installed
    key = pki.new_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    _write(os.path.join(_generation(store), "key.pem"), key)
    assert _from_memo(store, expected, issued_at) is None
    assert _codes(store.status(expected, now=issued_at)) == ["key_mismatch"]


def test_changed_chain_is_read_again(installed, backend, ca, expected, issued_at):
    store, _cert = installed
    issuing_only = ca.chain_pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    _write(os.path.join(_generation(store), "chain.pem"), issuing_only.encode())
    assert _from_memo(store, expected, issued_at) is None
    assert _codes(store.status(expected, now=issued_at)) == ["chain_changed"]


@pytest.mark.parametrize("name", ["cert.pem", "chain.pem", "key.pem"])
def test_missing_file_is_read_again(installed, backend, expected, issued_at, name):
    store, _cert = installed
    os.unlink(os.path.join(_generation(store), name))
    assert _from_memo(store, expected, issued_at) is None
    assert store.status(expected, now=issued_at)["needs_certificate"] is True


def test_another_fleet_ca_is_judged_by_the_full_check(installed, backend, expected, issued_at, other_ca):
    """The memo knows whether the installed issuing CA signed the certificate, not another CA."""
    store, _cert = installed
    expected["ca_chain"] = other_ca.chain
    assert _from_memo(store, expected, issued_at) is None
    assert _codes(store.status(expected, now=issued_at)) == ["chain_changed", "issuer_changed"]


@pytest.mark.parametrize("content", [
    "not json", "[]", json.dumps({"format": 99}), json.dumps({"format": 1, "inputs": {}, "facts": {}}),
])
def test_unusable_memo_is_ignored(installed, expected, issued_at, content):
    store, _cert = installed
    memo_path = os.path.join(_generation(store), MEMO_NAME)
    with open(memo_path) as handle:
        memo = json.load(handle)
    if content.startswith("{") and '"inputs": {}' in content:
        content = json.dumps({"format": 1, "inputs": memo["inputs"], "facts": {"certificate": {}}})
    with open(memo_path, "w") as handle:
        handle.write(content)
    assert _from_memo(store, expected, issued_at) is None


def test_no_identity_has_no_memo(tmp_path, expected, issued_at):
    assert _from_memo(IdentityStore(str(tmp_path / "nothing")), expected, issued_at) is None


def test_bad_expectation_goes_to_the_full_check(installed, expected, issued_at):
    """A SAN that is not a name: the full check fails with its error (san_syntax)."""
    store, _cert = installed
    expected["dns_names"] = ["not a name!"]
    assert _from_memo(store, expected, issued_at) is None


def test_memo_follows_rollback(installed, backend, ca, pki, expected, issued_at):
    store, _cert = installed
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    cert2 = pki.sign(ca, backend.public_key(store.pending_key), common_name="renamed",
                     lifetime=LIFETIME, now=issued_at)
    store.install(cert2, ca.chain, KeySettings())
    assert "subject" in _codes(_from_memo(store, expected, issued_at))
    store.rollback()
    assert _codes(_from_memo(store, expected, issued_at)) == []


def test_pem_certificates_sha256(ca):
    assert pem_certificates_sha256(ca.chain_pem) == [cert_sha256(c) for c in ca.chain]
    assert pem_certificates_sha256(ca.chain_pem.encode()) == [cert_sha256(c) for c in ca.chain]
    for bad in ("", "   \n", "junk\n" + ca.chain_pem, ca.chain_pem.replace("M", "!", 1),
                "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"):
        assert pem_certificates_sha256(bad) is None


def test_fresh_check_loads_no_cryptography(installed, expected, issued_at, ca):
    """The module's fast path, in a fresh interpreter: a fresh host's check imports neither
    cryptography nor the modules that need it."""
    store, _cert = installed
    code = "\n".join([
        "import json, sys",
        "from ansible_collections.iotsec.tls.plugins.modules import certificate_status",
        "from ansible_collections.iotsec.tls.plugins.module_utils.freshness import "
        "pem_certificates_sha256, status_from_memo",
        "expected = json.loads(sys.argv[2])",
        "expected['ca_chain_sha256'] = pem_certificates_sha256(expected.pop('ca_chain_pem'))",
        "result = status_from_memo(sys.argv[1], expected)",
        "loaded = sorted(m for m in sys.modules if m.startswith('cryptography') or m.endswith(('.crypto', '.keys')))",
        "print(json.dumps({'result': result, 'loaded': loaded}))",
    ])
    want = dict(expected, ca_chain=None, ca_chain_pem=ca.chain_pem)
    out = subprocess.run([sys.executable, "-c", code, store.path, json.dumps(want)], check=True,
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    data = json.loads(out.stdout)
    assert data["loaded"] == []
    assert data["result"]["needs_certificate"] is False
    assert data["result"]["certificate"]["common_name"] == "dev1"
