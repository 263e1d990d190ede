# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Batch issuance: many hosts' CSRs, one CA load, one ledger transaction.

Each request is checked on its own; a refused request is reported for its host and the
others are still issued. The ledger write lock is held while key reuse is checked and
the certificates are recorded, so two runs cannot hand one key to two hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
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
    check_name,
    check_lifetime,
    load_csr,
)
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import (
    PKIError,
    PROFILES,
    normalize_sans,
    single_label_names,
)

try:
    from cryptography import x509
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass


def prepare(request, policy, ca_key_hashes=()):
    """Validate one request against policy; return the facts needed to sign it."""
    host = request.get("host")
    if not host:
        raise PKIError("request", "a request has no host", "give every request a host name")
    check_name(host, "host name")
    common_name = check_device_id(request["common_name"]) if request.get("common_name") else host
    profile = request.get("profile") or "device"
    if profile not in PROFILES:
        raise PKIError("profile", "unknown profile %r" % (profile,),
                       "use one of %s" % ", ".join(sorted(PROFILES)))
    dns, ips = normalize_sans(request.get("dns_names") or [], request.get("ip_addresses") or [])
    if profile == "broker" and not dns and not ips:
        raise PKIError("name", "broker %s would get no DNS name or IP address that its clients could verify "
                       "(its id %r is no DNS name)" % (host, common_name),
                       "give the broker a DNS name: an inventory name of letters, digits and hyphens, "
                       "iotsec_tls_domain, or device_identity_dns_names / device_identity_ip_addresses")
    lifetime = check_lifetime(request.get("lifetime") or "7d", policy)
    csr = load_csr(request.get("csr") or "")
    public_key = check_csr(csr, policy)
    key_sha256 = spki_sha256(public_key)
    if key_sha256 in ca_key_hashes:
        raise PKIError("ca_public_key", "the CSR carries a public key of this fleet's CA",
                       "generate the host's own key on the host (identity_key with rekey=true); "
                       "a CA key is never certified for a host")
    return {
        "host": host, "common_name": common_name, "profile": profile, "dns_names": dns,
        "ip_addresses": ips, "lifetime": lifetime, "public_key": public_key,
        "public_key_sha256": key_sha256, "warnings": _name_warnings(host, dns),
    }


def _name_warnings(host, dns_names):
    """Issued all the same (a broker named by a single label is dialled by it), but said."""
    return ["%s: the DNS name %r is a single label, which RFC 5280 does not allow in a dNSName "
            "(pkilint: pkix.invalid_domain_name_syntax); set iotsec_tls_domain to certify it as "
            "%s.<domain>, or give the host a fully qualified name" % (host, name, name)
            for name in single_label_names(dns_names)]


def _prepare_all(ca, requests):
    """(prepared, results): every request judged on its own; a request's failure, whatever
    raised it, is that request's alone, named by its host and a check."""
    results = {}
    counts = {}
    for request in requests:
        host = _host_label(request)
        counts[host] = counts.get(host, 0) + 1
    ca_keys = ca.key_hashes()
    prepared = []
    for request in requests:
        host = _host_label(request)
        if counts[host] > 1:
            results[host] = _refused(host, PKIError(
                "request", "host %s appears %d times in one batch" % (host, counts[host]),
                "send one request per host"))
            continue
        try:
            prepared.append(prepare(request, ca.policy, ca_keys))
        except PKIError as exc:
            results[host] = _refused(host, exc)
        except Exception as exc:  # anything a hostile request makes a library raise
            results[host] = _refused(host, PKIError(
                "request", "the request could not be read", "send the CSR that "
                "iotsec.tls.identity_key made on the host, unchanged", detail=repr(exc)))
    return prepared, results


def _host_label(request):
    host = request.get("host")
    return host if isinstance(host, str) and host else "<no host>"


def issue_batch(ca, ledger, requests, check_mode=False, now=None):
    """Return {host: result}; result has ok, and either certificate facts or an error.

    ledger: a Ledger, or a callable that opens one (a context manager); it is called only
    when a request passed every check, so a batch refused entirely never touches the ledger
    (and never creates it)."""
    now = now or utcnow()
    prepared, results = _prepare_all(ca, requests)
    if not prepared:
        return results
    if callable(ledger):
        with ledger() as opened:
            _record(ca, opened, prepared, results, check_mode, now)
    else:
        _record(ca, ledger, prepared, results, check_mode, now)
    return results


def _record(ca, ledger, prepared, results, check_mode, now):
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
                                 "would_issue": True, "lifetime_seconds": item["lifetime"],
                                 "warnings": item["warnings"]}
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
                            "profile": item["profile"], "warnings": item["warnings"]})
            results[host] = summary
        if not check_mode:
            ledger.commit()
    except BaseException:
        if not check_mode:
            ledger.rollback()
        raise


def _refused(host, exc):
    return {"host": host, "ok": False, "issued": False, "error": exc.as_dict(),
            "msg": "%s: refused by the CA: %s" % (host, exc)}
