# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch issuance under the CA policy: the CA decides, the CSR only brings a key."""

import base64
import datetime
import ipaddress

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import ca as ca_mod
from ansible_collections.iotsec.tls.plugins.module_utils import policy as policy_mod
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError, normalize_sans
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    cert_sha256,
    spki_sha256,
    utcnow,
)
from ansible_collections.iotsec.tls.plugins.module_utils.issue import issue_batch


def _cn(cert):
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def _o(cert):
    return cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value


def _sans(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return (sorted(san.get_values_for_type(x509.DNSName)),
            sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)))


def _ekus(cert):
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _refused(results, host, check):
    result = results[host]
    assert result["ok"] is False, result
    assert result["issued"] is False
    assert "certificate" not in result
    assert result["error"]["check"] == check, result["error"]
    assert host in result["msg"]
    assert result["error"]["hint"]
    return result


def _good(pki, host="good1"):
    return pki.request(host, pki.new_key(), dns_names=[host + ".example"])


def _assert_good_issued(results, ledger, host="good1"):
    assert results[host]["ok"] is True and results[host]["issued"] is True, results[host]
    assert [e["host"] for e in ledger.entries(host=host)] == [host]


def _tamper_pem(pem, mutate):
    der = x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER)
    der = mutate(bytearray(der))
    body = base64.encodebytes(bytes(der)).decode("ascii")
    return "-----BEGIN CERTIFICATE REQUEST-----\n%s-----END CERTIFICATE REQUEST-----\n" % body


# --- what is issued ------------------------------------------------------------------------

def test_batch_issues_each_host_with_policy_names(ca, ledger, pki):
    now = utcnow()
    keys = dict((h, pki.new_key()) for h in ("dev1", "dev2", "broker1"))
    requests = [
        pki.request("dev1", keys["dev1"], dns_names=["dev1.example"]),
        pki.request("dev2", keys["dev2"], common_name="device-0002",
                    dns_names=["DEV2.Example.", "10.0.0.2"], ip_addresses=["fd00::2"]),
        pki.request("broker1", keys["broker1"], profile="broker",
                    dns_names=["broker1.example", "mqtt.example"], ip_addresses=["192.0.2.1"]),
    ]
    results = issue_batch(ca, ledger, requests, now=now)
    assert sorted(results) == ["broker1", "dev1", "dev2"]
    certs = {}
    for host, result in results.items():
        assert result["ok"] and result["issued"], result
        assert result["host"] == host
        assert result["chain"] == ca.chain_pem
        certs[host] = pki.load(result["certificate"])
        assert spki_sha256(certs[host].public_key()) == spki_sha256(keys[host].public_key())
        assert result["sha256"] == cert_sha256(certs[host])
        assert _o(certs[host]) == "iotsec.tls fleet"
        assert certs[host].issuer == ca.cert.subject

    assert _cn(certs["dev1"]) == "dev1"
    assert _cn(certs["dev2"]) == "device-0002"
    assert _cn(certs["broker1"]) == "broker1"
    assert _sans(certs["dev1"]) == (["dev1.example"], [])
    # DNS names are normalised; names that are IP addresses become IP SANs
    assert _sans(certs["dev2"]) == (["dev2.example"], ["10.0.0.2", "fd00::2"])
    assert _sans(certs["broker1"]) == (["broker1.example", "mqtt.example"], ["192.0.2.1"])
    assert _ekus(certs["dev1"]) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert _ekus(certs["dev2"]) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert _ekus(certs["broker1"]) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert results["broker1"]["extended_key_usage"] == ["serverAuth"]
    assert results["broker1"]["profile"] == "broker"
    assert results["dev1"]["profile"] == "device"


def test_certificate_extensions(ca, ledger, pki):
    key = pki.new_key()
    cert = pki.load(issue_batch(ca, ledger, [pki.request("dev1", key, dns_names=["d.example"])])
                    ["dev1"]["certificate"])
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False and bc.value.path_length is None
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert not (ku.value.key_cert_sign or ku.value.crl_sign or ku.value.content_commitment
                or ku.value.key_encipherment or ku.value.data_encipherment
                or ku.value.key_agreement)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca.cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest
    assert not cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    assert cert.version == x509.Version.v3


def test_hostile_csr_contents_are_ignored(ca, ledger, pki):
    key = pki.new_key()
    request = {"host": "dev7", "csr": pki.hostile_csr_pem(key), "dns_names": ["dev7.example"]}
    result = issue_batch(ca, ledger, [request])["dev7"]
    assert result["ok"], result
    cert = pki.load(result["certificate"])
    # subject: from the request and the policy only
    assert cert.subject == x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "iotsec.tls fleet"),
        x509.NameAttribute(NameOID.COMMON_NAME, "dev7"),
    ])
    # SANs exactly as requested
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.DNSName("dev7.example")]
    # not a CA, no serverAuth/codeSigning, no keyCertSign
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert _ekus(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not ku.key_cert_sign and not ku.crl_sign and not ku.key_encipherment
    # and no extension beyond the CA's own set
    assert set(ext.oid for ext in cert.extensions) == {
        ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME}
    assert spki_sha256(cert.public_key()) == spki_sha256(key.public_key())


def test_csr_names_are_not_used_when_request_has_none(ca, ledger, pki):
    result = issue_batch(ca, ledger, [{"host": "dev8", "csr": pki.hostile_csr_pem(
        pki.new_key())}])["dev8"]
    cert = pki.load(result["certificate"])
    assert _cn(cert) == "dev8"
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_lifetime_and_backdate(ca, ledger, pki):
    now = utcnow()
    results = issue_batch(ca, ledger, [
        pki.request("dev1", pki.new_key(), lifetime="5m"),
        pki.request("dev2", pki.new_key(), lifetime="1d12h"),
        pki.request("dev3", pki.new_key()),  # default 7d
    ], now=now)
    for host, seconds in (("dev1", 300), ("dev2", 129600), ("dev3", 7 * 86400)):
        cert = pki.load(results[host]["certificate"])
        assert cert.not_valid_after_utc - now == datetime.timedelta(seconds=seconds)
        assert now - cert.not_valid_before_utc == datetime.timedelta(seconds=60)


def test_backdate_from_policy(ca_dir, ledger, pki):
    ca_mod.write_policy(ca_dir, {"backdate": "5m"})
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    now = utcnow()
    cert = pki.load(issue_batch(ca, ledger, [pki.request("dev1", pki.new_key())], now=now)
                    ["dev1"]["certificate"])
    assert now - cert.not_valid_before_utc == datetime.timedelta(minutes=5)
    ca_mod.write_policy(ca_dir, {"backdate": "0"})
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    cert = pki.load(issue_batch(ca, ledger, [pki.request("dev2", pki.new_key())], now=now)
                    ["dev2"]["certificate"])
    assert cert.not_valid_before_utc == now


def test_organization_from_policy(ca_dir, ledger, pki):
    ca_mod.write_policy(ca_dir, {"organization": "ACME Sensors"})
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    cert = pki.load(issue_batch(ca, ledger, [pki.request("dev1", pki.new_key())])
                    ["dev1"]["certificate"])
    assert _o(cert) == "ACME Sensors"


def test_serials_are_random_and_long(ca, ledger, pki):
    results = issue_batch(ca, ledger, [pki.request("dev%d" % i, pki.new_key())
                                       for i in range(4)])
    serials = [pki.load(r["certificate"]).serial_number for r in results.values()]
    assert len(set(serials)) == 4
    for serial in serials:
        assert serial > 0
        assert serial.bit_length() > 64
        assert serial.bit_length() <= 159
    for result in results.values():
        text = result["serial"]
        assert len(text) % 2 == 0 and text == text.upper()
        assert int(text, 16) == pki.load(result["certificate"]).serial_number


def test_subject_key_types(ca, ledger, pki, rsa3072_key):
    results = issue_batch(ca, ledger, [
        pki.request("k-p256", pki.new_key("ecdsa-p256")),
        pki.request("k-p384", pki.new_key("ecdsa-p384")),
        pki.request("k-ed25519", pki.new_key("ed25519")),
        pki.request("k-rsa", rsa3072_key),
    ])
    assert dict((h, r["key_type"]) for h, r in results.items()) == {
        "k-p256": "ecdsa-p256", "k-p384": "ecdsa-p384", "k-ed25519": "ed25519",
        "k-rsa": "rsa-3072"}


# --- refusals, each for its own host ------------------------------------------------------

def test_bad_csr_pem(ca, ledger, pki):
    results = issue_batch(ca, ledger, [
        {"host": "bad1", "csr": "not a csr"},
        {"host": "bad2", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                "-----END CERTIFICATE REQUEST-----\n"},
        {"host": "bad3"},
        {"host": "bad4", "csr": "A" * 70000},
        _good(pki),
    ])
    for host in ("bad1", "bad2", "bad3", "bad4"):
        _refused(results, host, "csr_parse")
    _assert_good_issued(results, ledger)


def test_csr_with_flipped_signature_bit(ca, ledger, pki):
    def flip_last_byte(der):
        der[-1] ^= 0x01
        return der

    bad = _tamper_pem(pki.csr_pem(pki.new_key()), flip_last_byte)
    # the tampered CSR still parses: it is the signature check that refuses it
    assert x509.load_pem_x509_csr(bad.encode()).is_signature_valid is False
    results = issue_batch(ca, ledger, [{"host": "dev1", "csr": bad}, _good(pki)])
    _refused(results, "dev1", "csr_signature")
    _assert_good_issued(results, ledger)


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ed25519"])
def test_csr_with_spliced_public_key(ca, ledger, pki, key_type):
    """A CSR signed by one key but carrying another public key (same length) is refused."""
    signer, victim = pki.new_key(key_type), pki.new_key(key_type)

    def spki(key):
        return key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)

    def splice(der):
        assert bytes(der).count(spki(signer)) == 1
        return bytearray(bytes(der).replace(spki(signer), spki(victim)))

    bad = _tamper_pem(pki.csr_pem(signer), splice)
    assert spki_sha256(x509.load_pem_x509_csr(bad.encode()).public_key()) == \
        spki_sha256(victim.public_key())
    results = issue_batch(ca, ledger, [{"host": "dev1", "csr": bad}, _good(pki)])
    _refused(results, "dev1", "csr_signature")
    _assert_good_issued(results, ledger)
    assert ledger.hosts_for_key(spki_sha256(victim.public_key())) == []


def test_rsa_2048_below_policy(ca, ledger, pki, rsa2048_key):
    results = issue_batch(ca, ledger, [pki.request("dev1", rsa2048_key), _good(pki)])
    result = _refused(results, "dev1", "key_policy")
    assert "rsa-2048" in result["error"]["message"]
    _assert_good_issued(results, ledger)


def test_key_type_not_allowed_by_policy(ca_dir, ledger, pki):
    ca_mod.write_policy(ca_dir, {"allowed_key_types": ["ecdsa-p256"]})
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    results = issue_batch(ca, ledger, [
        pki.request("p384", pki.new_key("ecdsa-p384")),
        pki.request("ed", pki.new_key("ed25519")),
        pki.request("p256", pki.new_key("ecdsa-p256")),
    ])
    _refused(results, "p384", "key_policy")
    _refused(results, "ed", "key_policy")
    _assert_good_issued(results, ledger, "p256")


def test_rsa_3072_refused_when_policy_lists_only_rsa_4096(ca_dir, ledger, pki, rsa3072_key):
    """allowed_key_types [rsa-4096] must not let an rsa-3072 key through.

    key_type_allowed() accepts any RSA key of at least min_rsa_bits (default 3072) as soon
    as any rsa-* type is listed, so the listed size is ignored.
    """
    ca_mod.write_policy(ca_dir, {"allowed_key_types": ["rsa-4096", "ecdsa-p256"]})
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    results = issue_batch(ca, ledger, [pki.request("dev1", rsa3072_key), _good(pki)])
    _assert_good_issued(results, ledger)
    _refused(results, "dev1", "key_policy")


@pytest.mark.parametrize("lifetime", ["31d", "5w", 30 * 86400 + 1])
def test_lifetime_above_maximum(ca, ledger, pki, lifetime):
    results = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key(), lifetime=lifetime),
                                       _good(pki)])
    result = _refused(results, "dev1", "lifetime")
    assert "maximum" in result["error"]["message"]
    _assert_good_issued(results, ledger)


@pytest.mark.parametrize("lifetime", ["soon", "7x", "-1d", "1.5d", True, "30s"])
def test_lifetime_garbage_or_too_short(ca, ledger, pki, lifetime):
    results = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key(), lifetime=lifetime),
                                       _good(pki)])
    _refused(results, "dev1", "lifetime")
    _assert_good_issued(results, ledger)


def test_lifetime_exactly_maximum(ca, ledger, pki):
    now = utcnow()
    result = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key(), lifetime="30d")],
                         now=now)["dev1"]
    assert result["ok"]
    assert pki.load(result["certificate"]).not_valid_after_utc == now + datetime.timedelta(days=30)


def test_lifetime_beyond_issuing_ca(tmp_path, ledger, pki):
    ca_dir = str(tmp_path / "short-ca")
    ca_mod.create_ca(ca_dir, pki.passphrase, "Short", "Org", root_lifetime="10d",
                     issuing_lifetime="2d")
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    results = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key(), lifetime="7d"),
                                       pki.request("good1", pki.new_key(), lifetime="1d")])
    _refused(results, "dev1", "lifetime")
    _assert_good_issued(results, ledger)


@pytest.mark.parametrize("names", [
    {"dns_names": ["bad_name.example"]},
    {"dns_names": ["-leading.example"]},
    {"dns_names": ["trailing-.example"]},
    {"dns_names": ["a..b"]},
    {"dns_names": ["*.example.com"]},
    {"dns_names": [""]},
    {"dns_names": ["x" * 64 + ".example"]},
    {"dns_names": ["spa ce.example"]},
    {"ip_addresses": ["300.1.1.1"]},
    {"ip_addresses": ["host.example"]},
])
def test_invalid_san(ca, ledger, pki, names):
    results = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key(), **names), _good(pki)])
    _refused(results, "dev1", "san_syntax")
    _assert_good_issued(results, ledger)


@pytest.mark.parametrize("request_names", [
    {"host": "dev 1"},
    {"host": "dev1", "common_name": "-dev1"},
    {"host": "dev1", "common_name": "dev1/../../etc"},
    {"host": "dev1", "common_name": "CN=admin,O=x"},
    {"host": "dev1", "common_name": "d" * 65},
    {"host": "dev1", "common_name": "dev1\n"},
    {"host": "dev1", "common_name": "dév1"},
])
def test_bad_device_id(ca, ledger, pki, request_names):
    request = dict(request_names, csr=pki.csr_pem(pki.new_key()))
    results = issue_batch(ca, ledger, [request, _good(pki)])
    _refused(results, request["host"], "name")
    _assert_good_issued(results, ledger)


def test_unknown_profile(ca, ledger, pki):
    results = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key(), profile="ca"),
                                       _good(pki)])
    _refused(results, "dev1", "profile")
    _assert_good_issued(results, ledger)


def test_request_without_host(ca, ledger, pki):
    results = issue_batch(ca, ledger, [{"csr": pki.csr_pem(pki.new_key())}, _good(pki)])
    assert results["<no host>"]["ok"] is False
    assert results["<no host>"]["error"]["check"] == "request"
    _assert_good_issued(results, ledger)


def test_key_reuse_across_hosts_refused(ca, ledger, pki):
    key = pki.new_key()
    first = issue_batch(ca, ledger, [pki.request("dev1", key)])
    assert first["dev1"]["ok"]
    results = issue_batch(ca, ledger, [pki.request("dev2", key), _good(pki)])
    result = _refused(results, "dev2", "key_reuse")
    assert "dev1" in result["error"]["message"]
    _assert_good_issued(results, ledger)
    assert ledger.hosts_for_key(spki_sha256(key.public_key())) == ["dev1"]


def test_same_key_twice_in_one_batch_refused_for_both(ca, ledger, pki):
    key = pki.new_key()
    results = issue_batch(ca, ledger, [pki.request("dev1", key), pki.request("dev2", key),
                                       _good(pki)])
    _refused(results, "dev1", "key_reuse")
    _refused(results, "dev2", "key_reuse")
    _assert_good_issued(results, ledger)
    assert ledger.hosts_for_key(spki_sha256(key.public_key())) == []


def test_duplicate_host_in_one_batch_refused(ca, ledger, pki):
    """Two requests for one host in a batch: refused with check 'request', nothing issued.

    issue_batch records the refusal of the second request in results[host], but the
    first request was already prepared and its issuance later overwrites that entry:
    the host gets a certificate (for whichever CSR came first) and the refusal is lost.
    """
    results = issue_batch(ca, ledger, [pki.request("dev1", pki.new_key()),
                                       pki.request("dev1", pki.new_key()), _good(pki)])
    _assert_good_issued(results, ledger)
    _refused(results, "dev1", "request")
    assert ledger.entries(host="dev1") == []


def test_same_host_may_reuse_its_own_key(ca, ledger, pki):
    key = pki.new_key()
    first = issue_batch(ca, ledger, [pki.request("dev1", key)])["dev1"]
    second = issue_batch(ca, ledger, [pki.request("dev1", key)])["dev1"]
    assert first["ok"] and second["ok"]
    assert first["serial"] != second["serial"]
    statuses = dict((e["serial"], e["status"]) for e in ledger.entries(host="dev1"))
    assert statuses == {first["serial"]: "superseded", second["serial"]: "valid"}


def test_all_refusals_in_one_batch(ca_dir, ledger, pki, rsa2048_key):
    ca_mod.write_policy(ca_dir, {"allowed_key_types": ["ecdsa-p256", "ed25519"]})
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    reused = pki.new_key()
    assert issue_batch(ca, ledger, [pki.request("owner", reused)])["owner"]["ok"]
    twin = pki.new_key()
    requests = [
        {"host": "parse", "csr": "garbage"},
        pki.request("rsa", rsa2048_key),
        pki.request("p384", pki.new_key("ecdsa-p384")),
        pki.request("long", pki.new_key(), lifetime="90d"),
        pki.request("garbage-life", pki.new_key(), lifetime="forever"),
        pki.request("san", pki.new_key(), dns_names=["under_score.example"]),
        pki.request("subject", pki.new_key(), common_name="has space"),
        pki.request("reuse", reused),
        pki.request("twin-a", twin),
        pki.request("twin-b", twin),
        pki.request("ok-1", pki.new_key(), dns_names=["ok-1.example"]),
        pki.request("ok-2", pki.new_key("ed25519"), profile="broker", dns_names=["ok-2.example"], lifetime="10m"),
    ]
    results = issue_batch(ca, ledger, requests)
    expected = {"parse": "csr_parse", "rsa": "key_policy", "p384": "key_policy",
                "long": "lifetime", "garbage-life": "lifetime", "san": "san_syntax",
                "subject": "name", "reuse": "key_reuse", "twin-a": "key_reuse",
                "twin-b": "key_reuse"}
    for host, check in expected.items():
        _refused(results, host, check)
    for host in ("ok-1", "ok-2"):
        assert results[host]["ok"] and results[host]["issued"]
    assert sorted(e["host"] for e in ledger.entries()) == ["ok-1", "ok-2", "owner"]


def test_check_mode_issues_and_records_nothing(ca, ledger, pki):
    key = pki.new_key()
    results = issue_batch(ca, ledger, [pki.request("dev1", key, lifetime="1d"),
                                       {"host": "bad", "csr": "garbage"}], check_mode=True)
    assert results["dev1"]["ok"] is True
    assert results["dev1"]["issued"] is False
    assert results["dev1"]["would_issue"] is True
    assert results["dev1"]["lifetime_seconds"] == 86400
    assert "certificate" not in results["dev1"]
    _refused(results, "bad", "csr_parse")
    assert ledger.entries() == []
    assert ledger.hosts_for_key(spki_sha256(key.public_key())) == []


def test_check_mode_reports_key_reuse(ca, ledger, pki):
    key = pki.new_key()
    issue_batch(ca, ledger, [pki.request("dev1", key)])
    results = issue_batch(ca, ledger, [pki.request("dev2", key)], check_mode=True)
    _refused(results, "dev2", "key_reuse")
    assert len(ledger.entries()) == 1


def test_failure_while_signing_rolls_back_the_batch(ca, ledger, pki, monkeypatch):
    calls = []
    real = policy_mod.sign_leaf

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)
    from ansible_collections.iotsec.tls.plugins.module_utils import issue as issue_mod
    monkeypatch.setattr(issue_mod, "sign_leaf", flaky)
    with pytest.raises(RuntimeError):
        issue_batch(ca, ledger, [pki.request("dev1", pki.new_key()),
                                 pki.request("dev2", pki.new_key())])
    assert ledger.entries() == []
    # the ledger is usable afterwards (no transaction left open)
    monkeypatch.setattr(issue_mod, "sign_leaf", real)
    assert issue_batch(ca, ledger, [pki.request("dev3", pki.new_key())])["dev3"]["ok"]


# --- policy helpers --------------------------------------------------------------------------

def test_check_policy_defaults_and_errors():
    policy = policy_mod.check_policy({})
    assert policy["max_lifetime_seconds"] == 30 * 86400
    assert policy["min_lifetime_seconds"] == 60
    assert policy["backdate_seconds"] == 60
    assert policy_mod.check_policy({"backdate": "0s"})["backdate_seconds"] == 0
    assert policy_mod.check_policy({"max_lifetime": None})["max_lifetime"] == "30d"
    for bad in ({"max_lifetime": "forever"}, {"allowed_key_types": ["dsa-1024"]},
                {"min_rsa_bits": 2048}):
        with pytest.raises(PKIError) as err:
            policy_mod.check_policy(bad)
        assert err.value.check == "policy"


def test_normalize_sans():
    assert normalize_sans(["B.example.", "a.example", "a.example", "10.0.0.1"],
                          ["::1", " 192.0.2.1 "]) == (
        ["a.example", "b.example"], ["10.0.0.1", "192.0.2.1", "::1"])
    assert normalize_sans([], []) == ([], [])
    assert normalize_sans(["x" * 63 + ".example"], []) == (
        ["x" * 63 + ".example"], [])
    assert str(ipaddress.ip_address("2001:db8::1")) in normalize_sans(
        ["2001:DB8::1"], [])[1]
