# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What is installed in an identity directory, described with cryptography: the facts.

identity_facts() describes what is in service; freshness.judge() decides whether it will do
(IdentityStore.status in store.py puts the two together). The facts are what freshness.py keeps as
a memo, so that the next check of a fresh host needs no cryptography.
"""

from __future__ import annotations

import calendar
import datetime
from typing import Any, Dict, Iterable, List, Optional

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    cert_not_after,
    cert_not_before,
    cert_sha256,
    cert_summary,
    describe_public_key,
    signed_by,
    spki_sha256,
)
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError


def epoch(value: datetime.datetime) -> int:
    """Seconds since the epoch of a datetime (naive UTC or aware)."""
    return calendar.timegm(value.utctimetuple())


def _certificate_facts(cert: Any, chain: Optional[List[Any]], problems: Iterable[str] = ()) -> Dict[str, Any]:
    """The facts that come from the certificate (None: unreadable) and the chain alone."""
    return {"problems": list(problems), "certificate": cert_summary(cert) if cert is not None else None,
            "validity": [epoch(cert_not_before(cert)), epoch(cert_not_after(cert))] if cert is not None else None,
            "key": None, "chain_sha256": [cert_sha256(c) for c in chain] if chain is not None else None,
            "signed_by": {}}


def identity_facts(store: Any, backend: Any, issuers: Iterable[Any] = (), generation: str = "current") -> Dict[str, Any]:
    """Describe the identity in service (or in generation, a directory of store): a dict of
    plain values (JSON-serialisable).

    problems: why the certificate or chain could not be read; certificate: its summary (or None);
    validity: [notBefore, notAfter] in seconds since the epoch; key: {code, message} when the key
    is missing, unreadable or not the certificate's, else {key_type}; chain_sha256: the installed
    chain (or None); signed_by: {sha256 of a CA certificate: whether it signed the certificate},
    for the installed issuing CA and for each certificate in issuers.
    """
    cert, chain, problems = store.read_current(generation)
    facts = _certificate_facts(cert, chain, problems)
    if cert is None:
        return facts
    key_path = store.file(generation, "key.pem")
    if not backend.exists(key_path):
        facts["key"] = {"code": "key_missing", "message": "no private key beside the certificate"}
    else:
        try:
            public_key = backend.public_key(key_path)
            if spki_sha256(public_key) != spki_sha256(cert.public_key()):
                facts["key"] = {"code": "key_mismatch",
                                "message": "the private key does not match the certificate"}
            else:
                facts["key"] = {"key_type": describe_public_key(public_key)}
        except PKIError as exc:
            facts["key"] = {"code": "key_unreadable", "message": exc.message}
    for issuer in list(issuers) + list(chain[:1] if chain else []):
        facts["signed_by"][cert_sha256(issuer)] = signed_by(cert, issuer)
    return facts


def pair_facts(cert: Any, chain: List[Any]) -> Dict[str, Any]:
    """The facts identity_facts() finds once cert and chain are installed with their key: what
    certificate_install records as the new generation's memo (it has proved the key is the
    certificate's and that chain[0] signed it)."""
    return dict(_certificate_facts(cert, chain), key={"key_type": describe_public_key(cert.public_key())},
                signed_by={cert_sha256(chain[0]): True})
