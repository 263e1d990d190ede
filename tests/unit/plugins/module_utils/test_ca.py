# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet CA: creation, encryption at rest, file modes, loading and import."""

import datetime
import json
import os

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import ca as ca_mod
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    PKIError,
    cert_sha256,
    cert_to_pem,
    signed_by,
    spki_sha256,
    utcnow,
)


def _read(ca_dir, name):
    with open(os.path.join(ca_dir, name), "rb") as handle:
        return handle.read()


def _ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls)


def _unencrypted_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _encrypted_pem(key, password):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(password.encode()))


# --- creation ------------------------------------------------------------------------------

def test_create_ca_root_and_issuing_certificates(ca_dir, pki):
    root = pki.load(_read(ca_dir, "root.pem"))
    issuing = pki.load(_read(ca_dir, "issuing.pem"))

    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.public_key().curve.name == "secp384r1"
    assert isinstance(issuing.public_key(), ec.EllipticCurvePublicKey)
    assert issuing.public_key().curve.name == "secp256r1"

    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test Root CA"
    assert issuing.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Test Issuing CA"
    for cert in (root, issuing):
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Test Org"

    root_bc = _ext(root, x509.BasicConstraints)
    assert root_bc.critical
    assert root_bc.value.ca is True
    assert root_bc.value.path_length is None
    issuing_bc = _ext(issuing, x509.BasicConstraints)
    assert issuing_bc.critical
    assert issuing_bc.value.ca is True
    assert issuing_bc.value.path_length == 0

    for cert in (root, issuing):
        ku = _ext(cert, x509.KeyUsage)
        assert ku.critical
        assert ku.value.key_cert_sign and ku.value.crl_sign
        assert not ku.value.digital_signature
        assert not ku.value.key_encipherment
        ski = _ext(cert, x509.SubjectKeyIdentifier)
        assert ski.value == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())

    aki = _ext(issuing, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(root, x509.SubjectKeyIdentifier).value.digest

    assert root.issuer == root.subject and signed_by(root, root)
    assert issuing.issuer == root.subject and signed_by(issuing, root)
    assert _read(ca_dir, "chain.pem").decode() == cert_to_pem(issuing) + cert_to_pem(root)


def test_ca_lifetimes(tmp_path, pki):
    ca_dir = str(tmp_path / "ca")
    before = utcnow()
    ca_mod.create_ca(ca_dir, pki.passphrase, "Life", "Org", root_lifetime="100d",
                     issuing_lifetime="50d")
    root = pki.load(_read(ca_dir, "root.pem"))
    issuing = pki.load(_read(ca_dir, "issuing.pem"))
    tolerance = datetime.timedelta(seconds=5)
    assert abs(root.not_valid_after_utc - (before + datetime.timedelta(days=100))) < tolerance
    assert abs(issuing.not_valid_after_utc - (before + datetime.timedelta(days=50))) < tolerance
    assert root.not_valid_before_utc < before


def test_ca_keys_encrypted_at_rest(ca_dir, pki):
    for key_name, cert_name in (("root.key", "root.pem"), ("issuing.key", "issuing.pem")):
        data = _read(ca_dir, key_name)
        assert b"BEGIN ENCRYPTED PRIVATE KEY" in data
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(data, password=None)
        with pytest.raises(ValueError):
            serialization.load_pem_private_key(data, password=b"not the passphrase at all")
        key = serialization.load_pem_private_key(data, password=pki.passphrase.encode())
        cert = pki.load(_read(ca_dir, cert_name))
        assert spki_sha256(key.public_key()) == spki_sha256(cert.public_key())


def test_ca_file_modes(tmp_path, pki):
    ca_dir = str(tmp_path / "ca")
    os.mkdir(ca_dir, 0o755)
    os.chmod(ca_dir, 0o755)
    old = os.umask(0o022)
    try:
        ca_mod.create_ca(ca_dir, pki.passphrase, "Modes", "Org")
    finally:
        os.umask(old)
    assert pki.mode(ca_dir) == 0o700
    assert pki.mode(os.path.join(ca_dir, "root.key")) == 0o600
    assert pki.mode(os.path.join(ca_dir, "issuing.key")) == 0o600
    for name in ("root.pem", "issuing.pem", "chain.pem"):
        assert pki.mode(os.path.join(ca_dir, name)) == 0o644
    # no temporary files are left behind by the atomic writes
    assert sorted(os.listdir(ca_dir)) == sorted(ca_mod.CA_FILES)


@pytest.mark.parametrize("bad", ["", None, "short", "elevenchars"])
def test_create_ca_refuses_short_passphrase(tmp_path, bad):
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.create_ca(ca_dir, bad, "Test", "Org")
    assert err.value.check == "ca_passphrase"
    assert not os.path.exists(ca_dir)


def test_create_ca_passphrase_of_minimum_length(tmp_path):
    ca_dir = str(tmp_path / "ca")
    ca_mod.create_ca(ca_dir, "x" * ca_mod.MIN_PASSPHRASE, "Test", "Org")
    assert ca_mod.ca_state(ca_dir) == "present"


def test_create_ca_bad_lifetime(tmp_path, pki):
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.create_ca(ca_dir, pki.passphrase, "Test", "Org", root_lifetime="ten years")
    assert err.value.check == "ca_lifetime"
    assert not os.path.exists(ca_dir)


def test_create_ca_issuing_outliving_root_changes_nothing(tmp_path, pki):
    """Trust model 6: bad input gets a clear error and changes nothing.

    An issuing lifetime longer than the root's is refused (ca_lifetime), but the root
    is written first, so the directory is left 'partial' and every later run fails
    with ca_partial until someone cleans it by hand.
    """
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.create_ca(ca_dir, pki.passphrase, "Test", "Org", root_lifetime="10d",
                         issuing_lifetime="20d")
    assert err.value.check == "ca_lifetime"
    assert ca_mod.ca_state(ca_dir) == "absent", os.listdir(ca_dir)


def test_create_ca_ed25519(tmp_path, pki):
    ca_dir = str(tmp_path / "ca")
    ca_mod.create_ca(ca_dir, pki.passphrase, "Ed", "Org", root_key_type="ed25519",
                     issuing_key_type="ed25519")
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    assert signed_by(ca.cert, ca.root)
    assert ca.cert.signature_hash_algorithm is None


# --- loading -------------------------------------------------------------------------------

def test_issuing_ca_loads(ca_dir, ca, pki):
    assert spki_sha256(ca.key.public_key()) == spki_sha256(ca.cert.public_key())
    assert [cert_sha256(c) for c in ca.chain] == [cert_sha256(ca.cert), cert_sha256(ca.root)]
    info = ca.info()
    assert info["root_sha256"] == cert_sha256(ca.root)
    assert info["issuing_sha256"] == cert_sha256(ca.cert)
    assert info["chain"] == _read(ca_dir, "chain.pem").decode()
    assert "PRIVATE" not in json.dumps(info)
    assert not any(k.endswith("_seconds") for k in info["policy"])


def test_issuing_ca_public_only_needs_no_passphrase(ca_dir):
    ca = ca_mod.IssuingCA(ca_dir, None, load_key=False)
    assert ca.key is None
    assert ca.info()["issuing_sha256"] == cert_sha256(ca.cert)


def test_wrong_passphrase(ca_dir):
    with pytest.raises(PKIError) as err:
        ca_mod.IssuingCA(ca_dir, "a wrong but long passphrase")
    assert err.value.check == "ca_passphrase"
    assert "correct horse" not in str(err.value)


@pytest.mark.parametrize("bad", [None, "", "short"])
def test_load_with_missing_or_short_passphrase(ca_dir, bad):
    with pytest.raises(PKIError) as err:
        ca_mod.IssuingCA(ca_dir, bad)
    assert err.value.check == "ca_passphrase"


def test_missing_ca(tmp_path, pki):
    with pytest.raises(PKIError) as err:
        ca_mod.IssuingCA(str(tmp_path / "nowhere"), pki.passphrase)
    assert err.value.check == "ca_missing"
    os.mkdir(str(tmp_path / "empty"))
    with pytest.raises(PKIError) as err:
        ca_mod.IssuingCA(str(tmp_path / "empty"), pki.passphrase)
    assert err.value.check == "ca_missing"


@pytest.mark.parametrize("gone", ["issuing.key", "issuing.pem", "root.pem", "chain.pem"])
def test_partial_ca(ca_dir, pki, gone):
    os.unlink(os.path.join(ca_dir, gone))
    assert ca_mod.ca_state(ca_dir) == "partial"
    with pytest.raises(PKIError) as err:
        ca_mod.IssuingCA(ca_dir, pki.passphrase)
    assert err.value.check == "ca_partial"


def test_root_key_is_optional(ca_dir, pki):
    os.unlink(os.path.join(ca_dir, "root.key"))
    assert ca_mod.ca_state(ca_dir) == "present"
    assert ca_mod.IssuingCA(ca_dir, pki.passphrase).key is not None


def test_issuing_key_not_matching_certificate(ca_dir, other_ca, pki):
    other = os.path.join(os.path.dirname(ca_dir), "other-ca", "issuing.key")
    with open(other, "rb") as src, open(os.path.join(ca_dir, "issuing.key"), "wb") as dst:
        dst.write(src.read())
    with pytest.raises(PKIError) as err:
        ca_mod.IssuingCA(ca_dir, pki.passphrase)
    assert err.value.check == "ca_key"


def test_policy_written_and_read(ca_dir, pki):
    assert ca_mod.write_policy(ca_dir, {"max_lifetime": "10d"}, check_mode=True) is True
    assert not os.path.exists(os.path.join(ca_dir, "policy.json"))
    assert ca_mod.write_policy(ca_dir, {"max_lifetime": "10d"}) is True
    assert pki.mode(os.path.join(ca_dir, "policy.json")) == 0o600
    assert ca_mod.write_policy(ca_dir, {"max_lifetime": "10d"}) is False
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    assert ca.policy["max_lifetime_seconds"] == 10 * 86400


def test_policy_invalid_json(ca_dir, pki):
    with open(os.path.join(ca_dir, "policy.json"), "w") as handle:
        handle.write("{not json")
    with pytest.raises(PKIError) as err:
        ca_mod.IssuingCA(ca_dir, pki.passphrase)
    assert err.value.check == "policy"


# --- import --------------------------------------------------------------------------------

@pytest.fixture
def external_root(pki):
    """A root CA made outside the collection: (certificate, key)."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corp"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Corp Root")])
    cert = ca_mod.build_ca_certificate(name, key.public_key(), None, key, 3650 * 86400, None)
    return cert, key


def test_import_root_with_key_creates_issuing(tmp_path, pki, external_root):
    root, root_key = external_root
    ca_dir = str(tmp_path / "ca")
    ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Imported Org", cert_to_pem(root),
                     root_key_pem=_encrypted_pem(root_key, "old root passphrase"),
                     import_passphrase="old root passphrase", issuing_lifetime="365d")
    assert ca_mod.ca_state(ca_dir) == "present"
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    assert cert_sha256(ca.root) == cert_sha256(root)
    assert signed_by(ca.cert, root)
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    # the root key is re-encrypted with the CA passphrase, not the import passphrase
    data = _read(ca_dir, "root.key")
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(data, password=b"old root passphrase")
    key = serialization.load_pem_private_key(data, password=pki.passphrase.encode())
    assert spki_sha256(key.public_key()) == spki_sha256(root.public_key())
    assert pki.mode(os.path.join(ca_dir, "root.key")) == 0o600
    assert pki.mode(ca_dir) == 0o700
    assert ca_mod.same_as_imported(ca_dir, cert_to_pem(root))


def test_import_unencrypted_root_key(tmp_path, pki, external_root):
    root, root_key = external_root
    ca_dir = str(tmp_path / "ca")
    ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", cert_to_pem(root),
                     root_key_pem=_unencrypted_pem(root_key).decode())
    assert b"ENCRYPTED" in _read(ca_dir, "root.key")
    assert ca_mod.IssuingCA(ca_dir, pki.passphrase).key is not None


def test_import_unencrypted_key_with_passphrase_refused(tmp_path, pki, external_root):
    root, root_key = external_root
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", cert_to_pem(root),
                         root_key_pem=_unencrypted_pem(root_key),
                         import_passphrase="some passphrase")
    assert err.value.check == "ca_key"
    assert not os.path.exists(ca_dir)


def test_import_issuing_with_root_used_as_is(tmp_path, pki, other_ca):
    ca_dir = str(tmp_path / "ca")
    root_pem = cert_to_pem(other_ca.root)
    issuing_pem = cert_to_pem(other_ca.cert)
    ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", root_pem,
                     issuing_cert_pem=issuing_pem,
                     issuing_key_pem=_unencrypted_pem(other_ca.key))
    assert ca_mod.ca_state(ca_dir) == "present"
    assert not os.path.exists(os.path.join(ca_dir, "root.key"))
    assert _read(ca_dir, "issuing.pem").decode() == issuing_pem
    assert _read(ca_dir, "chain.pem").decode() == issuing_pem + root_pem
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    assert cert_sha256(ca.cert) == cert_sha256(other_ca.cert)
    assert spki_sha256(ca.key.public_key()) == spki_sha256(other_ca.key.public_key())
    assert pki.mode(os.path.join(ca_dir, "issuing.key")) == 0o600
    assert ca_mod.same_as_imported(ca_dir, root_pem, issuing_pem)


def test_same_as_imported_detects_other_ca(ca_dir, other_ca):
    assert not ca_mod.same_as_imported(ca_dir, cert_to_pem(other_ca.root))
    own_root = _read(ca_dir, "root.pem")
    assert ca_mod.same_as_imported(ca_dir, own_root)
    assert not ca_mod.same_as_imported(ca_dir, own_root, cert_to_pem(other_ca.cert))


def test_import_mismatched_root_key_refused(tmp_path, pki, external_root):
    root, _key = external_root
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", cert_to_pem(root),
                         root_key_pem=_unencrypted_pem(ec.generate_private_key(ec.SECP384R1())))
    assert err.value.check == "ca_import"
    assert "does not match" in err.value.message
    assert not os.path.exists(ca_dir)


def test_import_mismatched_issuing_key_refused(tmp_path, pki, other_ca):
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", cert_to_pem(other_ca.root),
                         issuing_cert_pem=cert_to_pem(other_ca.cert),
                         issuing_key_pem=_unencrypted_pem(ec.generate_private_key(ec.SECP256R1())))
    assert err.value.check == "ca_import"
    assert not os.path.exists(ca_dir)


def test_import_issuing_without_key_refused(tmp_path, pki, other_ca):
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", cert_to_pem(other_ca.root),
                         issuing_cert_pem=cert_to_pem(other_ca.cert))
    assert err.value.check == "ca_import"
    assert not os.path.exists(ca_dir)


def test_import_issuing_from_other_root_refused(tmp_path, pki, ca, other_ca):
    ca_dir = str(tmp_path / "imported")
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", cert_to_pem(ca.root),
                         issuing_cert_pem=cert_to_pem(other_ca.cert),
                         issuing_key_pem=_unencrypted_pem(other_ca.key))
    assert err.value.check == "ca_import"
    assert not os.path.exists(ca_dir)


def test_import_root_without_key_or_issuing_refused(tmp_path, pki, external_root):
    root, _key = external_root
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(str(tmp_path / "ca"), pki.passphrase, "Imported", "Org",
                         cert_to_pem(root))
    assert err.value.check == "ca_import"


def test_import_non_ca_certificate_refused(tmp_path, pki):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not a ca")])
    now = utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, ca_mod.hashes.SHA256()))
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", cert_to_pem(cert),
                         root_key_pem=_unencrypted_pem(key))
    assert err.value.check == "ca_import"
    assert "not a CA" in err.value.message
    assert not os.path.exists(ca_dir)


def test_import_ca_without_keycertsign_refused(tmp_path, pki):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no keyCertSign")])
    now = utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, ca_mod.hashes.SHA256()))
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(str(tmp_path / "ca"), pki.passphrase, "Imported", "Org",
                         cert_to_pem(cert), root_key_pem=_unencrypted_pem(key))
    assert err.value.check == "ca_import"


def test_import_not_self_signed_root_refused(tmp_path, pki, other_ca):
    """An issuing CA given as the root is a CA, but not self-signed."""
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", cert_to_pem(other_ca.cert),
                         root_key_pem=_unencrypted_pem(other_ca.key))
    assert err.value.check == "ca_import"
    assert "self-signed" in err.value.message
    assert not os.path.exists(ca_dir)


def test_import_expired_root_refused(tmp_path, pki):
    key = ec.generate_private_key(ec.SECP256R1())
    root = pki.self_signed_ca(key, lifetime=86400,
                              now=utcnow() - datetime.timedelta(days=10))
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(str(tmp_path / "ca"), pki.passphrase, "Imported", "Org",
                         cert_to_pem(root), root_key_pem=_unencrypted_pem(key))
    assert err.value.check == "ca_import"
    assert "expired" in err.value.message


def test_import_root_expiring_before_issuing_changes_nothing(tmp_path, pki):
    """An imported root with less time left than the issuing lifetime: refused, nothing written.

    import_ca writes root.pem and root.key before it builds the issuing CA, so the
    refusal (ca_lifetime) leaves a 'partial' CA directory behind.
    """
    key = ec.generate_private_key(ec.SECP384R1())
    root = pki.self_signed_ca(key, lifetime=100 * 86400)
    ca_dir = str(tmp_path / "ca")
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(ca_dir, pki.passphrase, "Imported", "Org", cert_to_pem(root),
                         root_key_pem=_unencrypted_pem(key), issuing_lifetime="1825d")
    assert err.value.check == "ca_lifetime"
    assert ca_mod.ca_state(ca_dir) == "absent", os.listdir(ca_dir)


def test_import_refuses_short_passphrase(tmp_path, external_root):
    root, key = external_root
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(str(tmp_path / "ca"), "short", "Imported", "Org", cert_to_pem(root),
                         root_key_pem=_unencrypted_pem(key))
    assert err.value.check == "ca_passphrase"


def test_import_garbage_root_refused(tmp_path, pki):
    with pytest.raises(PKIError) as err:
        ca_mod.import_ca(str(tmp_path / "ca"), pki.passphrase, "Imported", "Org",
                         "-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n",
                         root_key_pem="x")
    assert err.value.check == "certificate_parse"
