# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter iotsec.tls.failure_message: documented in failure_message.yml beside this file."""

from ansible.errors import AnsibleFilterError

from ansible_collections.iotsec.tls.plugins.module_utils.failure import failure_message


def _failure_message(result, host=None, default="the module failed", secrets=None, interpreter=None):
    if secrets is None:
        secrets = []
    elif isinstance(secrets, (str, bytes)) or not hasattr(secrets, "__iter__"):
        raise AnsibleFilterError("failure_message: secrets must be a list of strings, got %s"
                                 % type(secrets).__name__)
    return failure_message(result, host=host, default=default, secrets=list(secrets),
                           interpreter=interpreter)


class FilterModule:
    """iotsec.tls filters."""

    def filters(self):
        return {"failure_message": _failure_message}
