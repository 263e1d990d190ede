# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Names and rules every module shares, written with the standard library only.

A module that may finish without cryptography (the status check of a fresh host, see
freshness.py) imports these from here, so that loading them does not load cryptography.
"""

import hashlib
import ipaddress
import re

# Key types the collection knows, named the way users write them.
KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072", "rsa-4096")

# EKU short names used in inventories and return values.
EKU_NAMES = ("clientAuth", "serverAuth")

# What each role of host may do with its certificate.
PROFILES = {
    "device": ["clientAuth"],
    "broker": ["serverAuth"],
}

# tpm2-openssl 1.1 (Debian 12) makes ECDSA P-256 keys; the collection offers only those.
KEY_BACKENDS = ("file", "tpm")  # where a host's private key lives (keys.py)
TPM_KEY_TYPES = ("ecdsa-p256",)
TPM_MAX_LIFETIME = 90 * 86400  # the modern profile's certificate lifetime cap

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class PKIError(Exception):
    """A refusal with a machine-readable check name and a human hint."""

    def __init__(self, check, message, hint=None, detail=None):
        super().__init__(message)
        self.check = check
        self.message = message
        self.hint = hint
        self.detail = detail  # the library's own words, kept out of the message

    def as_dict(self):
        result = {"check": self.check, "message": self.message, "hint": self.hint}
        if self.detail:
            result["detail"] = self.detail
        return result

    def __str__(self):
        if self.hint:
            return "%s [check: %s] Fix: %s" % (self.message, self.check, self.hint)
        return "%s [check: %s]" % (self.message, self.check)


def normalize_sans(dns_names, ip_addresses):
    """Validate SANs; names that parse as IP addresses count as IP addresses."""
    dns, ips = set(), set()
    for name in ip_addresses or []:
        try:
            ips.add(str(ipaddress.ip_address(str(name).strip())))
        except ValueError:
            raise PKIError("san_syntax", "%r is not an IP address" % (name,),
                           "list only IPv4/IPv6 addresses in the IP SANs")
    for name in dns_names or []:
        text = str(name).strip().rstrip(".").lower()
        try:
            ips.add(str(ipaddress.ip_address(text)))
            continue
        except ValueError:
            pass
        if not is_domain_name(text):
            raise PKIError("san_syntax", "%r is not a valid DNS name" % (name,),
                           "use letters, digits and hyphens in dot-separated labels")
        dns.add(text)
    return sorted(dns), sorted(ips)


def is_domain_name(text, min_labels=1):
    """text is a DNS name of at least min_labels letter-digit-hyphen labels (lower case, no
    trailing dot), 253 characters at most."""
    labels = text.split(".")
    return (0 < len(text) <= 253 and len(labels) >= min_labels
            and all(_LABEL.fullmatch(label) for label in labels))


def check_domain(domain):
    """The fleet domain (iotsec_tls_domain), normalised; PKIError(check='domain') if it is no
    DNS name."""
    text = str(domain).strip().rstrip(".").lower()
    # 190 leaves room for a label of 63 and the dot within the 253 of a DNS name
    if not is_domain_name(text) or len(text) > 189:
        raise PKIError("domain", "the fleet domain %r is not a DNS name" % (domain,),
                       "set iotsec_tls_domain (or device_identity_domain) to dot-separated labels "
                       "of letters, digits and hyphens, e.g. fleet.example, of at most 189 "
                       "characters (or leave it unset)")
    return text


def default_dns_names(identity, domain=None, profile="device"):
    """The DNS SANs an identity is certified under when the inventory lists none
    (device_identity_dns_names unset), before device_identity_extra_dns_names.

    - an identity that is a domain name of two labels or more, or an IP address: itself;
    - a single label, with a fleet domain: <label>.<domain>;
    - a single label without a fleet domain: none for a device (its identity is the subject's
      CN, which is what the broker reads; RFC 5280 wants a dNSName of more than one label) and
      itself for a broker, whose name is what the devices dial and verify (pkilint reports it as
      pkix.invalid_domain_name_syntax; a fleet domain avoids that);
    - anything else (an id with '_' or ':', which no DNS name holds): none.
    """
    domain = check_domain(domain) if domain else None  # a bad domain is an error on every host
    text = str(identity).strip().rstrip(".").lower()
    try:
        return [str(ipaddress.ip_address(text))]
    except ValueError:
        pass
    if is_domain_name(text, min_labels=2):
        return [text]
    if not is_domain_name(text):
        return []
    if domain:
        return ["%s.%s" % (text, domain)]
    return [text] if profile == "broker" else []


def single_label_names(dns_names):
    """The names among dns_names that are a single label (RFC 5280 domain name syntax wants
    more; pkilint reports each as pkix.invalid_domain_name_syntax)."""
    return [name for name in dns_names if "." not in name]


def tpm_profile_problem(key_type, lifetime_seconds):
    """Why a host with a TPM key breaks the modern profile's certificate constraints, or None.

    A TPM key can sign TLS 1.3 handshakes only (tpm2-openssl 1.1 on Debian 12 fails TLS 1.2
    signing), so TPM hosts use the modern profile: ECDSA P-256, at most 90 days."""
    if key_type and key_type not in TPM_KEY_TYPES:
        return "key type %s is not available in the TPM (it makes %s keys)" % (key_type, ", ".join(TPM_KEY_TYPES))
    if lifetime_seconds and lifetime_seconds > TPM_MAX_LIFETIME:
        return ("a lifetime of %d days is longer than the 90 days of the modern profile, which hosts with "
                "TPM keys use" % (lifetime_seconds // 86400))
    return None
