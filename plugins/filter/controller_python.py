# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filter iotsec.tls.controller_python: documented in controller_python.yml beside this file."""

from ansible import constants as C
from ansible.errors import AnsibleFilterError

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def controller_python(host, host_vars, playbook_python, configured=None):
    """The interpreter for a CA host: what its inventory sets; else, for the control node itself
    (localhost, or a host with ansible_connection local), the controller's own Python; else the
    configured default (interpreter_python: discovery, unless ansible.cfg says otherwise)."""
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError("controller_python: expected a host name, got %r" % (host,))
    host_vars = host_vars if hasattr(host_vars, "get") else {}
    interpreter = host_vars.get("ansible_python_interpreter")
    if interpreter:
        return interpreter
    if host in LOCAL_NAMES or host_vars.get("ansible_connection") == "local":
        if not playbook_python:
            raise AnsibleFilterError("controller_python(%s): pass ansible_playbook_python" % host)
        return playbook_python
    return configured or C.config.get_config_value("INTERPRETER_PYTHON")


class FilterModule:
    """iotsec.tls filters."""

    def filters(self):
        return {"controller_python": controller_python}
