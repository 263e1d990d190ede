# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter iotsec.tls.default_dns_names: documented in default_dns_names.yml beside this file."""

from ansible.errors import AnsibleFilterError

from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError, PROFILES, default_dns_names


def _default_dns_names(identity, domain=None, profile="device"):
    if not isinstance(identity, str) or not identity:
        raise AnsibleFilterError("default_dns_names: expected a host name or device id, got %r" % (identity,))
    if profile not in PROFILES:
        raise AnsibleFilterError("default_dns_names: profile must be one of %s, got %r"
                                 % (", ".join(sorted(PROFILES)), profile))
    try:
        return default_dns_names(identity, domain or None, profile)
    except PKIError as exc:
        raise AnsibleFilterError("default_dns_names(%s): %s" % (identity, exc))


class FilterModule:
    """iotsec.tls filters."""

    def filters(self):
        return {"default_dns_names": _default_dns_names}
