# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small cryptography helpers shared by the CA side and the target side.

Target hosts run these with their distribution's python3-cryptography (38.0 on
Debian 12, 43.0 on Debian 13), so nothing here may need a newer API: chain
checks are done by verifying signatures directly, not with x509.verification.
"""

from __future__ import annotations

import datetime
import functools
import traceback
import typing as t

from ansible_collections.iotsec.tls.plugins.module_utils.keycheck import canonical_spki_der
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import EKU_NAMES, PKIError, sha256_hex

CRYPTOGRAPHY_IMPORT_ERROR = None
try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - exercised by the sanity import test
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()


# The one text form of a time on the ledger and in return values: ISO 8601, UTC, seconds.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def cert_not_before(cert: x509.Certificate) -> datetime.datetime:
    value = getattr(cert, "not_valid_before_utc", None)
    if value is None:  # cryptography < 42
        value = cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    return value


def cert_not_after(cert: x509.Certificate) -> datetime.datetime:
    value = getattr(cert, "not_valid_after_utc", None)
    if value is None:  # cryptography < 42
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value


def isoformat(value: datetime.datetime) -> str:
    """A time as TIME_FORMAT text (UTC)."""
    return value.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT)


def parse_isoformat(text: str) -> datetime.datetime:
    """The time isoformat() wrote, as an aware UTC datetime."""
    return datetime.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)


def signing_hash(private_key: t.Any, algorithm: t.Any = None) -> t.Any:
    """The hash to sign with private_key: None for Ed25519 (it hashes by itself), else algorithm
    (an instance of a cryptography hash), SHA-256 when none is given."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return None
    return algorithm if algorithm is not None else hashes.SHA256()


@functools.lru_cache(maxsize=16)
def authority_key_identifier(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The authorityKeyIdentifier of what issuer_cert signs: its own subjectKeyIdentifier
    (made once per issuer certificate and process: a batch signs many under one issuer)."""
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)


def is_ca_certificate(cert: x509.Certificate) -> bool:
    """True when cert says it is a CA (basicConstraints CA:TRUE)."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def eku_oid(name: str) -> x509.ObjectIdentifier:
    return {"clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
            "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH}[name]


def eku_name(oid: x509.ObjectIdentifier) -> str:
    for name in EKU_NAMES:
        if eku_oid(name) == oid:
            return name
    return oid.dotted_string


def cert_sha256(cert: x509.Certificate) -> str:
    return sha256_hex(cert.public_bytes(serialization.Encoding.DER))


def spki_sha256(public_key: t.Any) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo in its canonical form (uncompressed EC point):
    the identity of a key pair, the same however the key was encoded where it came from."""
    return sha256_hex(canonical_spki_der(public_key))


def serial_hex(serial: int) -> str:
    text = "%x" % serial
    if len(text) % 2:
        text = "0" + text
    return text.upper()


def cert_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificate(data: str | bytes, what: str = "certificate") -> x509.Certificate:
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        return x509.load_pem_x509_certificate(data)
    except Exception as exc:
        raise PKIError("certificate_parse", "%s is not a readable PEM certificate: %s" % (what, exc),
                       "give the PEM text of an X.509 certificate")


def load_certificates(data: str | bytes, what: str = "chain") -> list[x509.Certificate]:
    """Load every PEM certificate in data, in order."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    marker = "-----END CERTIFICATE-----"
    certs = []
    for block in data.split(marker):
        if "-----BEGIN CERTIFICATE-----" in block:
            certs.append(load_certificate(block.strip() + "\n" + marker + "\n", what))
    if not certs:
        raise PKIError("certificate_parse", "%s holds no PEM certificate" % what,
                       "give the PEM text of the issuing CA followed by the root CA")
    return certs


def describe_public_key(public_key: t.Any) -> str:
    """Return the collection's key type name for a public key, or a description."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384"}.get(
            public_key.curve.name, "ecdsa-" + public_key.curve.name)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "rsa-%d" % public_key.key_size
    return type(public_key).__name__


def rsa_sizes(allowed: t.Iterable[str], min_rsa_bits: int) -> set[int]:
    """The RSA modulus sizes a policy allows: those its key types name, from min_rsa_bits up."""
    return set(int(name[4:]) for name in allowed
               if name.startswith("rsa-") and int(name[4:]) >= min_rsa_bits)


def key_type_allowed(public_key: t.Any, allowed: t.Iterable[str], min_rsa_bits: int) -> bool:
    """True when the public key is of an allowed type.

    An RSA modulus must have exactly one of the sizes the allowed types name (rsa-3072: 3072
    bits, not 3071 or 3500), and at least min_rsa_bits."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.key_size in rsa_sizes(allowed, min_rsa_bits)
    return describe_public_key(public_key) in allowed


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when cert's signature verifies with issuer's public key (and names chain)."""
    if cert.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    algorithm = cert.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey) and algorithm is None:
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False  # the signature algorithm does not fit the issuer's key
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


def served_chain(chain: t.Iterable[x509.Certificate]) -> list[x509.Certificate]:
    """The CA certificates a peer is sent with a leaf: chain without its self-signed roots
    (RFC 8446 4.4.2: the trust anchor may be left out, and the peer has it anyway)."""
    return [c for c in chain if not (c.issuer == c.subject and signed_by(c, c))]


def verify_chain(cert: x509.Certificate, chain: t.Iterable[x509.Certificate]) -> bool:
    """Check that cert chains through chain (issuing CA first) to a self-signed root.

    Raises PKIError naming the broken link. Validity periods of the CAs are checked too.
    """
    now = utcnow()
    path = [cert] + list(chain)
    for index in range(len(path) - 1):
        child, parent = path[index], path[index + 1]
        if not signed_by(child, parent):
            raise PKIError(
                "chain", "%s is not signed by %s" % (
                    child.subject.rfc4514_string(), parent.subject.rfc4514_string()),
                "install the certificate together with the chain of the CA that issued it")
        if not is_ca_certificate(parent):
            raise PKIError("chain", "%s is not a CA certificate" % parent.subject.rfc4514_string(),
                           "the chain must hold CA certificates only")
        if not cert_not_before(parent) <= now <= cert_not_after(parent):
            raise PKIError("chain", "CA certificate %s is outside its validity period"
                           % parent.subject.rfc4514_string(), "renew the CA")
    root = path[-1]
    if not signed_by(root, root):
        raise PKIError("chain", "the chain does not end in a self-signed root CA",
                       "append the root CA certificate to the chain")
    return True


def cert_sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """Return (dns_names, ip_addresses) of a certificate, sorted, as strings."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = sorted(san.get_values_for_type(x509.DNSName))
    ips = sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return dns, ips


def cert_ekus(cert: x509.Certificate) -> list[str]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return sorted(eku_name(oid) for oid in eku)


def cert_common_name(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else None


def cert_summary(cert: x509.Certificate) -> dict[str, t.Any]:
    """Public facts about a certificate, as returned by modules."""
    dns, ips = cert_sans(cert)
    return {
        "serial": serial_hex(cert.serial_number),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "common_name": cert_common_name(cert),
        "dns_names": dns,
        "ip_addresses": ips,
        "extended_key_usage": cert_ekus(cert),
        "not_before": isoformat(cert_not_before(cert)),
        "not_after": isoformat(cert_not_after(cert)),
        "sha256": cert_sha256(cert),
        "public_key_sha256": spki_sha256(cert.public_key()),
        "key_type": describe_public_key(cert.public_key()),
    }
