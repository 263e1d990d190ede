# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""crypto.py: chain checks by direct signature verification, loading, summaries."""

import datetime

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import ca as ca_mod
from ansible_collections.iotsec.tls.plugins.module_utils import crypto
from ansible_collections.iotsec.tls.plugins.module_utils.policy import (
    build_certificate,
    check_policy,
)
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    cert_to_pem,
    load_certificate,
    load_certificates,
    signed_by,
    verify_chain,
)


def _chain_error(cert, chain):
    with pytest.raises(PKIError) as err:
        verify_chain(cert, chain)
    assert err.value.check == "chain"
    return err.value.message


# --- verify_chain ----------------------------------------------------------------------------

def test_verify_chain_positive(ca, pki):
    leaf = pki.sign(ca, pki.new_key().public_key())
    assert verify_chain(leaf, ca.chain) is True
    assert verify_chain(ca.cert, [ca.root]) is True


def test_verify_chain_wrong_issuer(ca, other_ca, pki):
    leaf = pki.sign(ca, pki.new_key().public_key())
    message = _chain_error(leaf, other_ca.chain)
    assert "is not signed by" in message and "Other Issuing CA" in message


def test_verify_chain_same_name_other_key(ca, tmp_path, pki):
    """An impostor CA with the fleet's names but another key does not verify."""
    impostor_dir = str(tmp_path / "impostor")
    ca_mod.create_ca(impostor_dir, pki.passphrase, "Test", "Test Org")
    impostor = ca_mod.IssuingCA(impostor_dir, pki.passphrase)
    assert impostor.cert.subject == ca.cert.subject
    leaf = pki.sign(impostor, pki.new_key().public_key())
    assert "is not signed by" in _chain_error(leaf, ca.chain)
    assert not signed_by(leaf, ca.cert)


def test_verify_chain_non_ca_parent(ca, pki):
    parent_key = pki.new_key()
    parent = pki.sign(ca, parent_key.public_key(), common_name="not-a-ca")
    child = crypto_child(parent, parent_key, pki.new_key().public_key())
    assert signed_by(child, parent)
    message = _chain_error(child, [parent] + ca.chain)
    assert "is not a CA certificate" in message


def crypto_child(issuer_cert, issuer_key, public_key, now=None):
    """An end-entity certificate signed by any issuer (also a non-CA one)."""
    return build_certificate(public_key, issuer_cert, issuer_key, "child", [], [], "device",
                             3600, check_policy({}), now or crypto.utcnow(),
                             x509.random_serial_number())


def test_verify_chain_not_ending_in_self_signed_root(ca, pki):
    leaf = pki.sign(ca, pki.new_key().public_key())
    message = _chain_error(leaf, [ca.cert])
    assert "self-signed root" in message
    message = _chain_error(leaf, [])
    assert "self-signed root" in message


def test_verify_chain_wrong_order(ca, pki):
    leaf = pki.sign(ca, pki.new_key().public_key())
    assert "is not signed by" in _chain_error(leaf, [ca.root, ca.cert])


def test_verify_chain_expired_ca(pki):
    root_key = pki.new_key()
    past = crypto.utcnow() - datetime.timedelta(days=30)
    root = pki.self_signed_ca(root_key, lifetime=86400, now=past)
    # signed while the root was valid; the root has expired since
    leaf = crypto_child(root, root_key, pki.new_key().public_key(), now=past)
    assert signed_by(leaf, root)
    assert "outside its validity period" in _chain_error(leaf, [root])


# --- signed_by ---------------------------------------------------------------------------

@pytest.mark.parametrize("issuer_type", ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072"])
def test_signed_by_each_issuer_algorithm(pki, rsa3072_key, issuer_type):
    issuer_key = rsa3072_key if issuer_type == "rsa-3072" else pki.new_key(issuer_type)
    issuer = pki.self_signed_ca(issuer_key, common_name="CA " + issuer_type)
    assert signed_by(issuer, issuer)
    leaf = crypto_child(issuer, issuer_key, pki.new_key().public_key())
    assert signed_by(leaf, issuer)
    assert verify_chain(leaf, [issuer]) is True
    # same subject name, another key of the same type: the signature check refuses it
    # (for RSA an EC key stands in: RSA keys are made once per session)
    other_key = pki.new_key("ecdsa-p256" if issuer_type == "rsa-3072" else issuer_type)
    impostor = pki.self_signed_ca(other_key, common_name="CA " + issuer_type)
    assert impostor.subject == issuer.subject
    assert not signed_by(leaf, impostor)
    # a different name is refused before any signature check
    assert not signed_by(leaf, pki.self_signed_ca(issuer_key, common_name="Another"))


@pytest.mark.parametrize("signer_type,candidate_type", [
    ("ed25519", "ecdsa-p256"),
    ("ed25519", "rsa-3072"),
    ("ecdsa-p256", "ed25519"),
    ("ecdsa-p256", "rsa-3072"),
    ("rsa-3072", "ecdsa-p384"),
    ("rsa-3072", "ed25519"),
])
def test_signed_by_issuer_of_another_algorithm(pki, rsa3072_key, signer_type, candidate_type):
    """A candidate issuer with the right name but a key of another algorithm: False.

    This happens when a fleet CA is re-created with another key type under the same name
    (the CA names are derived from `name` only). For a certificate signed with Ed25519,
    signed_by() passes cert.signature_hash_algorithm (None) to ec.ECDSA() or to the RSA
    verify, which raises TypeError instead of returning False; certificate_status and
    certificate_install then fail with a traceback instead of a clear finding.
    """
    def key(kind):
        return rsa3072_key if kind == "rsa-3072" else pki.new_key(kind)
    signer_key = key(signer_type)
    signer = pki.self_signed_ca(signer_key, common_name="Fleet Issuing CA")
    leaf = crypto_child(signer, signer_key, pki.new_key().public_key())
    candidate = pki.self_signed_ca(key(candidate_type), common_name="Fleet Issuing CA")
    assert candidate.subject == signer.subject
    assert signed_by(leaf, signer) is True
    assert signed_by(leaf, candidate) is False


def test_signed_by_rejects_tampered_certificate(ca, pki):
    leaf = pki.sign(ca, pki.new_key().public_key())
    der = bytearray(leaf.public_bytes(crypto.serialization.Encoding.DER))
    der[-1] ^= 0x01  # inside the signature
    tampered = x509.load_der_x509_certificate(bytes(der))
    assert signed_by(leaf, ca.cert)
    assert not signed_by(tampered, ca.cert)


# --- loading -----------------------------------------------------------------------------

def test_load_certificates_several(ca):
    text = "leading text\n" + cert_to_pem(ca.cert) + "\n# comment\n" + cert_to_pem(ca.root)
    certs = load_certificates(text)
    assert [crypto.cert_sha256(c) for c in certs] == [crypto.cert_sha256(ca.cert),
                                                      crypto.cert_sha256(ca.root)]
    assert len(load_certificates(text.encode())) == 2
    assert len(load_certificates(cert_to_pem(ca.root))) == 1


@pytest.mark.parametrize("data", ["", "no pem here", b"", "-----END CERTIFICATE-----"])
def test_load_certificates_none(data):
    with pytest.raises(PKIError) as err:
        load_certificates(data, "the chain")
    assert err.value.check == "certificate_parse"
    assert "the chain" in err.value.message


def test_load_certificates_broken_block(ca):
    text = cert_to_pem(ca.cert) + "-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n"
    with pytest.raises(PKIError) as err:
        load_certificates(text)
    assert err.value.check == "certificate_parse"


def test_load_certificate(ca):
    assert crypto.cert_sha256(load_certificate(cert_to_pem(ca.root))) == \
        crypto.cert_sha256(ca.root)
    with pytest.raises(PKIError) as err:
        load_certificate("garbage")
    assert err.value.check == "certificate_parse"


# --- small helpers -----------------------------------------------------------------------

def test_serial_hex():
    assert crypto.serial_hex(0xABC) == "0ABC"
    assert crypto.serial_hex(0xABCD) == "ABCD"
    assert crypto.serial_hex(1) == "01"


def test_eku_names():
    assert crypto.eku_name(crypto.eku_oid("clientAuth")) == "clientAuth"
    assert crypto.eku_name(crypto.eku_oid("serverAuth")) == "serverAuth"
    assert crypto.eku_name(x509.oid.ExtendedKeyUsageOID.CODE_SIGNING) == "1.3.6.1.5.5.7.3.3"


def test_pki_error():
    err = PKIError("some_check", "what went wrong", "what to do")
    assert err.as_dict() == {"check": "some_check", "message": "what went wrong",
                             "hint": "what to do"}
    assert str(err) == "what went wrong [check: some_check] Fix: what to do"
    assert str(PKIError("c", "m")) == "m [check: c]"


def test_cert_summary(ca, pki):
    key = pki.new_key("ed25519")
    leaf = pki.sign(ca, key.public_key(), common_name="dev9", dns_names=["b.example",
                    "a.example"], ip_addresses=["192.0.2.9"], profile="broker")
    summary = crypto.cert_summary(leaf)
    assert summary["common_name"] == "dev9"
    assert summary["dns_names"] == ["a.example", "b.example"]
    assert summary["ip_addresses"] == ["192.0.2.9"]
    assert summary["extended_key_usage"] == ["serverAuth"]
    assert summary["key_type"] == "ed25519"
    assert summary["public_key_sha256"] == crypto.spki_sha256(key.public_key())
    assert summary["serial"] == crypto.serial_hex(leaf.serial_number)
    assert summary["not_after"].endswith("Z")
    assert summary["issuer"] == ca.cert.subject.rfc4514_string()
    assert summary["subject"] == leaf.subject.rfc4514_string()


def test_validity_fallback_for_old_cryptography(ca):
    """cryptography < 42 has only the naive not_valid_before/after."""
    class Old:
        not_valid_before = ca.cert.not_valid_before_utc.replace(tzinfo=None)
        not_valid_after = ca.cert.not_valid_after_utc.replace(tzinfo=None)
    assert crypto.cert_not_before(Old()) == ca.cert.not_valid_before_utc
    assert crypto.cert_not_after(Old()) == ca.cert.not_valid_after_utc


def test_common_name_absent(pki):
    key = pki.new_key()
    cert = pki.self_signed_ca(key)
    assert crypto.cert_common_name(cert) == "Test Root"
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "only O")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(1)
               .not_valid_before(crypto.utcnow())
               .not_valid_after(crypto.utcnow() + datetime.timedelta(days=1)))
    assert crypto.cert_common_name(builder.sign(key, hashes.SHA256())) is None


# --- the one copy of each signing helper -------------------------------------------------

def test_signing_hash_is_none_for_ed25519_and_sha256_by_default(pki):
    assert crypto.signing_hash(pki.new_key("ed25519")) is None
    assert crypto.signing_hash(pki.new_key("ed25519"), hashes.SHA384()) is None
    assert isinstance(crypto.signing_hash(pki.new_key()), hashes.SHA256)
    assert isinstance(crypto.signing_hash(pki.new_key(), hashes.SHA384()), hashes.SHA384)


def test_ca_certificates_are_signed_with_sha384_leaves_and_crls_with_sha256(ca, pki):
    leaf = pki.sign(ca, pki.new_key().public_key())
    assert isinstance(ca.cert.signature_hash_algorithm, hashes.SHA384)
    assert isinstance(ca.root.signature_hash_algorithm, hashes.SHA384)
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)


def test_authority_key_identifier_is_the_issuers_subject_key_identifier(ca, pki):
    leaf = pki.sign(ca, pki.new_key().public_key())
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert crypto.authority_key_identifier(ca.cert) == aki


def test_is_ca_certificate(ca, pki):
    assert crypto.is_ca_certificate(ca.cert) and crypto.is_ca_certificate(ca.root)
    assert not crypto.is_ca_certificate(pki.sign(ca, pki.new_key().public_key()))


def test_time_text_round_trips_in_utc():
    when = datetime.datetime(2026, 12, 3, 6, 4, 5, tzinfo=datetime.timezone.utc)
    assert crypto.isoformat(when) == "2026-12-03T06:04:05Z"
    assert crypto.parse_isoformat("2026-12-03T06:04:05Z") == when
    east = when.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    assert crypto.isoformat(east) == "2026-12-03T06:04:05Z"
