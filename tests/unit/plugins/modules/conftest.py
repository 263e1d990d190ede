# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in this process as Ansible would, and read its JSON result."""

import json

import pytest

from ansible.module_utils import _internal
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run_module(capsys, monkeypatch):
    """run_module(module, args, check_mode=False, diff=False) -> the result dict (failed: true on
    fail_json). Runs as on a target: once a test has imported the controller's code (the filter
    tests do), Ansible would otherwise send warnings and deprecations to the controller's display
    instead of the result."""
    monkeypatch.setattr(_internal, "is_controller", False)

    def run(module, args, check_mode=False, diff=False):
        internal = {"_ansible_check_mode": check_mode, "_ansible_diff": diff}
        with patch_module_args(dict(args, **internal)):
            with pytest.raises(SystemExit):
                module.main()
        out = capsys.readouterr().out
        return json.loads(out)

    return run
