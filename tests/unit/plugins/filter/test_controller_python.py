# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter iotsec.tls.controller_python: the CA host's interpreter."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.iotsec.tls.plugins.filter.controller_python import FilterModule

FILTER = FilterModule().filters()["controller_python"]
PY = "/opt/venv/bin/python"


@pytest.mark.parametrize("host, host_vars, expected", [
    ("localhost", {}, PY),  # an explicit localhost in iot_ca
    ("127.0.0.1", {}, PY),
    ("ca-local", {"ansible_connection": "local"}, PY),
    ("localhost", {"ansible_python_interpreter": "/usr/bin/python3"}, "/usr/bin/python3"),  # the inventory wins
    ("ca.example.net", {"ansible_python_interpreter": "/usr/bin/python3.11"}, "/usr/bin/python3.11"),
    ("ca.example.net", {}, "auto_silent"),  # a remote CA: the configured default
    ("ca.example.net", {"ansible_connection": "ssh"}, "auto_silent"),
])
def test_controller_python(host, host_vars, expected):
    assert FILTER(host, host_vars, PY, "auto_silent") == expected


def test_the_configured_default_is_ansibles_setting():
    from ansible import constants as C
    assert FILTER("ca.example.net", {}, PY) == C.config.get_config_value("INTERPRETER_PYTHON")


@pytest.mark.parametrize("host", [None, "", 3])
def test_a_host_name_is_required(host):
    with pytest.raises(AnsibleFilterError, match="controller_python"):
        FILTER(host, {}, PY)


def test_the_playbook_python_is_required_for_the_control_node():
    with pytest.raises(AnsibleFilterError, match="ansible_playbook_python"):
        FILTER("localhost", {}, "")
