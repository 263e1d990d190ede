# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a host need a new certificate? One pass over what is installed, against inventory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    PKIError,
    cert_common_name,
    cert_ekus,
    cert_not_after,
    cert_not_before,
    cert_sans,
    cert_sha256,
    cert_summary,
    signed_by,
    spki_sha256,
    utcnow,
)
from ansible_collections.iotsec.tls.plugins.module_utils.policy import normalize_sans

# Seconds a certificate may live beyond the configured lifetime (the CA backdates notBefore).
LIFETIME_SLACK = 300


def evaluate(store, backend, expected, now=None):
    """Return a dict: needs_certificate, reasons (list of {code, message}), certificate, ...

    expected keys: common_name, dns_names, ip_addresses, extended_key_usage (list),
    ca_chain (list of certificates, issuing CA first, or None to skip), renew_before
    (fraction of the lifetime, 0 < x < 1), key_type (or None to accept any), lifetime
    (configured lifetime in seconds, or None: a certificate whose own lifetime is longer than
    configured, beyond the backdate and a tenth, is reissued, so a shortened lifetime takes
    effect at once; the certificate's own dates are compared, so the host's clock plays no part).
    """
    now = now or utcnow()
    reasons = []

    def reason(code, message):
        reasons.append({"code": code, "message": message})

    cert, chain, problems = store.read_current()
    for problem in problems:
        code = "missing" if problem.endswith("missing") else "unreadable"
        reason(code, problem)

    result = {"certificate": None, "remaining_seconds": None, "lifetime_seconds": None}
    if cert is not None:
        result["certificate"] = cert_summary(cert)
        key_path = store.current_key
        if not backend.exists(key_path):
            reason("key_missing", "no private key beside the certificate")
        else:
            try:
                if spki_sha256(backend.public_key(key_path)) != spki_sha256(cert.public_key()):
                    reason("key_mismatch", "the private key does not match the certificate")
                elif expected.get("key_type") and backend.key_type(key_path) != expected["key_type"]:
                    reason("key_type", "key type %s differs from the configured %s"
                           % (backend.key_type(key_path), expected["key_type"]))
            except PKIError as exc:
                reason("key_unreadable", exc.message)

        want_chain = expected.get("ca_chain")
        if want_chain:
            want = [cert_sha256(c) for c in want_chain]
            if chain is not None and [cert_sha256(c) for c in chain] != want:
                reason("chain_changed", "the installed chain differs from the fleet CA chain")
            if not signed_by(cert, want_chain[0]):
                reason("issuer_changed", "the certificate was not issued by the fleet's issuing CA")

        if expected.get("common_name") is not None and \
                cert_common_name(cert) != expected["common_name"]:
            reason("subject", "common name %r differs from inventory %r"
                   % (cert_common_name(cert), expected["common_name"]))

        want_dns, want_ips = normalize_sans(expected.get("dns_names") or [],
                                            expected.get("ip_addresses") or [])
        have_dns, have_ips = cert_sans(cert)
        if (sorted(want_dns), sorted(want_ips)) != (have_dns, have_ips):
            reason("sans", "SANs %s differ from inventory %s"
                   % (have_dns + have_ips, sorted(want_dns) + sorted(want_ips)))

        if expected.get("extended_key_usage") is not None and \
                cert_ekus(cert) != sorted(expected["extended_key_usage"]):
            reason("eku", "extended key usage %s differs from the host's role %s"
                   % (cert_ekus(cert), sorted(expected["extended_key_usage"])))

        not_before, not_after = cert_not_before(cert), cert_not_after(cert)
        lifetime = (not_after - not_before).total_seconds()
        remaining = (not_after - now).total_seconds()
        result["remaining_seconds"] = int(remaining)
        result["lifetime_seconds"] = int(lifetime)
        if remaining <= 0:
            reason("expired", "the certificate expired at %s" % result["certificate"]["not_after"])
        elif remaining < lifetime * float(expected.get("renew_before", 1.0 / 3)):
            reason("renew", "%d seconds left, less than %s of the lifetime"
                   % (remaining, expected.get("renew_before", 1.0 / 3)))
        elif expected.get("lifetime") and \
                lifetime > expected["lifetime"] + max(LIFETIME_SLACK, expected["lifetime"] / 10.0):
            reason("lifetime", "the certificate lives %d seconds, longer than the configured %d"
                   % (lifetime, expected["lifetime"]))

    result["reasons"] = reasons
    result["needs_certificate"] = bool(reasons)
    return result
