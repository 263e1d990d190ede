# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch issuance: many hosts' CSRs, one CA load, one ledger transaction.

Each request is checked on its own; a refused request is reported for its host and the
others are still issued. The ledger write lock is held while key reuse is checked and
the certificates are recorded, so two runs cannot hand one key to two hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    PKIError,
    cert_sha256,
    cert_summary,
    cert_to_pem,
    isoformat,
    cert_not_after,
    cert_not_before,
    spki_sha256,
    utcnow,
)
from ansible_collections.iotsec.tls.plugins.module_utils.policy import (
    build_certificate,
    check_csr,
    check_device_id,
    check_lifetime,
    load_csr,
)
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PROFILES, normalize_sans

try:
    from cryptography import x509
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass


def prepare(request, policy):
    """Validate one request against policy; return the facts needed to sign it."""
    host = request.get("host")
    if not host:
        raise PKIError("request", "a request has no host", "give every request a host name")
    common_name = check_device_id(request.get("common_name") or host)
    profile = request.get("profile") or "device"
    if profile not in PROFILES:
        raise PKIError("profile", "unknown profile %r" % (profile,),
                       "use one of %s" % ", ".join(sorted(PROFILES)))
    dns, ips = normalize_sans(request.get("dns_names") or [], request.get("ip_addresses") or [])
    lifetime = check_lifetime(request.get("lifetime") or "7d", policy)
    csr = load_csr(request.get("csr") or "")
    public_key = check_csr(csr, policy)
    return {
        "host": host, "common_name": common_name, "profile": profile, "dns_names": dns,
        "ip_addresses": ips, "lifetime": lifetime, "public_key": public_key,
        "public_key_sha256": spki_sha256(public_key),
    }


def issue_batch(ca, ledger, requests, check_mode=False, now=None):
    """Return {host: result}; result has ok, and either certificate facts or an error."""
    now = now or utcnow()
    results = {}
    counts = {}
    for request in requests:
        host = request.get("host") or "<no host>"
        counts[host] = counts.get(host, 0) + 1
    prepared = []
    for request in requests:
        host = request.get("host") or "<no host>"
        if counts[host] > 1:
            results[host] = _refused(host, PKIError(
                "request", "host %s appears %d times in one batch" % (host, counts[host]),
                "send one request per host"))
            continue
        try:
            prepared.append(prepare(request, ca.policy))
        except PKIError as exc:
            results[host] = _refused(host, exc)

    # The same key in two requests of this batch is refused for both hosts.
    by_key = {}
    for item in prepared:
        by_key.setdefault(item["public_key_sha256"], []).append(item["host"])
    issuer_sha256 = cert_sha256(ca.cert)

    if not check_mode:
        ledger.begin()
    try:
        for item in prepared:
            host = item["host"]
            in_batch = [h for h in by_key[item["public_key_sha256"]] if h != host]
            ledgered = [h for h in ledger.hosts_for_key(item["public_key_sha256"]) if h != host]
            if in_batch or ledgered:
                where = []
                if ledgered:
                    where.append("already ledgered to %s" % ", ".join(ledgered))
                if in_batch:
                    where.append("also in this batch's request for %s" % ", ".join(sorted(in_batch)))
                results[host] = _refused(host, PKIError(
                    "key_reuse", "the CSR's public key is %s" % " and ".join(where),
                    "generate a fresh key on %s (identity_key with rekey=true)" % host))
                continue
            if check_mode:
                results[host] = {"host": host, "ok": True, "issued": False,
                                 "would_issue": True, "lifetime_seconds": item["lifetime"]}
                continue
            try:
                cert = build_certificate(
                    item["public_key"], ca.cert, ca.key, item["common_name"], item["dns_names"],
                    item["ip_addresses"], item["profile"], item["lifetime"], ca.policy, now,
                    x509.random_serial_number())
            except PKIError as exc:
                results[host] = _refused(host, exc)
                continue
            summary = cert_summary(cert)
            ledger.record({
                "serial": summary["serial"], "host": host, "profile": item["profile"],
                "subject": summary["subject"],
                "sans": item["dns_names"] + item["ip_addresses"],
                "not_before": isoformat(cert_not_before(cert)),
                "not_after": isoformat(cert_not_after(cert)),
                "sha256": summary["sha256"], "public_key_sha256": item["public_key_sha256"],
                "issuer_sha256": issuer_sha256, "issued_at": isoformat(now),
            })
            summary.update({"host": host, "ok": True, "issued": True,
                            "certificate": cert_to_pem(cert), "chain": ca.chain_pem,
                            "profile": item["profile"]})
            results[host] = summary
        if not check_mode:
            ledger.commit()
    except BaseException:
        if not check_mode:
            ledger.rollback()
        raise
    return results


def _refused(host, exc):
    return {"host": host, "ok": False, "issued": False, "error": exc.as_dict(),
            "msg": "%s: refused by the CA: %s" % (host, exc)}
