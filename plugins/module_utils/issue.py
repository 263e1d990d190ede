# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Batch issuance: many hosts' CSRs, one CA load, one ledger transaction.

Each request is checked on its own; a refused request is reported for its host and the
others are still issued. The ledger write lock is held while key reuse is checked and
the certificates are recorded, so two runs cannot hand one key to two hosts.
"""

from __future__ import annotations

import datetime
import typing as t

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    cert_sha256,
    cert_to_pem,
    describe_public_key,
    isoformat,
    serial_hex,
    utcnow,
)
from ansible_collections.iotsec.tls.plugins.module_utils.policy import (
    check_csr_key,
    check_device_id,
    check_name,
    check_lifetime,
    load_csr,
    sign_leaf,
)
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import (
    PKIError,
    PROFILES,
    normalize_sans,
    sha256_hex,
    single_label_names,
)

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.iotsec.tls.plugins.module_utils.ca import IssuingCA


def check_request(request: dict[str, t.Any], policy: dict[str, t.Any], ca_key_hashes: t.Container[str] = ()) -> dict[str, t.Any]:
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
    public_key, spki_der = check_csr_key(csr, policy)
    key_sha256 = sha256_hex(spki_der)  # spki_sha256(public_key): check_csr_key made it canonical
    if key_sha256 in ca_key_hashes:
        raise PKIError("ca_public_key", "the CSR carries a public key of this fleet's CA",
                       "generate the host's own key on the host (identity_key with rekey=true); "
                       "a CA key is never certified for a host")
    return {
        "host": host, "common_name": common_name, "profile": profile, "dns_names": dns,
        "ip_addresses": ips, "lifetime": lifetime, "public_key": public_key,
        "public_key_sha256": key_sha256, "warnings": _name_warnings(host, dns),
    }


def _name_warnings(host: str, dns_names: list[str]) -> list[str]:
    """Issued all the same (a broker named by a single label is dialled by it), but said."""
    return ["%s: the DNS name %r is a single label, which RFC 5280 does not allow in a dNSName "
            "(pkilint: pkix.invalid_domain_name_syntax); set iotsec_tls_domain to certify it as "
            "%s.<domain>, or give the host a fully qualified name" % (host, name, name)
            for name in single_label_names(dns_names)]


def _check_all(ca: IssuingCA, requests: list[dict[str, t.Any]]) -> tuple[list[dict[str, t.Any]], dict[str, dict[str, t.Any]]]:
    """(checked, results): every request judged on its own; a request's failure, whatever
    raised it, is that request's alone, named by its host and a check."""
    results = {}
    counts = {}
    for request in requests:
        host = _host_label(request)
        counts[host] = counts.get(host, 0) + 1
    ca_keys = ca.key_hashes()
    checked = []
    for request in requests:
        host = _host_label(request)
        if counts[host] > 1:
            results[host] = _refused(host, PKIError(
                "request", "host %s appears %d times in one batch" % (host, counts[host]),
                "send one request per host"))
            continue
        try:
            checked.append(check_request(request, ca.policy, ca_keys))
        except PKIError as exc:
            results[host] = _refused(host, exc)
        except Exception as exc:  # anything a hostile request makes a library raise
            results[host] = _refused(host, PKIError(
                "request", "the request could not be read", "send the CSR that "
                "iotsec.tls.identity_key made on the host, unchanged", detail=repr(exc)))
    return checked, results


def _host_label(request: dict[str, t.Any]) -> str:
    host = request.get("host")
    return host if isinstance(host, str) and host else "<no host>"


def issue_batch(ca: IssuingCA, ledger: t.Any, requests: list[dict[str, t.Any]],
                check_mode: bool = False, now: datetime.datetime | None = None) -> dict[str, dict[str, t.Any]]:
    """Return {host: result}; result has ok, and either certificate facts or an error.

    ledger: a LedgerBackend (cadir.py), or a callable that opens one (a context manager); it is
    called only when a request passed every check, so a batch refused entirely never touches
    the ledger (and never creates it)."""
    now = now or utcnow()
    checked, results = _check_all(ca, requests)
    if not checked:
        return results
    if callable(ledger):
        with ledger() as opened:
            _record(ca, opened, checked, results, check_mode, now)
    else:
        _record(ca, ledger, checked, results, check_mode, now)
    return results


def _record(ca: IssuingCA, ledger: t.Any, checked: list[dict[str, t.Any]],
            results: dict[str, dict[str, t.Any]], check_mode: bool, now: datetime.datetime) -> None:
    """Check key reuse and sign, holding the ledger's write lock: one transaction, one query of
    the keys for the batch, one write of what was signed."""
    # The same key in two requests of this batch is refused for both hosts.
    by_key: dict[str, list[str]] = {}
    for item in checked:
        by_key.setdefault(item["public_key_sha256"], []).append(item["host"])
    batch = _Batch(ca, now)
    with ledger.transaction(dry_run=check_mode):
        known = ledger.hosts_for_keys(by_key)
        entries = []
        for item in checked:
            host = item["host"]
            in_batch = [h for h in by_key[item["public_key_sha256"]] if h != host]
            ledgered = [h for h in known.get(item["public_key_sha256"], []) if h != host]
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
                summary, entry = batch.sign(item)
            except PKIError as exc:
                results[host] = _refused(host, exc)
                continue
            entries.append(entry)
            results[host] = summary
        if entries:
            ledger.record_many(entries)


class _Batch:
    """Signs the requests of one batch: what is the same for all of them is made once."""

    def __init__(self, ca: IssuingCA, now: datetime.datetime) -> None:
        self.ca = ca
        self.now = now
        self.issued_at = isoformat(now)
        self.issuer = ca.cert.subject.rfc4514_string()
        self.issuer_sha256 = cert_sha256(ca.cert)
        self.chain_pem = ca.chain_pem
        self._times: dict[datetime.datetime, str] = {}

    def _isoformat(self, value: datetime.datetime) -> str:
        """isoformat(), once per time: a batch's certificates share their few validity bounds."""
        text = self._times.get(value)
        if text is None:
            text = self._times[value] = isoformat(value)
        return text

    def sign(self, item: dict[str, t.Any]) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
        """(the host's result, its ledger entry). The result holds the facts cert_summary()
        would read back from the certificate, taken from what it was built from."""
        serial = x509.random_serial_number()
        leaf = sign_leaf(
            item["public_key"], self.ca.cert, self.ca.key, item["common_name"], item["dns_names"],
            item["ip_addresses"], item["profile"], item["lifetime"], self.ca.policy, self.now, serial)
        cert = leaf.cert
        host = item["host"]
        subject = leaf.subject.rfc4514_string()
        not_before, not_after = self._isoformat(leaf.not_before), self._isoformat(leaf.not_after)
        sha256 = sha256_hex(cert.public_bytes(serialization.Encoding.DER))
        summary = {
            "serial": serial_hex(serial), "subject": subject, "issuer": self.issuer,
            "common_name": item["common_name"], "dns_names": list(item["dns_names"]),
            "ip_addresses": list(item["ip_addresses"]),
            "extended_key_usage": sorted(PROFILES[item["profile"]]),
            "not_before": not_before, "not_after": not_after, "sha256": sha256,
            "public_key_sha256": item["public_key_sha256"],
            "key_type": describe_public_key(item["public_key"]),
            "host": host, "ok": True, "issued": True, "certificate": cert_to_pem(cert),
            "chain": self.chain_pem, "profile": item["profile"], "warnings": item["warnings"],
        }
        entry = {
            "serial": summary["serial"], "host": host, "profile": item["profile"],
            "subject": subject, "sans": item["dns_names"] + item["ip_addresses"],
            "not_before": not_before, "not_after": not_after, "sha256": sha256,
            "public_key_sha256": item["public_key_sha256"], "issuer_sha256": self.issuer_sha256,
            "issued_at": self.issued_at,
        }
        return summary, entry


def _refused(host: str, exc: PKIError) -> dict[str, t.Any]:
    return {"host": host, "ok": False, "issued": False, "error": exc.as_dict(),
            "msg": "%s: refused by the CA: %s" % (host, exc)}
