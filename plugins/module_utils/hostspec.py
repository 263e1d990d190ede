# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argument specs the host-side modules share (identity_key, certificate_status,
certificate_install, tls_probe), documented by the doc fragment iotsec.tls.key_backend and in each
module, and renamed() for any module's renamed option (fleet_crl's too). Standard library only:
certificate_status's fast path imports it."""

from __future__ import annotations

import copy
from typing import Any, Dict

from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import KEY_BACKENDS


def renamed(old: str) -> Dict[str, Any]:
    """aliases and deprecated_aliases for an option whose old name is kept until 1.0.0."""
    return dict(aliases=[old], deprecated_aliases=[dict(name=old, version="1.0.0", collection_name="iotsec.tls")])


KEY_BACKEND = {
    "key_backend": dict(type="str", default="file", choices=list(KEY_BACKENDS), **renamed("backend")),
    "tpm_tcti": dict(type="str"),
}

KEY_OWNER = {
    "owner": dict(type="str", default="root"),
    "group": dict(type="str"),
    "key_mode": dict(type="raw", no_log=False, **renamed("mode")),
}


def host_spec(*parts: Dict[str, Dict[str, Any]], **options: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """An argument spec of the shared parts and a module's own options (copies: AnsibleModule
    may change what it is given)."""
    spec: Dict[str, Dict[str, Any]] = {}
    for part in parts:
        spec.update(copy.deepcopy(part))
    spec.update(options)
    return spec
