# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The certificate request of a rotation, declared once: what a host asks the CA for.

    certificate_status (prepare_key, a certificate needed)  -> RV(request): one whole entry
    the device_identity role                                 -> the play's requests, unchanged
    certificate_issue                                        -> O(requests), RV(certificates)[host]
    certificate_install                                      <- ISSUED_FIELDS of that result

A request is REQUEST_OPTIONS: the host's inventory name, its CSR, and the certificate it expects
(REQUESTED: names, profile, lifetime). certificate_status takes REQUESTED as what it expects of the
certificate in service (with no default for profile and lifetime: omitted, any is accepted), and
returns them with host and CSR as the request; certificate_issue takes a list of requests with the
defaults below. Both build their argument specs here, so the two cannot drift apart. Standard
library only (certificate_status imports this on the fast path).
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Mapping, Optional

from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PROFILES

# What the host expects of its certificate: status compares, the CA issues.
REQUESTED = ("common_name", "dns_names", "ip_addresses", "profile", "lifetime")

REQUEST_OPTIONS: Dict[str, Dict[str, Any]] = {
    "host": dict(type="str", required=True),
    "csr": dict(type="str", required=True),
    "common_name": dict(type="str"),
    "dns_names": dict(type="list", elements="str", default=[]),
    "ip_addresses": dict(type="list", elements="str", default=[]),
    "profile": dict(type="str", default="device", choices=sorted(PROFILES)),
    "lifetime": dict(type="str", default="7d"),
}

# What certificate_issue returns per issued host and certificate_install takes, besides the facts
# (serial, sha256, not_after, ...) it reports.
ISSUED_FIELDS = ("certificate", "chain")


def issue_request_spec() -> Dict[str, Dict[str, Any]]:
    """The suboptions of certificate_issue's requests."""
    return copy.deepcopy(REQUEST_OPTIONS)


def status_expectation_spec() -> Dict[str, Dict[str, Any]]:
    """certificate_status's options for REQUESTED: the same types and choices; profile and lifetime
    have no default (omitted: not compared), and nothing is required (common_name is, with
    prepare_key)."""
    spec = {}
    for name in REQUESTED:
        option = copy.deepcopy(REQUEST_OPTIONS[name])
        option.pop("required", None)
        if option["type"] != "list":
            option.pop("default", None)
        spec[name] = option
    return spec


def make_request(host: Optional[str], csr: str, params: Mapping[str, Any]) -> Dict[str, Any]:
    """The whole request for certificate_issue: host (common_name when not given), CSR, and the
    REQUESTED values given in params (left out when None, so that the CA's defaults apply)."""
    request = dict((name, params[name]) for name in REQUESTED if params.get(name) is not None)
    request.update(host=host or params.get("common_name"), csr=csr)
    return request
