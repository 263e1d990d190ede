# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures for the unit tests of iotsec.tls.

Helpers are handed out through the `pki` fixture (not imported from a helper module) so
that the tests run the same under plain pytest and under `ansible-test units`.

RSA keys are slow to make: the only RSA keys of the whole session are made here, once.
"""

import os
import stat

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import ca as ca_mod
from ansible_collections.iotsec.tls.plugins.module_utils import policy as policy_mod
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import utcnow
from ansible_collections.iotsec.tls.plugins.module_utils.issue import issue_batch
from ansible_collections.iotsec.tls.plugins.module_utils.keys import FileKeyBackend, build_csr
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import Ledger
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore

PASSPHRASE = "correct horse battery staple"


# --- session-wide keys ----------------------------------------------------------------

@pytest.fixture(scope="session")
def rsa3072_key_file(tmp_path_factory):
    """The session's only RSA-3072 key, made through the file key backend under test."""
    path = str(tmp_path_factory.mktemp("rsa3072") / "key.pem")
    FileKeyBackend().create(path, "rsa-3072", 0o600)
    return path


@pytest.fixture(scope="session")
def rsa3072_key(rsa3072_key_file):
    with open(rsa3072_key_file, "rb") as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)


@pytest.fixture(scope="session")
def rsa2048_key():
    """Below policy: used to prove that weak RSA keys are refused."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# --- a CA per test (EC keys: a few milliseconds) ----------------------------------------

@pytest.fixture
def passphrase():
    return PASSPHRASE


@pytest.fixture
def ca_dir(tmp_path):
    path = str(tmp_path / "ca")
    ca_mod.create_ca(path, PASSPHRASE, "Test", "Test Org")
    return path


@pytest.fixture
def ca(ca_dir):
    return ca_mod.IssuingCA(ca_dir, PASSPHRASE)


@pytest.fixture
def issued_at():
    """When a test's device certificate is issued (status and memo tests)."""
    return utcnow()


@pytest.fixture
def expected(ca):
    """What inventory expects of the certificate of device dev1 (status and memo tests)."""
    return {
        "common_name": "dev1",
        "dns_names": ["dev1.example"],
        "ip_addresses": ["192.0.2.1"],
        "extended_key_usage": ["clientAuth"],
        "ca_chain": ca.chain,
        "renew_before": 1.0 / 3,
        "key_type": "ecdsa-p256",
    }


@pytest.fixture
def other_ca(tmp_path):
    """A second, unrelated fleet CA."""
    path = str(tmp_path / "other-ca")
    ca_mod.create_ca(path, PASSPHRASE, "Other", "Other Org")
    return ca_mod.IssuingCA(path, PASSPHRASE)


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(str(tmp_path / "ledger.sqlite3"))
    yield led
    led.close()


@pytest.fixture
def backend():
    """The file key backend."""
    return FileKeyBackend()


@pytest.fixture
def store(tmp_path):
    """An empty identity directory, prepared."""
    st = IdentityStore(str(tmp_path / "identity"))
    st.make_dirs(0o755)
    return st


# --- helpers --------------------------------------------------------------------------

class PKIHelpers:
    passphrase = PASSPHRASE

    @staticmethod
    def new_key(key_type="ecdsa-p256"):
        if key_type == "ecdsa-p256":
            return ec.generate_private_key(ec.SECP256R1())
        if key_type == "ecdsa-p384":
            return ec.generate_private_key(ec.SECP384R1())
        if key_type == "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        raise AssertionError("use the session RSA fixtures for %s" % key_type)

    @staticmethod
    def csr_pem(key, common_name="ignored-by-the-ca"):
        return build_csr(key, common_name).public_bytes(serialization.Encoding.PEM).decode("ascii")

    @staticmethod
    def load(pem):
        if isinstance(pem, str):
            pem = pem.encode("ascii")
        return x509.load_pem_x509_certificate(pem)

    @staticmethod
    def request(host, key, **extra):
        req = {"host": host, "csr": PKIHelpers.csr_pem(key)}
        req.update(extra)
        return req

    @staticmethod
    def issue(ca, ledger, requests, **kwargs):
        return issue_batch(ca, ledger, requests, **kwargs)

    @staticmethod
    def sign(ca, public_key, common_name="dev1", dns_names=(), ip_addresses=(), profile="device",
             lifetime=7 * 86400, now=None, policy=None):
        """An end-entity certificate made by the policy code (without the ledger)."""
        return policy_mod.build_certificate(
            public_key, ca.cert, ca.key, common_name, list(dns_names), list(ip_addresses),
            profile, lifetime, policy or ca.policy, now or utcnow(), x509.random_serial_number())

    @staticmethod
    def self_signed_ca(key, common_name="Test Root", lifetime=86400, now=None):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        return ca_mod.build_ca_certificate(name, key.public_key(), None, key, lifetime, None,
                                           now=now)

    @staticmethod
    def snapshot(path):
        """Names, link targets, contents and modes of everything below path."""
        out = {}
        for root, dirs, files in os.walk(path):
            for name in sorted(dirs + files):
                full = os.path.join(root, name)
                rel = os.path.relpath(full, path)
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    out[rel] = ("link", os.readlink(full))
                elif stat.S_ISDIR(st.st_mode):
                    out[rel] = ("dir", stat.S_IMODE(st.st_mode))
                else:
                    with open(full, "rb") as handle:
                        out[rel] = ("file", stat.S_IMODE(st.st_mode), handle.read())
        return out

    @staticmethod
    def mode(path):
        return stat.S_IMODE(os.stat(path).st_mode)

    @staticmethod
    def utcnow():
        return utcnow()

    @staticmethod
    def hostile_csr_pem(key):
        """A CSR asking for everything the CA must not grant: CA:TRUE, other names, serverAuth."""
        builder = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.COMMON_NAME, "evil-admin"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evil Corp"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "root"),
            ]))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("evil.example"), x509.DNSName("*.example.com"),
                x509.RFC822Name("root@example.com")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([
                x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=True,
                data_encipherment=True, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
        )
        csr = builder.sign(key, hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


@pytest.fixture(scope="session")
def pki():
    return PKIHelpers


# --- pkilint (RFC 5280 linter) ----------------------------------------------------------

@pytest.fixture(scope="session")
def pkix_lint():
    """Return lint(cert) -> findings at severity ERROR or worse (FATAL).

    Builds the same validator as pkilint's `lint_pkix_cert lint` command
    (pkilint/bin/lint_pkix_cert.py) through its Python API.
    """
    from pkilint import loader
    from pkilint.pkix import certificate, extension, name
    from pkilint.validation import ValidationFindingSeverity

    validator = certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )
    doc_loader = loader.RFC5280CertificateDocumentLoader()

    def lint(cert):
        der = cert.public_bytes(serialization.Encoding.DER)
        doc = doc_loader.load_der_document(der, "certificate under test")
        results = validator.validate(doc.root)
        return [
            (str(fd.finding.severity), fd.finding.code, fd.message)
            for result in results
            for fd in result.finding_descriptions
            # lower value is more severe: FATAL = 0, ERROR = 1, WARNING = 2 ...
            if fd.finding.severity <= ValidationFindingSeverity.ERROR
        ]

    return lint
