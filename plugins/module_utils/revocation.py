# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Revocation on the ledger and the issuing CA's CRL.

The CRL lists every revoked certificate that has not expired yet (and, when asked, those
superseded by rotation), with its reason; its number only ever grows. It is published again when
what it lists changes or when less than half of its validity is left, so a schedule that runs
at least that often keeps brokers from ever holding a stale CRL, and a run that finds nothing to
change changes nothing.
"""

from __future__ import annotations

import datetime
import json
import os
import typing as t

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    authority_key_identifier,
    isoformat,
    parse_isoformat,
    signing_hash,
    utcnow,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import write_atomic
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import REASONS
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass

if t.TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.iotsec.tls.plugins.module_utils.ca import IssuingCA
    from ansible_collections.iotsec.tls.plugins.module_utils.cadir import LedgerBackend


def select_serials(ledger: LedgerBackend, hosts: t.Iterable[str] | None = None, serials: t.Iterable[str] | None = None,
                   now: datetime.datetime | None = None) -> list[str]:
    """Resolve hosts and serials to ledger serials; unknown ones raise before anything changes."""
    now = now or utcnow()
    chosen = []
    for host in hosts or []:
        if not ledger.known_host(host):
            raise PKIError("unknown_host", "host %s has no certificate on the ledger" % host,
                           "check the host name (inventory_hostname) against the ledger")
        for entry in ledger.entries(host=host):
            if entry["status"] != "revoked" and parse_isoformat(entry["not_after"]) > now:
                chosen.append(entry["serial"])
    for serial in serials or []:
        text = str(serial).replace(":", "").upper().lstrip("0") or "0"
        matches = [text, "0" + text]
        entry = None
        for candidate in matches:
            entry = ledger.find(candidate)
            if entry:
                break
        if entry is None:
            raise PKIError("unknown_serial", "serial %s is not on this CA's ledger" % serial,
                           "give a serial issued by this CA (another CA's serials are not known here)")
        chosen.append(entry["serial"])
    return sorted(set(chosen))


def common_names(ledger: LedgerBackend, serials: t.Iterable[str]) -> list[str]:
    """The identities (subject CNs, the brokers' MQTT user names) of the certificates serials
    name, sorted: the connections a broker must end once it enforces their revocation."""
    names = set()
    for serial in serials:
        row = ledger.find(serial)
        if row and row.get("subject"):
            for attribute in x509.Name.from_rfc4514_string(row["subject"]).get_attributes_for_oid(
                    NameOID.COMMON_NAME):
                names.add(attribute.value)
    return sorted(names)


def crl_entries(ledger: LedgerBackend, include_superseded: bool, now: datetime.datetime) -> list[tuple[str, str, str]]:
    out = []
    for entry in ledger.entries():
        if parse_isoformat(entry["not_after"]) <= now:
            continue
        if entry["status"] == "revoked":
            out.append((entry["serial"], entry["revoked_at"], entry["revocation_reason"]))
        elif include_superseded and entry["status"] == "superseded":
            out.append((entry["serial"], entry["issued_at"], "superseded"))
    return sorted(out)


def build_crl(ca: IssuingCA, entries: list[tuple[str, str, str]], number: int, this_update: datetime.datetime,
              next_update: datetime.datetime) -> x509.CertificateRevocationList:
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(ca.cert.subject)
               .last_update(this_update)
               .next_update(next_update)
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(authority_key_identifier(ca.cert), critical=False))
    for serial, revoked_at, reason in entries:
        revoked = (x509.RevokedCertificateBuilder()
                   .serial_number(int(serial, 16))
                   .revocation_date(parse_isoformat(revoked_at)))
        if reason and reason != "unspecified":
            revoked = revoked.add_extension(x509.CRLReason(x509.ReasonFlags[_flag(reason)]),
                                            critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(ca.key, signing_hash(ca.key))


def _flag(reason: str) -> str:
    names = {"keyCompromise": "key_compromise", "cACompromise": "ca_compromise",
             "affiliationChanged": "affiliation_changed", "superseded": "superseded",
             "cessationOfOperation": "cessation_of_operation", "certificateHold": "certificate_hold",
             "privilegeWithdrawn": "privilege_withdrawn", "aACompromise": "aa_compromise",
             "unspecified": "unspecified"}
    return names[reason]


def check_reason(reason: str) -> str:
    if reason not in REASONS:
        raise PKIError("reason", "%r is not an RFC 5280 revocation reason" % (reason,),
                       "use one of %s" % ", ".join(REASONS))
    return reason


def crl_due(ledger: LedgerBackend, crl_path: str, include_superseded: bool = False,
            now: datetime.datetime | None = None) -> tuple[bool, list[tuple[str, str, str]], str, dict[str, t.Any] | None]:
    """Whether publish() (without force) would write a new CRL now: its content changed, half its
    validity passed, or the file is gone. Return (due, entries, content, state)."""
    now = now or utcnow()
    entries = crl_entries(ledger, include_superseded, now)
    content = json.dumps(entries)
    state = ledger.crl_state()
    due = True
    if state and state["content"] == content and os.path.exists(crl_path):
        this_update, next_update = parse_isoformat(state["this_update"]), parse_isoformat(state["next_update"])
        due = now >= this_update + (next_update - this_update) / 2
    return due, entries, content, state


def publish(ca: IssuingCA, ledger: LedgerBackend, crl_path: str, next_update_seconds: int,
            include_superseded: bool = False, now: datetime.datetime | None = None,
            check_mode: bool = False, force: bool = False) -> tuple[bool, dict[str, t.Any]]:
    """Publish the CRL when it is due (crl_due) or force is set.

    Call inside a ledger transaction. Return (changed, state dict with pem and number).
    """
    now = now or utcnow()
    due, entries, content, state = crl_due(ledger, crl_path, include_superseded, now)
    if not due and not force:
        with open(crl_path, "rb") as handle:
            pem = handle.read().decode("ascii")
        return False, {"crl": pem, "number": state["number"], "next_update": state["next_update"],
                       "revoked": len(entries)}
    number = (state["number"] + 1) if state else 1
    next_update = now + datetime.timedelta(seconds=next_update_seconds)
    if check_mode:
        return True, {"crl": None, "number": number, "next_update": isoformat(next_update),
                      "revoked": len(entries)}
    crl = build_crl(ca, entries, number, now, next_update)
    pem = crl.public_bytes(serialization.Encoding.PEM).decode("ascii")
    write_atomic(crl_path, pem, mode=0o644)
    ledger.save_crl(number, isoformat(now), isoformat(next_update), content)
    return True, {"crl": pem, "number": number, "next_update": isoformat(next_update),
                  "revoked": len(entries)}
