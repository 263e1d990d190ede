# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every certificate the collection makes passes pkilint's RFC 5280 linter without errors.

The linter is pkilint's `lint_pkix_cert` validator, built through its Python API in the
`pkix_lint` fixture (tests/unit/conftest.py); findings of severity ERROR and FATAL fail.
"""

import datetime

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import ca as ca_mod
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import utcnow


def test_ca_certificates_lint_clean(ca, pkix_lint):
    assert pkix_lint(ca.root) == []
    assert pkix_lint(ca.cert) == []


def test_ed25519_ca_certificates_lint_clean(tmp_path, pki, pkix_lint):
    ca_dir = str(tmp_path / "ed-ca")
    ca_mod.create_ca(ca_dir, pki.passphrase, "Ed", "Org", root_key_type="ed25519",
                     issuing_key_type="ed25519")
    ca = ca_mod.IssuingCA(ca_dir, pki.passphrase)
    assert pkix_lint(ca.root) == []
    assert pkix_lint(ca.cert) == []
    leaf = pki.sign(ca, pki.new_key().public_key(), dns_names=["dev1.example"])
    assert pkix_lint(leaf) == []


def _issue_one(pki, ca, ledger, key, **request):
    result = pki.issue(ca, ledger, [pki.request(key=key, **request)])[request["host"]]
    assert result["ok"], result
    return pki.load(result["certificate"])


def test_device_certificate_lint_clean(ca, ledger, pki, pkix_lint):
    cert = _issue_one(pki, ca, ledger, pki.new_key(), host="dev1", dns_names=["dev1.example"])
    assert pkix_lint(cert) == []


def test_device_certificate_without_sans_lint_clean(ca, ledger, pki, pkix_lint):
    cert = _issue_one(pki, ca, ledger, pki.new_key(), host="dev2")
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert pkix_lint(cert) == []


def test_broker_certificate_lint_clean(ca, ledger, pki, pkix_lint):
    cert = _issue_one(pki, ca, ledger, pki.new_key(), host="broker1", profile="broker",
                      dns_names=["broker1.example", "mqtt.example"],
                      ip_addresses=["192.0.2.10", "2001:db8::10"])
    assert pkix_lint(cert) == []


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p384", "rsa-3072"])
def test_subject_key_types_lint_clean(ca, ledger, pki, pkix_lint, rsa3072_key, key_type):
    key = rsa3072_key if key_type == "rsa-3072" else pki.new_key(key_type)
    cert = _issue_one(pki, ca, ledger, key, host="host-" + key_type, profile="broker",
                      dns_names=["h.example"], ip_addresses=["198.51.100.7"])
    assert pkix_lint(cert) == []


def test_rsa_ca_lint_clean(pki, pkix_lint, rsa3072_key):
    root = pki.self_signed_ca(rsa3072_key, common_name="RSA Root")
    assert pkix_lint(root) == []


# --- negative controls: the helper is not a no-op ------------------------------------------

def _base_builder(ca, subject, public_key, is_ca):
    now = utcnow()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value),
            critical=False)
    )


def test_lint_flags_ca_without_key_usage(ca, pki, pkix_lint):
    key = pki.new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Broken Sub CA")])
    cert = _base_builder(ca, subject, key.public_key(), True).sign(ca.key, hashes.SHA256())
    codes = [code for _severity, code, _msg in pkix_lint(cert)]
    assert "pkix.ca_certificate_no_ku_extension" in codes


def test_lint_flags_empty_subject_with_non_critical_san(ca, pki, pkix_lint):
    key = pki.new_key()
    cert = (_base_builder(ca, x509.Name([]), key.public_key(), False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("dev.example")]),
                           critical=False)
            .sign(ca.key, hashes.SHA256()))
    findings = pkix_lint(cert)
    assert [code for _s, code, _m in findings] == ["pkix.san_extension_not_critical_empty_subject"]
    assert findings[0][0] == "ERROR"
