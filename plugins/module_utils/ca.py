# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet CA on the CA host: a root and an issuing CA, keys encrypted at rest.

Its files (CA_FILES, POLICY_FILE) are laid out in a CA directory, whose one owner is
cadir.CADirectory (the layout is written down there): modules go through it.
"""

from __future__ import annotations

import datetime
import json
import os
import typing as t

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    authority_key_identifier,
    cert_not_after,
    cert_sha256,
    cert_to_pem,
    is_ca_certificate,
    isoformat,
    load_certificate,
    load_certificates,
    signed_by,
    signing_hash,
    spki_sha256,
    utcnow,
)
from ansible_collections.iotsec.tls.plugins.module_utils.duration import parse_duration
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import (
    ensure_dir,
    read_file,
    write_atomic,
)
from ansible_collections.iotsec.tls.plugins.module_utils.keys import generate_private_key
from ansible_collections.iotsec.tls.plugins.module_utils.policy import check_policy
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass

MIN_PASSPHRASE = 12
CA_FILES = ("root.pem", "root.key", "issuing.pem", "issuing.key", "chain.pem")
POLICY_FILE = "policy.json"


def ca_path(ca_dir: str, name: str) -> str:
    return os.path.join(ca_dir, name)


def _passphrase_bytes(passphrase: str | None) -> bytes:
    if not passphrase:
        raise PKIError("ca_passphrase", "no CA passphrase was given",
                       "set iotsec_tls_ca_passphrase (Ansible Vault or an AWX credential)")
    if len(passphrase) < MIN_PASSPHRASE:
        raise PKIError("ca_passphrase", "the CA passphrase is shorter than %d characters"
                       % MIN_PASSPHRASE, "use a long random passphrase kept in Ansible Vault")
    return passphrase.encode("utf-8")


def encrypted_pem(key: t.Any, passphrase: str) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(_passphrase_bytes(passphrase)))


def load_private_key(data: bytes, passphrase: str | None, what: str) -> t.Any:
    """Load a PEM private key; a wrong passphrase gives a PKIError naming the file."""
    password = passphrase.encode("utf-8") if passphrase else None
    try:
        return serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        if "not encrypted" in str(exc) and password is not None:
            # An imported unencrypted key: accept it when no import passphrase was given.
            raise PKIError("ca_key", "%s is not encrypted but a passphrase was given" % what,
                           "omit the import passphrase for an unencrypted key")
        raise PKIError("ca_passphrase", "%s is encrypted and no passphrase was given" % what,
                       "set the passphrase for this key")
    except ValueError:
        raise PKIError("ca_passphrase", "cannot decrypt %s: wrong passphrase, or not a PEM key"
                       % what, "check iotsec_tls_ca_passphrase (vault or AWX credential)")


def ca_state(ca_dir: str) -> str:
    """'absent', 'present', or 'partial' (some CA files exist, others don't)."""
    present = [name for name in CA_FILES if os.path.exists(ca_path(ca_dir, name))]
    if not present:
        return "absent"
    needed = ("issuing.pem", "issuing.key", "root.pem", "chain.pem")
    if all(name in present for name in needed):
        return "present"
    return "partial"


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def build_ca_certificate(subject: x509.Name, public_key: t.Any, issuer_cert: x509.Certificate | None, issuer_key: t.Any,
                         lifetime_seconds: int, path_length: int | None,
                         now: datetime.datetime | None = None) -> x509.Certificate:
    """A CA certificate: root when issuer_cert is None (self-signed), else intermediate."""
    now = now or utcnow()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer_cert is None else issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(seconds=lifetime_seconds))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer_cert is not None:
        if cert_not_after(issuer_cert) < now + datetime.timedelta(seconds=lifetime_seconds):
            raise PKIError("ca_lifetime", "the issuing CA would outlive the root CA",
                           "shorten ca_issuing_lifetime or renew the root")
        builder = builder.add_extension(authority_key_identifier(issuer_cert), critical=False)
    return builder.sign(issuer_key, signing_hash(issuer_key, hashes.SHA384()))


def _write_all(ca_dir, passphrase, root, root_key, issuing, issuing_key):
    """Write a CA built in memory. Nothing is written before every check has passed."""
    files = [("root.pem", cert_to_pem(root), 0o644)]
    if root_key is not None:
        files.append(("root.key", encrypted_pem(root_key, passphrase), 0o600))
    files += [("issuing.key", encrypted_pem(issuing_key, passphrase), 0o600),
              ("issuing.pem", cert_to_pem(issuing), 0o644),
              ("chain.pem", cert_to_pem(issuing) + cert_to_pem(root), 0o644)]
    ensure_dir(ca_dir, 0o700)
    for name, data, mode in files:
        write_atomic(ca_path(ca_dir, name), data, mode=mode)


def _lifetime(value: str, what: str) -> int:
    try:
        return parse_duration(value, what)
    except ValueError as exc:
        raise PKIError("ca_lifetime", str(exc), "write lifetimes like 3650d")


def create_ca(ca_dir, passphrase, name, organization, root_key_type="ecdsa-p384",
              issuing_key_type="ecdsa-p256", root_lifetime="3650d", issuing_lifetime="1825d"):
    """Create root and issuing CA in an empty CA directory."""
    _passphrase_bytes(passphrase)
    root_seconds = _lifetime(root_lifetime, "root lifetime")
    issuing_seconds = _lifetime(issuing_lifetime, "issuing lifetime")
    root_key = generate_private_key(root_key_type)
    root = build_ca_certificate(_name("%s Root CA" % name, organization), root_key.public_key(),
                                None, root_key, root_seconds, None)
    issuing, issuing_key = _build_issuing(name, organization, root, root_key, issuing_key_type,
                                          issuing_seconds)
    _write_all(ca_dir, passphrase, root, root_key, issuing, issuing_key)


def _build_issuing(name, organization, root, root_key, key_type, seconds):
    issuing_key = generate_private_key(key_type)
    issuing = build_ca_certificate(_name("%s Issuing CA" % name, organization),
                                   issuing_key.public_key(), root, root_key, seconds, 0)
    return issuing, issuing_key


def _check_ca_cert(cert: x509.Certificate, what: str) -> None:
    if not is_ca_certificate(cert):
        raise PKIError("ca_import", "%s is not a CA certificate (basicConstraints CA:TRUE missing)"
                       % what, "import a CA certificate")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            raise PKIError("ca_import", "%s may not sign certificates (keyUsage)" % what,
                           "import a CA whose keyUsage has keyCertSign")
    except x509.ExtensionNotFound:
        pass
    if cert_not_after(cert) <= utcnow():
        raise PKIError("ca_import", "%s has expired" % what, "import a valid CA")


def _matches(key: t.Any, cert: x509.Certificate, what: str) -> None:
    if spki_sha256(key.public_key()) != spki_sha256(cert.public_key()):
        raise PKIError("ca_import", "the %s key does not match its certificate" % what,
                       "give the key that belongs to the certificate")


def import_ca(ca_dir, passphrase, name, organization, root_cert_pem, root_key_pem=None,
              issuing_cert_pem=None, issuing_key_pem=None, import_passphrase=None,
              issuing_key_type="ecdsa-p256", issuing_lifetime="1825d"):
    """Import a root (with key: an issuing CA is created) or an issuing CA (with its root)."""
    _passphrase_bytes(passphrase)
    root = load_certificate(root_cert_pem, "imported root certificate")
    _check_ca_cert(root, "the imported root")
    if not signed_by(root, root):
        raise PKIError("ca_import", "the imported root certificate is not self-signed",
                       "give the self-signed root at the top of the chain")
    root_key = issuing = issuing_key = None
    if root_key_pem:
        root_key = load_private_key(_bytes(root_key_pem), import_passphrase, "imported root key")
        _matches(root_key, root, "root")
    if issuing_cert_pem:
        issuing = load_certificate(issuing_cert_pem, "imported issuing certificate")
        _check_ca_cert(issuing, "the imported issuing CA")
        if not signed_by(issuing, root):
            raise PKIError("ca_import", "the imported issuing CA is not signed by the imported root",
                           "give the root that issued the issuing CA")
        if not issuing_key_pem:
            raise PKIError("ca_import", "an issuing CA needs its private key to sign",
                           "give the issuing CA's key too")
        issuing_key = load_private_key(_bytes(issuing_key_pem), import_passphrase,
                                       "imported issuing key")
        _matches(issuing_key, issuing, "issuing")
    elif root_key is None:
        raise PKIError("ca_import", "neither a root key nor an issuing CA was given",
                       "import a root with its key, or an issuing CA with its key and root")
    if issuing is None:
        issuing, issuing_key = _build_issuing(
            name, organization, root, root_key, issuing_key_type,
            _lifetime(issuing_lifetime, "issuing lifetime"))
    _write_all(ca_dir, passphrase, root, root_key, issuing, issuing_key)


def _bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def same_as_imported(ca_dir: str, root_cert_pem: str | bytes, issuing_cert_pem: str | bytes | None = None) -> bool:
    """True when the CA directory already holds the given root (and issuing) certificate."""
    root = load_certificate(read_file(ca_path(ca_dir, "root.pem")), "CA root")
    if cert_sha256(root) != cert_sha256(load_certificate(root_cert_pem)):
        return False
    if issuing_cert_pem:
        issuing = load_certificate(read_file(ca_path(ca_dir, "issuing.pem")), "CA issuing")
        return cert_sha256(issuing) == cert_sha256(load_certificate(issuing_cert_pem))
    return True


class IssuingCA:
    """The loaded issuing CA: certificate, decrypted key (in memory only), chain, policy."""

    def __init__(self, ca_dir: str, passphrase: str | None, load_key: bool = True) -> None:
        state = ca_state(ca_dir)
        if state == "absent":
            raise PKIError("ca_missing", "no CA in %s" % ca_dir,
                           "create it first: run playbooks/ca.yml (role iotsec.tls.ca)")
        if state == "partial":
            raise PKIError("ca_partial", "the CA directory %s is incomplete (some of %s missing)"
                           % (ca_dir, ", ".join(CA_FILES)),
                           "restore the CA from backup; it is never recreated over existing files")
        self.ca_dir = ca_dir
        self.cert = load_certificate(read_file(ca_path(ca_dir, "issuing.pem")), "issuing CA")
        self.root = load_certificate(read_file(ca_path(ca_dir, "root.pem")), "root CA")
        self.chain = load_certificates(read_file(ca_path(ca_dir, "chain.pem")), "CA chain")
        self.key = None
        if load_key:
            _passphrase_bytes(passphrase)
            self.key = load_private_key(read_file(ca_path(ca_dir, "issuing.key")), passphrase,
                                        "the issuing CA key %s" % ca_path(ca_dir, "issuing.key"))
            if spki_sha256(self.key.public_key()) != spki_sha256(self.cert.public_key()):
                raise PKIError("ca_key", "the issuing CA key does not match issuing.pem",
                               "restore the CA directory from backup")
        self.policy = check_policy(read_policy(ca_dir))

    @property
    def chain_pem(self) -> str:
        return "".join(cert_to_pem(c) for c in self.chain)

    def key_hashes(self) -> set[str]:
        """The canonical SPKI SHA-256 of every CA key of this fleet the CA directory holds (the
        issuing CA, the root, every certificate of the chain): keys never certified for a host."""
        return set(spki_sha256(c.public_key()) for c in [self.cert, self.root] + list(self.chain))

    def info(self) -> dict[str, t.Any]:
        return {
            "ca_dir": self.ca_dir,
            "root_certificate": cert_to_pem(self.root),
            "issuing_certificate": cert_to_pem(self.cert),
            "chain": self.chain_pem,
            "root_sha256": cert_sha256(self.root),
            "issuing_sha256": cert_sha256(self.cert),
            "issuing_not_after": isoformat(cert_not_after(self.cert)),
            "root_not_after": isoformat(cert_not_after(self.root)),
            "policy": dict((k, v) for k, v in self.policy.items() if not k.endswith("_seconds")),
        }


def read_policy(ca_dir: str) -> dict[str, t.Any]:
    data = read_file(ca_path(ca_dir, POLICY_FILE))
    if data is None:
        return {}
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise PKIError("policy", "%s is not valid JSON: %s" % (ca_path(ca_dir, POLICY_FILE), exc),
                       "rerun the iotsec.tls.ca role to rewrite it")


def write_policy(ca_dir: str, policy: dict[str, t.Any] | None, check_mode: bool = False) -> bool:
    """Write the policy if it differs (not in check mode); return True when it differs."""
    wanted = dict((k, v) for k, v in check_policy(policy).items() if not k.endswith("_seconds"))
    if read_policy(ca_dir) == wanted:
        return False
    if check_mode:
        return True
    write_atomic(ca_path(ca_dir, POLICY_FILE),
                 json.dumps(wanted, indent=2, sort_keys=True) + "\n", mode=0o600)
    return True
