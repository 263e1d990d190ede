# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The issuance policy: the CA decides subject, SANs, EKU and lifetime; the CSR gives a key.

Everything in a CSR except its public key and its self-signature is ignored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import re

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    cert_not_after,
    describe_public_key,
    eku_oid,
    key_type_allowed,
)
from ansible_collections.iotsec.tls.plugins.module_utils.duration import parse_duration
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import KEY_TYPES, PROFILES, PKIError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519
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


def check_device_id(device_id):
    if not isinstance(device_id, str) or not _DEVICE_ID.fullmatch(device_id):
        raise PKIError("subject", "device id %r is not allowed as a common name" % (device_id,),
                       "use 1-64 characters: letters, digits, '.', '_', ':' and '-'")
    return device_id


def load_csr(pem):
    if isinstance(pem, str):
        pem = pem.encode("utf-8")
    if len(pem) > 65536:
        raise PKIError("csr_parse", "the CSR is larger than 64 KiB",
                       "send the CSR made by iotsec.tls.identity_key")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except Exception as exc:
        raise PKIError("csr_parse", "the CSR is not a readable PEM certificate request (%s)" % exc,
                       "send the CSR made by iotsec.tls.identity_key")
    return csr


def check_csr(csr, policy):
    """Verify the CSR's self-signature and its key against policy; return its public key."""
    try:
        public_key = csr.public_key()
    except Exception as exc:
        raise PKIError("key_policy", "the CSR's public key cannot be loaded (%s)" % exc,
                       "use one of %s" % ", ".join(policy["allowed_key_types"]))
    try:
        valid = csr.is_signature_valid
    except Exception:
        valid = False
    if not valid:
        raise PKIError("csr_signature", "the CSR's signature does not verify with its public key",
                       "regenerate the CSR on the host; it may have been altered in transit")
    if not key_type_allowed(public_key, policy["allowed_key_types"], int(policy["min_rsa_bits"])):
        raise PKIError("key_policy", "key type %s is not allowed by the CA policy"
                       % describe_public_key(public_key),
                       "use one of %s (RSA at least %d bits)"
                       % (", ".join(policy["allowed_key_types"]), int(policy["min_rsa_bits"])))
    return public_key


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


def build_certificate(public_key, issuer_cert, issuer_key, common_name, dns_names, ip_addresses,
                      profile, lifetime_seconds, policy, now, serial):
    """Sign an end-entity certificate for public_key under the policy."""
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
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value),
            critical=False)
    )
    names = [x509.DNSName(n) for n in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(n)) for n in ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer_key, algorithm)
