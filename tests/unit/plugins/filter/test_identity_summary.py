# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter iotsec.tls.identity_summary: its input checks (the logic is in test_summary.py)."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.iotsec.tls.plugins.filter.identity_summary import FilterModule

FILTER = FilterModule().filters()["identity_summary"]


def test_summarizes_host_variables():
    hosts = [{"inventory_hostname": "a", "device_identity_ca": {},
              "device_identity_status": {"needs_certificate": False, "certificate": {
                  "subject": "CN=a", "serial": 1, "not_after": "2026-12-01T00:00:00Z"}}}]
    assert FILTER(hosts, check_mode=False)[0] == "a: CN=a serial 1 expires 2026-12-01T00:00:00Z (fresh)"


@pytest.mark.parametrize("bad", ["dev1", 3, None, [["dev1"]], [{"device_identity_ca": {}}]])
def test_rejects_what_is_not_a_list_of_host_variables(bad):
    with pytest.raises(AnsibleFilterError, match="identity_summary"):
        FILTER(bad)
