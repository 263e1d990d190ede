# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""certificate_status, the module: the memo against the full check, and the request it returns."""

import os

from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import KeySettings
from ansible_collections.iotsec.tls.plugins.module_utils.freshness import MEMO_NAME
from ansible_collections.iotsec.tls.plugins.module_utils.issue import issue_batch
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import NoLedger
from ansible_collections.iotsec.tls.plugins.module_utils.request import issue_request_spec
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore
from ansible_collections.iotsec.tls.plugins.modules import certificate_status

NAMES = dict(common_name="dev1", dns_names=["dev1.example"])


def _installed(tmp_path, backend, ca, pki):
    store = IdentityStore(str(tmp_path / "identity"), backend)
    store.make_dirs(0o755)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    store.install(pki.sign(ca, backend.public_key(store.pending_key), **NAMES), ca.chain, KeySettings())
    return store


def _args(store, ca, **extra):
    return dict(dict(path=store.path, ca_chain=ca.chain_pem, profile="device", lifetime="7d", **NAMES), **extra)


def _memo(store):
    return os.path.join(os.path.realpath(os.path.join(store.path, "current")), MEMO_NAME)


def test_memo_and_full_check_agree_and_a_lost_memo_is_written_again(tmp_path, backend, ca, pki, run_module):
    store = _installed(tmp_path, backend, ca, pki)
    from_memo = run_module(certificate_status, _args(store, ca))
    os.unlink(_memo(store))
    full = run_module(certificate_status, _args(store, ca))
    assert os.path.exists(_memo(store))
    for result in (from_memo, full):
        assert result["changed"] is False and result["needs_certificate"] is False
    assert {k: v for k, v in from_memo.items() if k != "remaining_seconds"} == \
        {k: v for k, v in full.items() if k != "remaining_seconds"}


def test_check_mode_writes_no_memo(tmp_path, backend, ca, pki, run_module):
    store = _installed(tmp_path, backend, ca, pki)
    os.unlink(_memo(store))
    assert run_module(certificate_status, _args(store, ca), check_mode=True)["needs_certificate"] is False
    assert not os.path.exists(_memo(store))


def test_a_changed_file_goes_to_the_full_check(tmp_path, backend, ca, other_ca, pki, run_module):
    """The chain beside the certificate replaced by another CA's: the memo no longer answers."""
    store = _installed(tmp_path, backend, ca, pki)
    chain = os.path.join(os.path.realpath(os.path.join(store.path, "current")), "chain.pem")
    with open(chain, "w") as handle:
        handle.write(other_ca.chain_pem)
    result = run_module(certificate_status, _args(store, ca))
    assert [r["code"] for r in result["reasons"]] == ["chain_changed"]


def test_prepare_key_returns_the_whole_request_that_issue_takes(tmp_path, backend, ca, pki, run_module):
    store = _installed(tmp_path, backend, ca, pki)
    result = run_module(certificate_status, _args(store, ca, host="dev1.inventory", prepare_key=True,
                                                  force=True, rekey=True))
    assert result["changed"] and result["key"]["key_created"]
    request = result["request"]
    assert request["host"] == "dev1.inventory" and request["csr"] == result["key"]["csr"]
    assert set(request) <= set(issue_request_spec())
    assert request == dict(host="dev1.inventory", csr=request["csr"], profile="device", lifetime="7d",
                           ip_addresses=[], **NAMES)
    issued = issue_batch(ca, NoLedger(), [request], check_mode=True)
    assert issued["dev1.inventory"]["ok"], issued


def test_prepare_key_check_mode_has_no_request_without_a_csr(tmp_path, backend, ca, pki, run_module):
    store = _installed(tmp_path, backend, ca, pki)
    before = pki.snapshot(store.path)
    result = run_module(certificate_status, _args(store, ca, prepare_key=True, force=True, rekey=True),
                        check_mode=True)
    assert result["changed"] and "request" not in result and "csr" not in result["key"]
    assert pki.snapshot(store.path) == before


def test_world_readable_key_mode_is_refused_before_the_memo_answers(tmp_path, backend, ca, pki, run_module):
    store = _installed(tmp_path, backend, ca, pki)
    result = run_module(certificate_status, _args(store, ca, prepare_key=True, key_mode="0604"))
    assert result["failed"] and result["check"] == "key_mode"
