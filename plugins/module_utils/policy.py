# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The issuance policy: the CA decides subject, SANs, EKU and lifetime; the CSR gives a key.

Everything in a CSR except its public key and its self-signature is ignored.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re
import typing as t

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    authority_key_identifier,
    cert_not_after,
    describe_public_key,
    eku_oid,
    key_type_allowed,
    rsa_sizes,
    signing_hash,
)
from ansible_collections.iotsec.tls.plugins.module_utils.keycheck import (
    UnsoundKey,
    canonical_spki_der,
    check_public_key,
)
from ansible_collections.iotsec.tls.plugins.module_utils.duration import parse_duration
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import KEY_TYPES, PROFILES, PKIError

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass

DEFAULT_POLICY = {
    "max_lifetime": "30d",
    "min_lifetime": "60s",
    "allowed_key_types": list(KEY_TYPES),
    "min_rsa_bits": 3072,
    "organization": "iotsec.tls fleet",
    "backdate": "60s",
}

_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

CSR_LABEL = "CERTIFICATE REQUEST"
MAX_CSR_BYTES = 65536
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# A byte that is not PEM text: not printable ASCII, tab, LF or CR.
_NOT_PEM_TEXT = re.compile(rb"[^\x09\x0a\x0d\x20-\x7e]")

# What a CSR may be signed with: SHA-2 (256 bits or more) with ECDSA or RSA PKCS#1 v1.5, or
# Ed25519. Decided on the algorithm identifier, before the library verifies anything, so that
# the answer does not depend on which hashes a cryptography version still verifies.
_SIGNATURE_ALGORITHMS = {
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.3.101.112": "Ed25519",
}
_WEAK_SIGNATURE_ALGORITHMS = {
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
    "1.2.840.10040.4.3": "dsa-with-SHA1",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
}
_CSR_FIX = "send the CSR that iotsec.tls.identity_key made on the host, unchanged"


def check_policy(policy):
    """Validate and complete a policy dict; return it with lifetimes in seconds."""
    merged = dict(DEFAULT_POLICY)
    merged.update(dict((k, v) for k, v in (policy or {}).items() if v is not None))
    try:
        merged["max_lifetime_seconds"] = parse_duration(merged["max_lifetime"], "max_lifetime")
        merged["min_lifetime_seconds"] = parse_duration(merged["min_lifetime"], "min_lifetime")
        merged["backdate_seconds"] = (0 if str(merged["backdate"]) in ("0", "0s")
                                      else parse_duration(merged["backdate"], "backdate"))
    except ValueError as exc:
        raise PKIError("policy", str(exc), "fix the CA policy variables")
    unknown = [k for k in merged["allowed_key_types"] if k not in KEY_TYPES]
    if unknown:
        raise PKIError("policy", "unknown key types in allowed_key_types: %s" % ", ".join(unknown),
                       "use a subset of %s" % ", ".join(KEY_TYPES))
    if int(merged["min_rsa_bits"]) < 3072:
        raise PKIError("policy", "min_rsa_bits below 3072 is not allowed",
                       "set min_rsa_bits to 3072 or more")
    return merged


def check_name(name, what="host name"):
    """The one validator of host names and device ids, wherever they come from (inventory
    names, common_name, request hosts): 1-64 characters, letters, digits, '.', '_', ':', '-',
    starting with a letter or digit. No '/', no whitespace, nothing a path or a shell reads."""
    if not isinstance(name, str) or not _DEVICE_ID.fullmatch(name):
        raise PKIError("name", "%s %r is not allowed" % (what, name if isinstance(name, str) else str(name)),
                       "use 1-64 characters: letters, digits, '.', '_', ':' and '-', starting with "
                       "a letter or digit")
    return name


def check_device_id(device_id):
    return check_name(device_id, "device id")


def load_csr(pem):
    """Exactly one PEM block labelled CERTIFICATE REQUEST, with nothing but white space around
    it, strict base64 inside, and DER that is one PKCS#10 request with nothing after it."""
    if isinstance(pem, bytes):
        data = pem
    else:
        try:
            data = (pem or "").encode("utf-8", "surrogateescape")
        except UnicodeError:
            data = (pem or "").encode("utf-8", "replace")
    if len(data) > MAX_CSR_BYTES:
        raise PKIError("csr_parse", "the CSR is %d bytes, larger than the %d a CSR can need"
                       % (len(data), MAX_CSR_BYTES), _CSR_FIX)
    bad = _NOT_PEM_TEXT.search(data)
    if bad:
        raise PKIError("csr_parse", "the CSR holds a byte that is not PEM text (0x%02x at offset %d)"
                       % (data[bad.start()], bad.start()), _CSR_FIX)
    text = data.decode("ascii")
    begins = re.findall(r"-----BEGIN ([^-\r\n]*)-----", text)
    ends = re.findall(r"-----END ([^-\r\n]*)-----", text)
    if not begins:
        raise PKIError("csr_parse", "the CSR holds no PEM block", _CSR_FIX)
    if len(begins) != 1 or len(ends) != 1:
        raise PKIError("csr_parse", "the CSR holds %d PEM blocks; exactly one is allowed"
                       % max(len(begins), len(ends)), "send one CSR per request")
    if begins[0] != CSR_LABEL or ends[0] != CSR_LABEL:
        raise PKIError("csr_parse", "the PEM block is labelled %r, not %r"
                       % (begins[0] if begins[0] != CSR_LABEL else ends[0], CSR_LABEL), _CSR_FIX)
    head, tail = "-----BEGIN %s-----" % CSR_LABEL, "-----END %s-----" % CSR_LABEL
    stripped = text.strip()
    if not stripped.startswith(head) or not stripped.endswith(tail):
        raise PKIError("csr_parse", "the CSR has text before or after its PEM block", _CSR_FIX)
    lines = [line.strip() for line in stripped[len(head):-len(tail)].splitlines() if line.strip()]
    if not lines or not all(_BASE64_LINE.fullmatch(line) for line in lines):
        raise PKIError("csr_parse", "the CSR's PEM block is not base64 text", _CSR_FIX)
    try:
        der = base64.b64decode("".join(lines).encode("ascii"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PKIError("csr_parse", "the CSR's PEM block is not valid base64", _CSR_FIX, detail=str(exc))
    try:
        end = der_element_end(der, 0)
        if end != len(der):
            raise ValueError("%d bytes after the request" % (len(der) - end))
        csr = x509.load_der_x509_csr(der)
    except Exception as exc:
        raise PKIError("csr_parse", "the CSR's content is not a well-formed PKCS#10 certificate request",
                       _CSR_FIX, detail=str(exc))
    return csr


def der_element(data, offset):
    """(content start, end) of the DER element starting at offset (definite lengths in their
    shortest form only, as DER requires)."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER element")
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7f
        if count == 0 or count > 4 or start + count > len(data) or data[start] == 0:
            raise ValueError("DER length not in its shortest form")
        length = int.from_bytes(data[start:start + count], "big")
        if length < 0x80:
            raise ValueError("DER length not in its shortest form")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER element")
    return start, end


def der_element_end(data, offset):
    """Where the DER element starting at offset ends."""
    return der_element(data, offset)[1]


def raw_spki(csr):
    """The SubjectPublicKeyInfo exactly as the CSR carries it: the third element of the
    CertificationRequestInfo (version, subject, subjectPKInfo, attributes; RFC 2986 4.1)."""
    tbs = csr.tbs_certrequest_bytes
    version_end = der_element_end(tbs, der_element(tbs, 0)[0])
    subject_end = der_element_end(tbs, version_end)
    return tbs[subject_end:der_element_end(tbs, subject_end)]


# The AlgorithmIdentifier DER each key type's SubjectPublicKeyInfo starts with (after its header).
_SPKI_ALGORITHMS = {
    bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107"): "ecdsa-p256",
    bytes.fromhex("301006072a8648ce3d020106052b81040022"): "ecdsa-p384",
    bytes.fromhex("300506032b6570"): "ed25519",
    bytes.fromhex("300d06092a864886f70d0101010500"): "rsa",
}


def spki_key_type(spki):
    """The key type a SubjectPublicKeyInfo claims by its algorithm identifier, or None."""
    try:
        start = der_element(spki, 0)[0]
        return _SPKI_ALGORITHMS.get(bytes(spki[start:der_element_end(spki, start)]))
    except (ValueError, IndexError):
        return None


def check_csr(csr: x509.CertificateSigningRequest, policy: dict[str, t.Any]) -> t.Any:
    """Judge the CSR's signature algorithm, its key (type, size, soundness, encoding) and its
    self-signature against policy; return its public key."""
    return check_csr_key(csr, policy)[0]


def check_csr_key(csr: x509.CertificateSigningRequest, policy: dict[str, t.Any]) -> tuple[t.Any, bytes]:
    """check_csr(), returning (public key, its SubjectPublicKeyInfo DER): the canonical form the
    CSR carries it in, whose SHA-256 is crypto.spki_sha256 of the key."""
    oid = csr.signature_algorithm_oid.dotted_string
    if oid not in _SIGNATURE_ALGORITHMS:
        name = _WEAK_SIGNATURE_ALGORITHMS.get(oid, oid)
        raise PKIError("csr_signature_hash", "the CSR is signed with %s; the CA accepts SHA-256 or "
                       "stronger with ECDSA or RSA (PKCS#1 v1.5), or Ed25519" % name,
                       "make the CSR again with iotsec.tls.identity_key (it signs with SHA-256)")
    allowed = policy["allowed_key_types"]
    try:
        encoded = raw_spki(csr)
    except (ValueError, IndexError) as exc:
        raise PKIError("csr_parse", "the CSR's public key field cannot be read", _CSR_FIX, detail=str(exc))
    try:
        public_key = csr.public_key()
    except Exception as exc:
        # Which versions load which broken keys differs; the algorithm the key claims does not.
        claimed = spki_key_type(encoded)
        if claimed in allowed or (claimed == "rsa" and any(t.startswith("rsa-") for t in allowed)):
            raise PKIError("key_unsound", "the CSR's public key claims to be %s but is not a valid key "
                           "of that type (a point off the curve, the point at infinity, a broken "
                           "encoding)" % claimed,
                           "generate a fresh key on the host with iotsec.tls.identity_key (rekey=true)",
                           detail=str(exc))
        raise PKIError("key_policy", "the CSR's public key is of a type the CA policy does not allow",
                       "use one of %s" % ", ".join(allowed), detail=str(exc))
    min_rsa_bits = int(policy["min_rsa_bits"])
    if not key_type_allowed(public_key, allowed, min_rsa_bits):
        raise PKIError("key_policy", "key type %s is not allowed by the CA policy"
                       % describe_public_key(public_key),
                       "use one of %s (RSA at least %d bits)" % (", ".join(allowed), min_rsa_bits))
    try:
        check_public_key(public_key, rsa_sizes(allowed, min_rsa_bits))
    except UnsoundKey as exc:
        raise PKIError("key_unsound", "the CSR's %s public key is not a sound key: %s"
                       % (describe_public_key(public_key), exc),
                       "generate a fresh key on the host with iotsec.tls.identity_key (rekey=true)")
    if encoded != canonical_spki_der(public_key):
        raise PKIError("key_encoding", "the CSR's public key is not in its canonical DER form (a named "
                       "curve with an uncompressed point for EC keys, RSA with NULL parameters)",
                       "send the CSR that iotsec.tls.identity_key made; keys are compared in one form")
    try:
        valid = csr.is_signature_valid
    except Exception:
        valid = False
    if not valid:
        raise PKIError("csr_signature", "the CSR's signature does not verify with its public key",
                       "regenerate the CSR on the host; it may have been altered in transit")
    return public_key, encoded


def check_lifetime(lifetime, policy):
    try:
        seconds = parse_duration(lifetime, "lifetime")
    except ValueError as exc:
        raise PKIError("lifetime", str(exc), "write the lifetime like 7d, 12h or 300s")
    if seconds > policy["max_lifetime_seconds"]:
        raise PKIError("lifetime", "requested lifetime %s is above the CA maximum %s"
                       % (lifetime, policy["max_lifetime"]),
                       "lower the lifetime or raise the CA's max_lifetime")
    if seconds < policy["min_lifetime_seconds"]:
        raise PKIError("lifetime", "requested lifetime %s is below the CA minimum %s"
                       % (lifetime, policy["min_lifetime"]), "raise the lifetime")
    return seconds


class Leaf(t.NamedTuple):
    """An end-entity certificate as sign_leaf() made it, with what it was made of (so that
    nothing needs to be read back from the certificate)."""
    cert: x509.Certificate
    subject: x509.Name
    not_before: datetime.datetime
    not_after: datetime.datetime


def build_certificate(public_key: t.Any, issuer_cert: x509.Certificate, issuer_key: t.Any, common_name: str,
                      dns_names: list[str], ip_addresses: list[str], profile: str, lifetime_seconds: int,
                      policy: dict[str, t.Any], now: datetime.datetime, serial: int) -> x509.Certificate:
    """Sign an end-entity certificate for public_key under the policy."""
    return sign_leaf(public_key, issuer_cert, issuer_key, common_name, dns_names, ip_addresses,
                     profile, lifetime_seconds, policy, now, serial).cert


def sign_leaf(public_key: t.Any, issuer_cert: x509.Certificate, issuer_key: t.Any, common_name: str,
              dns_names: list[str], ip_addresses: list[str], profile: str, lifetime_seconds: int,
              policy: dict[str, t.Any], now: datetime.datetime, serial: int) -> Leaf:
    """build_certificate(), returning the certificate with its subject and validity."""
    if profile not in PROFILES:
        raise PKIError("profile", "unknown profile %r" % (profile,),
                       "use one of %s" % ", ".join(sorted(PROFILES)))
    not_before = now - datetime.timedelta(seconds=policy["backdate_seconds"])
    not_after = now + datetime.timedelta(seconds=lifetime_seconds)
    if not_after > cert_not_after(issuer_cert):
        raise PKIError("lifetime", "the certificate would outlive the issuing CA (%s)"
                       % cert_not_after(issuer_cert).isoformat(),
                       "renew the issuing CA or shorten the lifetime")
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, policy["organization"]),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku_oid(name) for name in PROFILES[profile]]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_identifier(issuer_cert), critical=False)
    )
    names = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(n)) for n in ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Leaf(builder.sign(issuer_key, signing_hash(issuer_key)), subject, not_before, not_after)
