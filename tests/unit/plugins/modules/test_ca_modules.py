# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CA modules' shared options, the deprecated certificate_issue ledger option, the
fleet_crl crl_next_update alias, and check mode, which writes nothing (no ledger is created)."""

import datetime
import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import utcnow
from ansible_collections.iotsec.tls.plugins.modules import certificate_issue, certificate_revoke, fleet_ca_info, fleet_crl


def _run(module, args, capsys, monkeypatch=None, specs=None):
    if monkeypatch is not None:
        real = module.AnsibleModule

        def recording(*a, **kw):
            specs.append(kw["argument_spec"])
            return real(*a, **kw)
        monkeypatch.setattr(module, "AnsibleModule", recording)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_issue_refuses_a_ledger_other_than_the_ca_directorys(ca_dir, passphrase, pki, tmp_path, capsys):
    other = str(tmp_path / "other.sqlite3")
    result = _run(certificate_issue, {"ca_dir": ca_dir, "passphrase": passphrase, "ledger": other,
                                      "requests": [pki.request("dev1", pki.new_key())]}, capsys)
    assert result["failed"] and result["check"] == "ledger_option"
    assert other in result["msg"] and "remove the ledger option" in result["hint"]
    assert not os.path.exists(other) and not os.path.exists(os.path.join(ca_dir, "ledger.sqlite3"))


def test_issue_accepts_its_own_ledger_path_and_deprecates_the_option(ca_dir, passphrase, pki, capsys,
                                                                     monkeypatch):
    specs = []
    result = _run(certificate_issue, {"ca_dir": ca_dir, "passphrase": passphrase,
                                      "ledger": os.path.join(ca_dir, ".", "ledger.sqlite3"),
                                      "requests": [pki.request("dev1", pki.new_key())]}, capsys,
                  monkeypatch, specs)
    assert not result.get("failed"), result
    assert result["issued"] == ["dev1"]
    assert specs[0]["ledger"]["removed_in_version"] == "1.0.0"
    assert specs[0]["ledger"]["removed_from_collection"] == "iotsec.tls"


def test_crl_next_update_and_its_deprecated_alias(ca_dir, passphrase, capsys, monkeypatch):
    result = _run(fleet_crl, {"ca_dir": ca_dir, "passphrase": passphrase, "crl_next_update": "2d"}, capsys)
    assert result["changed"] and result["crl_number"] == 1
    assert result["crl_next_update"].startswith(str((utcnow() + datetime.timedelta(days=2)).date()))
    specs = []
    result = _run(fleet_crl, {"ca_dir": ca_dir, "passphrase": passphrase, "next_update": "3d",
                              "force": True}, capsys, monkeypatch, specs)
    assert result["crl_number"] == 2
    assert result["crl_next_update"].startswith(str((utcnow() + datetime.timedelta(days=3)).date()))
    assert specs[0]["crl_next_update"]["aliases"] == ["next_update"]
    assert specs[0]["crl_next_update"]["deprecated_aliases"] == [
        {"name": "next_update", "version": "1.0.0", "collection_name": "iotsec.tls"}]


def test_ca_info_reads_without_the_passphrase(ca_dir, capsys):
    result = _run(fleet_ca_info, {"ca_dir": ca_dir}, capsys)
    assert result["ca_dir"] == ca_dir and result["crl_due"] is None
    assert "PRIVATE" not in json.dumps(result)


def test_check_mode_on_a_new_ca_creates_no_ledger_and_no_crl(ca_dir, passphrase, pki, run_module):
    before = pki.snapshot(ca_dir)
    result = run_module(fleet_crl, {"ca_dir": ca_dir, "passphrase": passphrase}, check_mode=True)
    assert not result.get("failed"), result
    assert result["changed"] and result["crl_number"] == 1 and result["crl"] is None
    result = run_module(certificate_revoke, {"ca_dir": ca_dir, "passphrase": passphrase,
                                             "hosts": ["dev1"]}, check_mode=True)
    assert result["failed"] and result["check"] == "unknown_host"
    assert pki.snapshot(ca_dir) == before  # no ledger.sqlite3, no crl.pem


def test_check_mode_revocation_reports_and_writes_nothing(ca_dir, passphrase, pki, run_module):
    issued = run_module(certificate_issue, {"ca_dir": ca_dir, "passphrase": passphrase,
                                            "requests": [pki.request("dev1", pki.new_key())]})
    assert issued["issued"] == ["dev1"]
    before = pki.snapshot(ca_dir)
    result = run_module(certificate_revoke, {"ca_dir": ca_dir, "passphrase": passphrase,
                                             "hosts": ["dev1"], "reason": "keyCompromise"}, check_mode=True)
    assert not result.get("failed"), result
    assert result["changed"] and len(result["revoked"]) == 1 and result["crl"] is None
    assert pki.snapshot(ca_dir) == before
    planned = result["revoked"]
    result = run_module(certificate_revoke, {"ca_dir": ca_dir, "passphrase": passphrase,
                                             "hosts": ["dev1"], "reason": "keyCompromise"})
    assert result["changed"] and result["revoked"] == planned and result["crl_number"] == 1
    assert pki.snapshot(ca_dir) != before
