# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names and rules every module shares, written with the standard library only.

A module that may finish without cryptography (the status check of a fresh host, see
freshness.py) imports these from here, so that loading them does not load cryptography.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
TPM_KEY_TYPES = ("ecdsa-p256",)
TPM_MAX_LIFETIME = 90 * 86400  # the modern profile's certificate lifetime cap

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


class PKIError(Exception):
    """A refusal with a machine-readable check name and a human hint."""

    def __init__(self, check, message, hint=None, detail=None):
        super(PKIError, self).__init__(message)
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
        if not text or len(text) > 253 or not all(_LABEL.fullmatch(label) for label in text.split(".")):
            raise PKIError("san_syntax", "%r is not a valid DNS name" % (name,),
                           "use letters, digits and hyphens in dot-separated labels")
        dns.add(text)
    return sorted(dns), sorted(ips)


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
