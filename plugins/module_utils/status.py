# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Does a host need a new certificate? One pass over what is installed, against inventory.

identity_facts() describes what is in service, with cryptography; freshness.judge() decides.
The facts are what freshness.py keeps as a memo, so that the next check of a fresh host needs
no cryptography.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import os

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    PKIError,
    cert_not_after,
    cert_not_before,
    cert_sha256,
    cert_summary,
    describe_public_key,
    signed_by,
    spki_sha256,
    utcnow,
)
from ansible_collections.iotsec.tls.plugins.module_utils.freshness import (
    judge,
    load_memo,
    memo_inputs,
    read_generation,
    write_memo,
)


def _epoch(value):
    return calendar.timegm(value.utctimetuple())


def _certificate_facts(cert, chain, problems=()):
    """The facts that come from the certificate (None: unreadable) and the chain alone."""
    return {"problems": list(problems), "certificate": cert_summary(cert) if cert is not None else None,
            "validity": [_epoch(cert_not_before(cert)), _epoch(cert_not_after(cert))] if cert is not None else None,
            "key": None, "chain_sha256": [cert_sha256(c) for c in chain] if chain is not None else None,
            "signed_by": {}}


def identity_facts(store, backend, issuers=(), generation="current"):
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


def pair_facts(cert, chain):
    """The facts identity_facts() finds once cert and chain are installed with their key: what
    certificate_install records as the new generation's memo (it has proved the key is the
    certificate's and that chain[0] signed it)."""
    return dict(_certificate_facts(cert, chain), key={"key_type": describe_public_key(cert.public_key())},
                signed_by={cert_sha256(chain[0]): True})


def evaluate(store, backend, expected, now=None, memo=False):
    """Return a dict: needs_certificate, reasons (list of {code, message}), certificate, ...

    expected: as for freshness.judge(), except that ca_chain is a list of certificates (issuing
    CA first), or None to skip the chain and issuer checks. With memo true (file backend only),
    the facts are recorded for the next check, unless files changed while they were read.
    """
    now = now or utcnow()
    want_chain = expected.get("ca_chain")
    expected = dict(expected, ca_chain_sha256=[cert_sha256(c) for c in want_chain] if want_chain else None)
    # With a memo, read one generation (current may be replaced meanwhile), and record the
    # facts only if its files were the same before and after they were read.
    generation = os.path.realpath(store.file("current", "")) if memo else "current"
    before = read_generation(generation) if memo else None
    facts = identity_facts(store, backend, want_chain[:1] if want_chain else (), generation)
    if before is not None and facts["certificate"] is not None and read_generation(generation) == before:
        inputs = memo_inputs(before, backend.name)
        if load_memo(generation, inputs) != facts:
            write_memo(generation, facts, inputs)
    return judge(facts, expected, _epoch(now))
