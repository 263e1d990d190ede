# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The summary of a device_identity run: which host is rotated, fresh, would rotate or failed."""

import pytest

from ansible_collections.iotsec.tls.plugins.module_utils.summary import (
    NO_REASON,
    identity_summary,
    summarize,
)

CA = {"chain": "...", "crl_due": False}


def _cert(serial, not_after, subject=None):
    return {"subject": subject or "O=Fleet,CN=h%s" % serial, "serial": serial, "not_after": not_after,
            "sha256": "00" * 32}


def _fresh(serial, not_after):
    return {"changed": False, "needs_certificate": False, "reasons": [], "certificate": _cert(serial, not_after)}


def _due(serial=None, not_after=None, codes=("renew",)):
    return {"changed": False, "needs_certificate": True,
            "reasons": [{"code": c, "message": "m"} for c in codes],
            "certificate": _cert(serial, not_after) if serial else None}


def _host(name, **registered):
    host = {"inventory_hostname": name, "device_identity_ca": CA}
    host.update(registered)
    return host


SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}


def test_a_fleet_of_every_kind():
    hosts = [
        _host("fresh1", device_identity_status=_fresh(11, "2026-12-04T10:00:00Z")),
        _host("rotated1", device_identity_status=_due(12, "2026-11-28T01:00:00Z"),
              device_identity_install=dict(_cert(21, "2026-12-05T09:00:00Z"), changed=True)),
        _host("refused", device_identity_status=_due(13, "2026-11-27T20:00:00Z"), device_identity_install=SKIPPED,
              device_identity_failed_reason="refused: the CA refused the CSR"),
        _host("unreachable"),
        _host("ca-failed", device_identity_status=SKIPPED, device_identity_failed_reason="the fleet CA cannot be read"),
        {"inventory_hostname": "outside-limit"},
    ]
    lines = identity_summary(hosts)
    assert lines == [
        "rotated1: O=Fleet,CN=h21 serial 21 expires 2026-12-05T09:00:00Z (issued now)",
        "fresh1: O=Fleet,CN=h11 serial 11 expires 2026-12-04T10:00:00Z (fresh)",
        "rotated (1): rotated1",
        "fresh (1): fresh1",
        "would rotate, check mode (0): ",
        "failed (3): refused, unreachable, ca-failed",
        ["refused: the CA refused the CSR", NO_REASON, "the fleet CA cannot be read"],
        # The refused host keeps its old certificate in service: it is the earliest expiry; the
        # rotated host's old certificate is no longer in service and does not count.
        "earliest expiry: 2026-11-27T20:00:00Z",
    ]


def test_check_mode_lists_what_would_rotate_and_why():
    rows = [
        ("new", _due(codes=("missing",)), SKIPPED, ""),
        ("due", _due(5, "2026-11-29T00:00:00Z", codes=("renew", "key_type")), SKIPPED, ""),
        ("ok", _fresh(6, "2026-12-01T00:00:00Z"), SKIPPED, ""),
    ]
    lines = summarize(rows, check_mode=True)
    assert lines[:3] == [
        "ok: O=Fleet,CN=h6 serial 6 expires 2026-12-01T00:00:00Z (fresh)",
        "new: (none yet) serial - expires - (would be renewed: missing)",
        "due: O=Fleet,CN=h5 serial 5 expires 2026-11-29T00:00:00Z (would be renewed: renew, key_type)",
    ]
    assert lines[3:] == ["rotated (0): ", "fresh (1): ok", "would rotate, check mode (2): new, due",
                         "failed (0): ", [], "earliest expiry: 2026-11-29T00:00:00Z"]


def test_outside_check_mode_a_host_that_needed_a_certificate_and_kept_none_failed():
    # For example: its install task failed, so nothing recorded a reason.
    lines = summarize([("h", _due(1, "2026-11-28T00:00:00Z"), {"failed": True, "msg": "x"}, "")])
    assert lines[-4:] == ["would rotate, check mode (0): ", "failed (1): h", [NO_REASON],
                          "earliest expiry: 2026-11-28T00:00:00Z"]


def test_a_rotation_rolled_back_is_failed_and_its_previous_certificate_counts():
    install = dict(_cert(9, "2026-12-09T00:00:00Z"), changed=True)
    lines = summarize([("b", _due(8, "2026-11-30T00:00:00Z"), install, "b: the new certificate 9 failed in service")])
    assert lines[0] == "rotated (0): "
    assert lines[3:] == ["failed (1): b", ["b: the new certificate 9 failed in service"],
                         "earliest expiry: 2026-11-30T00:00:00Z"]


def test_nothing_ran():
    assert identity_summary([{"inventory_hostname": "a"}]) == [
        "rotated (0): ", "fresh (0): ", "would rotate, check mode (0): ", "failed (0): ", [], "earliest expiry: -"]


def test_results_that_are_not_dicts_are_treated_as_missing():
    lines = identity_summary([_host("odd", device_identity_status="garbage", device_identity_install=None)])
    assert lines[3:5] == ["failed (1): odd", [NO_REASON]]


def test_registered_names_come_from_the_caller():
    """The role passes the names it registers under; a host registered under others is read by them."""
    host = {"inventory_hostname": "a", "ran": {}, "st": {"needs_certificate": False,
                                                         "certificate": {"subject": "CN=a", "serial": "01",
                                                                         "not_after": "2030"}}}
    lines = identity_summary([host], registered={"status": "st", "ran": "ran"})
    assert "fresh (1): a" in lines
    assert "fresh (0): " in identity_summary([host])  # under the role's own names it did not run on a
    with pytest.raises(ValueError):
        identity_summary([host], registered={"statuss": "st"})
