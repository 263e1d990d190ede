# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""status.evaluate: does a host need a new certificate, and why."""

import datetime
import os

import pytest

from cryptography.hazmat.primitives import serialization

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import cert_sha256, utcnow
from ansible_collections.iotsec.tls.plugins.module_utils.issue import issue_batch
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import KeySettings
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError

LIFETIME = 3000  # seconds; the policy backdates notBefore by 60 s more


@pytest.fixture
def installed(tmp_path, backend, ca, pki, issued_at):
    """A device identity installed the way the collection does it; returns (store, cert)."""
    store = IdentityStore(str(tmp_path / "identity"))
    store.make_dirs(0o755)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    cert = pki.sign(ca, backend.public_key(store.pending_key), common_name="dev1",
                    dns_names=["dev1.example"], ip_addresses=["192.0.2.1"],
                    lifetime=LIFETIME, now=issued_at)
    store.install(cert, ca.chain, KeySettings(key_mode=0o600))
    return store, cert


def _codes(result):
    return [r["code"] for r in result["reasons"]]


def _current(store, name):
    return os.path.join(store.path, store.link_target("current"), name)


def test_fresh(installed, backend, expected, issued_at):
    store, cert = installed
    result = store.status(expected, now=issued_at)
    assert result["reasons"] == []
    assert result["needs_certificate"] is False
    assert result["certificate"]["sha256"] == cert_sha256(cert)
    assert result["certificate"]["common_name"] == "dev1"
    assert result["remaining_seconds"] == LIFETIME
    assert result["lifetime_seconds"] == LIFETIME + 60


def test_fresh_with_default_now(installed, backend, expected):
    store, _cert = installed
    assert store.status(expected)["reasons"] == []


def test_fresh_ignoring_optional_expectations(installed, backend, issued_at):
    store, _cert = installed
    result = store.status({"dns_names": ["dev1.example"], "ip_addresses": ["192.0.2.1"]}, now=issued_at)
    assert result["reasons"] == []


def test_missing(tmp_path, backend, expected):
    store = IdentityStore(str(tmp_path / "nothing"))
    result = store.status(expected)
    assert _codes(result) == ["missing", "missing"]
    assert result["needs_certificate"] is True
    assert result["certificate"] is None
    assert result["remaining_seconds"] is None


def test_unreadable_certificate(installed, backend, expected, issued_at):
    store, _cert = installed
    with open(_current(store, "cert.pem"), "w") as handle:
        handle.write("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    result = store.status(expected, now=issued_at)
    assert _codes(result) == ["unreadable"]
    assert result["needs_certificate"] is True
    assert result["certificate"] is None


def test_key_mismatch(installed, backend, expected, issued_at, pki):
    store, _cert = installed
    other = pki.new_key()
    with open(_current(store, "key.pem"), "wb") as handle:
        handle.write(other.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    assert _codes(store.status(expected, now=issued_at)) == ["key_mismatch"]


def test_key_missing_and_unreadable(installed, backend, expected, issued_at):
    store, _cert = installed
    key_path = _current(store, "key.pem")
    os.unlink(key_path)
    assert _codes(store.status(expected, now=issued_at)) == ["key_missing"]
    with open(key_path, "w") as handle:
        handle.write("not a key")
    assert _codes(store.status(expected, now=issued_at)) == ["key_unreadable"]


def test_chain_changed(installed, backend, expected, issued_at, other_ca):
    store, _cert = installed
    expected["ca_chain"] = other_ca.chain
    assert _codes(store.status(expected, now=issued_at)) == \
        ["chain_changed", "issuer_changed"]


def test_chain_changed_only(installed, backend, expected, issued_at, ca):
    """Same issuing CA, but the installed chain lacks the root."""
    store, _cert = installed
    with open(_current(store, "chain.pem"), "w") as handle:
        handle.write(ca.chain_pem.split("-----END CERTIFICATE-----")[0]
                     + "-----END CERTIFICATE-----\n")
    assert _codes(store.status(expected, now=issued_at)) == ["chain_changed"]


def test_issuer_changed(tmp_path, backend, expected, issued_at, ca, other_ca, pki):
    """A certificate of another CA installed beside the fleet chain."""
    store = IdentityStore(str(tmp_path / "identity"))
    store.make_dirs(0o755)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    cert = pki.sign(other_ca, backend.public_key(store.pending_key), common_name="dev1",
                    dns_names=["dev1.example"], ip_addresses=["192.0.2.1"],
                    lifetime=LIFETIME, now=issued_at)
    with pytest.raises(PKIError) as err:  # install itself refuses the pair ...
        store.install(cert, ca.chain, KeySettings())
    assert err.value.check == "chain"
    # ... so it is written as a hand (or an older version) could have left it
    store._write_generation(cert, ca.chain, store.pending_key, KeySettings())
    assert _codes(store.status(expected, now=issued_at)) == ["issuer_changed"]


def test_issuer_changed_to_other_key_type_with_same_name(tmp_path, backend, expected,
                                                         issued_at, pki):
    """The fleet CA was re-created (same name) with an Ed25519 issuing key; the host still
    has a certificate from it while the expected chain is the ECDSA one (or vice versa).
    evaluate() must report it, not crash in signed_by() (see test_crypto)."""
    from ansible_collections.iotsec.tls.plugins.module_utils import ca as ca_mod
    ed_dir = str(tmp_path / "ed-ca")
    ca_mod.create_ca(ed_dir, pki.passphrase, "Test", "Test Org", issuing_key_type="ed25519")
    ed_ca = ca_mod.IssuingCA(ed_dir, pki.passphrase)
    assert ed_ca.cert.subject == expected["ca_chain"][0].subject
    store = IdentityStore(str(tmp_path / "identity"))
    store.make_dirs(0o755)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    cert = pki.sign(ed_ca, backend.public_key(store.pending_key), common_name="dev1",
                    dns_names=["dev1.example"], ip_addresses=["192.0.2.1"],
                    lifetime=LIFETIME, now=issued_at)
    store.install(cert, ed_ca.chain, KeySettings(key_mode=0o600))
    assert _codes(store.status(expected, now=issued_at)) == \
        ["chain_changed", "issuer_changed"]


def test_common_name_differs(installed, backend, expected, issued_at):
    store, _cert = installed
    expected["common_name"] = "dev2"
    assert _codes(store.status(expected, now=issued_at)) == ["subject"]


@pytest.mark.parametrize("change", [
    {"dns_names": ["dev1.example", "extra.example"]},
    {"dns_names": []},
    {"dns_names": ["other.example"]},
    {"ip_addresses": []},
    {"ip_addresses": ["192.0.2.2"]},
])
def test_sans_differ(installed, backend, expected, issued_at, change):
    store, _cert = installed
    expected.update(change)
    assert _codes(store.status(expected, now=issued_at)) == ["sans"]


def test_sans_compared_after_normalisation(installed, backend, expected, issued_at):
    store, _cert = installed
    expected["dns_names"] = ["DEV1.example.", "192.0.2.1"]
    expected["ip_addresses"] = []
    assert _codes(store.status(expected, now=issued_at)) == []


def test_eku_differs(installed, backend, expected, issued_at):
    store, _cert = installed
    expected["extended_key_usage"] = ["serverAuth"]
    assert _codes(store.status(expected, now=issued_at)) == ["eku"]
    expected["extended_key_usage"] = ["clientAuth", "serverAuth"]
    assert _codes(store.status(expected, now=issued_at)) == ["eku"]


def test_key_type_differs(installed, backend, expected, issued_at):
    store, _cert = installed
    expected["key_type"] = "ecdsa-p384"
    assert _codes(store.status(expected, now=issued_at)) == ["key_type"]


def test_expired(installed, backend, expected):
    store, cert = installed
    later = cert.not_valid_after_utc + datetime.timedelta(seconds=1)
    result = store.status(expected, now=later)
    assert _codes(result) == ["expired"]
    assert result["remaining_seconds"] == -1
    assert _codes(store.status(expected, now=cert.not_valid_after_utc)) == ["expired"]


@pytest.mark.parametrize("fraction", [0.5, 1.0 / 3, 0.1])
def test_renew_threshold(installed, backend, expected, fraction):
    store, cert = installed
    expected["renew_before"] = fraction
    total = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    threshold = cert.not_valid_after_utc - datetime.timedelta(seconds=total * fraction)
    inside = threshold + datetime.timedelta(seconds=1)
    outside = threshold - datetime.timedelta(seconds=1)
    assert _codes(store.status(expected, now=inside)) == ["renew"]
    assert _codes(store.status(expected, now=outside)) == []


def test_several_reasons_at_once(installed, backend, expected, issued_at, other_ca):
    store, cert = installed
    expected.update(common_name="x", dns_names=[], extended_key_usage=["serverAuth"],
                    key_type="ed25519", ca_chain=other_ca.chain)
    later = cert.not_valid_after_utc + datetime.timedelta(days=1)
    assert sorted(_codes(store.status(expected, now=later))) == sorted(
        ["key_type", "chain_changed", "issuer_changed", "subject", "sans", "eku", "expired"])


def test_evaluate_follows_rollback(installed, backend, expected, issued_at, ca, pki):
    store, cert1 = installed
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    cert2 = pki.sign(ca, backend.public_key(store.pending_key), common_name="renamed",
                     lifetime=LIFETIME, now=issued_at)
    store.install(cert2, ca.chain, KeySettings(key_mode=0o600))
    assert "subject" in _codes(store.status(expected, now=issued_at))
    store.rollback()
    assert _codes(store.status(expected, now=issued_at)) == []


# --- configured lifetime (shortened lifetimes take effect at once) ---------------------------

def test_configured_lifetime_shorter_than_remaining(installed, backend, expected, issued_at):
    store, _cert = installed
    expected["lifetime"] = LIFETIME // 2
    assert _codes(store.status(expected, now=issued_at)) == ["lifetime"]
    expected["lifetime"] = LIFETIME
    assert _codes(store.status(expected, now=issued_at)) == []


def test_configured_lifetime_tolerates_clock_skew(tmp_path, backend, ca, ledger, pki):
    """A certificate just issued with the configured lifetime is fresh on the device.

    The device's clock may lag the CA's by less than the policy backdate (60 s, which
    exists for clock skew). evaluate() compares the remaining time with the configured
    lifetime, so with the device 30 s behind the CA the just-installed certificate has
    30 s more than `lifetime` left and is reported as 'lifetime': every run reissues.
    """
    store = IdentityStore(str(tmp_path / "identity"))
    store.make_dirs(0o755)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    ca_now = utcnow()
    result = issue_batch(ca, ledger, [{"host": "dev1", "csr": pki.csr_pem(
        _load_key(store.pending_key)), "lifetime": "7d"}], now=ca_now)["dev1"]
    cert = pki.load(result["certificate"])
    store.install(cert, ca.chain, KeySettings(key_mode=0o600))
    device_now = ca_now - datetime.timedelta(seconds=30)
    outcome = store.status({"common_name": "dev1", "lifetime": 7 * 86400}, now=device_now)
    assert _codes(outcome) == []


def _load_key(path):
    with open(path, "rb") as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)
