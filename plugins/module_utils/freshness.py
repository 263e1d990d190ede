# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Does a host need a new certificate? The judgement, and the memo that spares a fresh host
the cryptography.

status.identity_facts() reads the certificate, chain and key in service with cryptography and
describes them: the facts. judge() compares facts with what inventory expects, with the standard
library only. Facts depend on nothing but the bytes of those three files (and, for the issuer
check, on the issuing CA certificate), so they are kept in the generation directory beside the
files, under the SHA-256 of each file's bytes: the memo (status.json). A later check that finds
the three files with the same hashes takes the facts from the memo, and so needs neither
cryptography nor the private key; any change to any of the files, or a memo that cannot be read,
sends it back to the full check. The memo never decides anything the full check would not.

Only the file key backend keeps a memo: for a TPM key the full check also proves that the TPM
can still load the key, which no hash of the blob can tell.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Union

from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import write_atomic
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError, normalize_sans, sha256_hex

# The facts status.identity_facts() finds: plain JSON values.
Facts = Dict[str, Any]

MEMO_NAME = "status.json"
MEMO_FORMAT = 1
MEMO_FILES = ("cert.pem", "chain.pem", "key.pem")

# Seconds a certificate may live beyond the configured lifetime (the CA backdates notBefore).
LIFETIME_SLACK = 300

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"


def pem_certificates_sha256(text: Union[str, bytes]) -> Optional[List[str]]:
    """SHA-256 of the DER of each PEM certificate in text, in order; None when text is anything
    but a plain sequence of PEM certificates (the full check then reads it, and reports it)."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    digests = []
    for block in text.split(_END):
        if not block.strip():
            continue
        head, sep, body = block.partition(_BEGIN)
        if not sep or head.strip():
            return None
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            return None
        if not der:
            return None
        digests.append(sha256_hex(der))
    return digests or None


def judge(facts: Facts, expected: Mapping[str, Any], now: float) -> Dict[str, Any]:
    """Return the status result for facts (see status.identity_facts) against expected.

    expected keys: common_name, dns_names, ip_addresses, extended_key_usage (list or None),
    ca_chain_sha256 (SHA-256 of each fleet CA certificate, issuing CA first, or None to skip),
    renew_before (fraction of the lifetime, 0 < x < 1), force (true: a new certificate whatever
    the state, reason "forced"), key_type (or None to accept any),
    lifetime (configured lifetime in seconds, or None: a certificate whose own lifetime is
    longer than configured, beyond the backdate and a tenth, is reissued, so a shortened
    lifetime takes effect at once; the certificate's own dates are compared, so the host's clock
    plays no part). now: seconds since the epoch.

    Raises KeyError when facts do not say whether the certificate was signed by the expected
    issuing CA (facts from a memo made for another CA): the full check must answer.
    """
    reasons = []

    def reason(code, message):
        reasons.append({"code": code, "message": message})

    if expected.get("force"):
        reason("forced", "a new certificate was asked for (force)")

    for problem in facts["problems"]:
        reason("missing" if problem.endswith("missing") else "unreadable", problem)

    summary = facts["certificate"]
    result = {"certificate": summary, "remaining_seconds": None, "lifetime_seconds": None}
    if summary is not None:
        key = facts["key"]
        if key.get("code"):
            reason(key["code"], key["message"])
        elif expected.get("key_type") and key["key_type"] != expected["key_type"]:
            reason("key_type", "key type %s differs from the configured %s"
                   % (key["key_type"], expected["key_type"]))

        want_chain = expected.get("ca_chain_sha256")
        if want_chain:
            if facts["chain_sha256"] is not None and facts["chain_sha256"] != want_chain:
                reason("chain_changed", "the installed chain differs from the fleet CA chain")
            if not facts["signed_by"][want_chain[0]]:
                reason("issuer_changed", "the certificate was not issued by the fleet's issuing CA")

        if expected.get("common_name") is not None and \
                summary["common_name"] != expected["common_name"]:
            reason("subject", "common name %r differs from inventory %r"
                   % (summary["common_name"], expected["common_name"]))

        want_dns, want_ips = normalize_sans(expected.get("dns_names") or [],
                                            expected.get("ip_addresses") or [])
        have_dns, have_ips = summary["dns_names"], summary["ip_addresses"]
        if (sorted(want_dns), sorted(want_ips)) != (have_dns, have_ips):
            reason("sans", "SANs %s differ from inventory %s"
                   % (have_dns + have_ips, sorted(want_dns) + sorted(want_ips)))

        if expected.get("extended_key_usage") is not None and \
                summary["extended_key_usage"] != sorted(expected["extended_key_usage"]):
            reason("eku", "extended key usage %s differs from the host's role %s"
                   % (summary["extended_key_usage"], sorted(expected["extended_key_usage"])))

        not_before, not_after = facts["validity"]
        lifetime = not_after - not_before
        remaining = not_after - now
        result["remaining_seconds"] = int(remaining)
        result["lifetime_seconds"] = int(lifetime)
        if remaining <= 0:
            reason("expired", "the certificate expired at %s" % summary["not_after"])
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


def read_generation(generation_dir: str) -> Optional[Dict[str, bytes]]:
    """{name: bytes} of the certificate, chain and key in a generation; None when one of them
    cannot be read (the full check reports why)."""
    files = {}
    for name in MEMO_FILES:
        try:
            with open(os.path.join(generation_dir, name), "rb") as handle:
                files[name] = handle.read()
        except (IOError, OSError):
            return None
    return files


def memo_inputs(files: Mapping[str, bytes], backend_name: str) -> Dict[str, str]:
    """What a memo is kept under: the SHA-256 of each file's bytes, and the key backend."""
    inputs = dict((name, sha256_hex(data)) for name, data in files.items())
    inputs["backend"] = backend_name
    return inputs


def memo_text(facts: Facts, inputs: Mapping[str, str]) -> str:
    return json.dumps({"format": MEMO_FORMAT, "inputs": inputs, "facts": facts},
                      sort_keys=True, indent=1) + "\n"


def load_memo(generation_dir: str, files: Mapping[str, bytes], backend_name: str) -> Optional[Facts]:
    """The facts the memo holds for exactly these files (read_generation()) and backend, or None."""
    try:
        with open(os.path.join(generation_dir, MEMO_NAME), "r") as handle:
            memo = json.load(handle)
    except (IOError, OSError, ValueError):
        return None
    if not isinstance(memo, dict) or memo.get("format") != MEMO_FORMAT or \
            memo.get("inputs") != memo_inputs(files, backend_name):
        return None
    facts = memo.get("facts")
    return facts if isinstance(facts, dict) else None


def status_from_memo(path: str, expected: Mapping[str, Any], now: Optional[float] = None) -> Optional[Dict[str, Any]]:
    """The status of the file-backed identity in path from its memo, without cryptography; None
    when the memo cannot answer (no memo, a file changed, another issuing CA, anything unusual).

    expected as for judge()."""
    try:
        generation_dir = os.path.realpath(os.path.join(path, "current"))
    except OSError:
        return None
    files = read_generation(generation_dir)
    facts = load_memo(generation_dir, files, "file") if files is not None else None
    if facts is None:
        return None
    try:
        return judge(facts, expected, int(now if now is not None else time.time()))
    except (KeyError, TypeError, ValueError, AttributeError, PKIError):
        # facts for another CA, a memo of another shape, or a bad expectation: the full check
        # answers (and reports a bad expectation as it should)
        return None


def write_memo(generation_dir: str, facts: Facts, files: Mapping[str, bytes], backend_name: str) -> bool:
    """Record facts for these files (read_generation()) and backend in generation_dir (mode 0600,
    atomically); False when it cannot be written (a read-only or foreign directory): the memo is
    only ever a shortcut, so no caller fails for it. The one writer of a memo: the status check
    and the installation both come here."""
    try:
        write_atomic(os.path.join(generation_dir, MEMO_NAME),
                     memo_text(facts, memo_inputs(files, backend_name)), mode=0o600)
    except (IOError, OSError):
        return False
    return True
