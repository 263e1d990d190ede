# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""certificate_install, the module: its three states, check mode, diff and refusals."""

import os

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import cert_sha256, cert_to_pem
from ansible_collections.iotsec.tls.plugins.modules import certificate_install


def _issue(backend, store_path, ca, pki):
    """A pending key in store_path and a certificate for it (as identity_key and the CA make them)."""
    pending = os.path.join(store_path, "pending", "key.pem")
    os.makedirs(os.path.dirname(pending), exist_ok=True)
    backend.create(pending, "ecdsa-p256", 0o600)
    return pki.sign(ca, backend.public_key(pending), dns_names=["dev1"])


def _args(path, cert, ca, **extra):
    return dict(dict(path=path, certificate=cert_to_pem(cert), ca_chain=ca.chain_pem,
                     root_sha256=cert_sha256(ca.chain[-1])), **extra)


def test_present_installs_once_then_changes_nothing(tmp_path, backend, ca, pki, run_module):
    path = str(tmp_path / "identity")
    cert = _issue(backend, path, ca, pki)
    first = run_module(certificate_install, _args(path, cert, ca))
    assert first["changed"] and first["generation"] == "gen-" + cert_sha256(cert)[:16]
    assert first["previous_generation"] is None and first["sha256"] == cert_sha256(cert)
    assert os.readlink(os.path.join(path, "current")) == first["generation"]
    again = run_module(certificate_install, _args(path, cert, ca))
    assert again["changed"] is False and "generation" not in again


def test_present_check_mode_and_diff_write_nothing(tmp_path, backend, ca, pki, run_module):
    path = str(tmp_path / "identity")
    cert = _issue(backend, path, ca, pki)
    before = pki.snapshot(path)
    result = run_module(certificate_install, _args(path, cert, ca), check_mode=True, diff=True)
    assert result["changed"] and "generation" not in result
    assert result["diff"]["before"] == "(no certificate)\n"
    assert "serial: %s" % result["serial"] in result["diff"]["after"]
    assert "PRIVATE" not in repr(result)
    assert pki.snapshot(path) == before


def test_present_refuses_a_world_readable_key_mode_and_changes_nothing(tmp_path, backend, ca, pki, run_module):
    path = str(tmp_path / "identity")
    cert = _issue(backend, path, ca, pki)
    before = pki.snapshot(path)
    result = run_module(certificate_install, _args(path, cert, ca, key_mode="0644"))
    assert result["failed"] and result["check"] == "key_mode"
    assert pki.snapshot(path) == before


def test_present_refuses_another_ca_and_a_foreign_root(tmp_path, backend, ca, other_ca, pki, run_module):
    path = str(tmp_path / "identity")
    cert = _issue(backend, path, other_ca, pki)
    result = run_module(certificate_install, _args(path, cert, ca))
    assert result["failed"] and result["check"] == "chain"
    pinned = run_module(certificate_install, _args(path, cert, other_ca, root_sha256=cert_sha256(ca.chain[-1])))
    assert pinned["failed"] and pinned["check"] == "chain" and "pinned" in pinned["msg"]
    assert not os.path.lexists(os.path.join(path, "current"))


def test_old_option_name_still_works_with_a_deprecation(tmp_path, backend, ca, pki, run_module):
    path = str(tmp_path / "identity")
    cert = _issue(backend, path, ca, pki)
    args = _args(path, cert, ca)
    args["chain"] = args.pop("ca_chain")
    result = run_module(certificate_install, args)
    assert result["changed"]
    assert any("chain" in str(d) and "1.0.0" in str(d) for d in result["deprecations"]), result["deprecations"]


def test_rolled_back_restores_the_previous_pair_once(tmp_path, backend, ca, pki, run_module):
    path = str(tmp_path / "identity")
    first = run_module(certificate_install, _args(path, _issue(backend, path, ca, pki), ca))
    second_cert = _issue(backend, path, ca, pki)
    second = run_module(certificate_install, _args(path, second_cert, ca))
    assert second["previous_generation"] == first["generation"]
    args = dict(path=path, state="rolled_back", failed_sha256=second["sha256"])
    check = run_module(certificate_install, args, check_mode=True)
    assert check == dict(check, changed=True, rolled_back=True)
    assert os.readlink(os.path.join(path, "current")) == second["generation"]
    done = run_module(certificate_install, args)
    assert done["changed"] and done["generation"] == first["generation"]
    assert os.readlink(os.path.join(path, "current")) == first["generation"]
    assert run_module(certificate_install, args)["changed"] is False  # repeated: nothing to do


def test_rolled_back_with_nothing_to_roll_back_to_fails(tmp_path, backend, ca, pki, run_module):
    path = str(tmp_path / "identity")
    only = run_module(certificate_install, _args(path, _issue(backend, path, ca, pki), ca))
    result = run_module(certificate_install, dict(path=path, state="rolled_back", failed_sha256=only["sha256"]))
    assert result["failed"] and result["check"] == "rollback"


def test_absent_overwrites_and_removes_once(tmp_path, backend, ca, pki, run_module):
    path = str(tmp_path / "identity")
    run_module(certificate_install, _args(path, _issue(backend, path, ca, pki), ca))
    check = run_module(certificate_install, dict(path=path, state="absent"), check_mode=True)
    assert check["changed"] and check["removed"] and os.path.isdir(path)
    done = run_module(certificate_install, dict(path=path, state="absent"))
    assert done["changed"] and done["removed"] and not os.path.lexists(path)
    again = run_module(certificate_install, dict(path=path, state="absent"))
    assert again["changed"] is False and again["removed"] is False


def test_absent_refuses_a_symlink_and_leaves_its_target(tmp_path, backend, ca, pki, run_module):
    real = str(tmp_path / "real")
    run_module(certificate_install, _args(real, _issue(backend, real, ca, pki), ca))
    link = str(tmp_path / "identity")
    os.symlink(real, link)
    result = run_module(certificate_install, dict(path=link, state="absent"))
    assert result["failed"] and result["check"] == "remove"
    assert os.path.isfile(os.path.join(real, "current", "key.pem"))
