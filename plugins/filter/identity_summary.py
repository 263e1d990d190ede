# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter iotsec.tls.identity_summary: documented in identity_summary.yml beside this file."""

from ansible.errors import AnsibleFilterError

from ansible_collections.iotsec.tls.plugins.module_utils.summary import identity_summary


def _identity_summary(hosts, check_mode=False, registered=None):
    if isinstance(hosts, (str, bytes)) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("identity_summary: expected a list of host variables (hostvars[name]), got %s"
                                 % type(hosts).__name__)
    hosts = list(hosts)
    for host in hosts:
        if not hasattr(host, "get") or "inventory_hostname" not in host:
            raise AnsibleFilterError("identity_summary: each item must be a host's variables (hostvars[name]), "
                                     "with inventory_hostname; got %s" % type(host).__name__)
    if registered is not None and not hasattr(registered, "get"):
        raise AnsibleFilterError("identity_summary: registered must be a dict of names, got %s" % type(registered).__name__)
    try:
        return identity_summary(hosts, bool(check_mode), registered)
    except ValueError as exc:
        raise AnsibleFilterError("identity_summary: %s" % exc)


class FilterModule:
    """iotsec.tls filters."""

    def filters(self):
        return {"identity_summary": _identity_summary}
