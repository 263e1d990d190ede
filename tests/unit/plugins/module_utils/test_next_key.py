# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IdentityStore.next_key: which key the CSR carries, whether a new one is made, and the key settings."""

import os

import pytest

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import spki_sha256
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import KeySettings, key_settings
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError


def _install_current(store, backend, ca, pki, key_type="ecdsa-p256"):
    backend.create(store.pending_key, key_type, 0o600)
    cert = pki.sign(ca, backend.public_key(store.pending_key))
    store.install(cert, ca.chain, KeySettings(key_mode=0o600))
    return spki_sha256(cert.public_key())


def test_no_key_creates_pending(store, backend):
    assert store._choose_key("ecdsa-p256", False) == (store.pending_key, True)
    assert store._choose_key("ecdsa-p256", True) == (store.pending_key, True)


def test_no_store_directory_yet(tmp_path, backend):
    store = IdentityStore(str(tmp_path / "absent"))
    assert store._choose_key("ed25519", False) == (store.pending_key, True)
    assert not os.path.exists(store.path)  # choosing writes nothing


def test_current_key_of_right_type_is_kept(store, backend, ca, pki):
    _install_current(store, backend, ca, pki)
    before = pki.snapshot(store.path)
    assert store._choose_key("ecdsa-p256", False) == (store.current_key, False)
    assert pki.snapshot(store.path) == before


def test_rekey_makes_new_pending_key(store, backend, ca, pki):
    _install_current(store, backend, ca, pki)
    assert store._choose_key("ecdsa-p256", True) == (store.pending_key, True)


def test_pending_key_left_over_is_reused(store, backend, ca, pki):
    _install_current(store, backend, ca, pki)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    assert store._choose_key("ecdsa-p256", True) == (store.pending_key, False)
    # without rekey the current key still wins
    assert store._choose_key("ecdsa-p256", False) == (store.current_key, False)


def test_pending_key_without_current(store, backend):
    backend.create(store.pending_key, "ed25519", 0o600)
    assert store._choose_key("ed25519", False) == (store.pending_key, False)


def test_wrong_type_makes_new_pending_key(store, backend, ca, pki):
    _install_current(store, backend, ca, pki, "ecdsa-p256")
    assert store._choose_key("ed25519", False) == (store.pending_key, True)
    backend.create(store.pending_key, "ecdsa-p384", 0o600)  # left over, but wrong type too
    assert store._choose_key("ed25519", False) == (store.pending_key, True)
    assert store._choose_key("ecdsa-p384", False) == (store.pending_key, False)


def test_broken_keys_are_replaced(store, backend, ca, pki):
    _install_current(store, backend, ca, pki)
    with open(store.current_key, "w") as handle:
        handle.write("broken")
    with open(store.pending_key, "w") as handle:
        handle.write("broken")
    assert store._choose_key("ecdsa-p256", False) == (store.pending_key, True)


def test_full_rotation_cycle(store, backend, ca, pki):
    """identity_key -> issue -> install, twice: the second rekey gives a different key."""
    first = None
    for _round in range(2):
        path, create = store._choose_key("ecdsa-p256", True)
        assert (path, create) == (store.pending_key, True)
        backend.create(path, "ecdsa-p256", 0o600)
        csr = backend.csr(path, "dev1")
        cert = pki.sign(ca, csr.public_key())
        store.install(cert, ca.chain, KeySettings(key_mode=0o600))
        key_id = spki_sha256(backend.public_key(store.current_key))
        assert key_id == spki_sha256(cert.public_key())
        assert key_id != first
        first = key_id
    assert store._choose_key("ecdsa-p256", False) == (store.current_key, False)


SETTINGS = KeySettings()


def test_prepare_key_makes_pending_key_and_csr(store, backend):
    result = store.next_key("ecdsa-p256", True, "dev1", SETTINGS)
    assert result["changed"] and result["key_created"]
    assert result["key_source"] == "pending" and result["key_type"] == "ecdsa-p256"
    assert "BEGIN CERTIFICATE REQUEST" in result["csr"]
    assert result["public_key_sha256"] == spki_sha256(backend.public_key(store.pending_key))
    assert os.stat(store.pending_key).st_mode & 0o777 == 0o600
    assert "PRIVATE" not in repr(result)


def test_prepare_key_again_reuses_the_pending_key(store, backend):
    first = store.next_key("ecdsa-p256", True, "dev1", SETTINGS)
    again = store.next_key("ecdsa-p256", True, "dev1", SETTINGS)
    assert not again["changed"] and not again["key_created"]
    assert again["public_key_sha256"] == first["public_key_sha256"]


def test_prepare_key_check_mode_writes_nothing(tmp_path, backend):
    store = IdentityStore(str(tmp_path / "absent"))
    result = store.next_key("ecdsa-p256", True, "dev1", SETTINGS, check_mode=True)
    assert result == {"changed": True, "key_created": True, "key_source": "pending", "key_type": "ecdsa-p256"}
    assert not os.path.exists(store.path)


def test_prepare_key_without_rekey_keeps_current_key(store, backend, ca, pki):
    key_id = _install_current(store, backend, ca, pki)
    before = pki.snapshot(store.path)
    result = store.next_key("ecdsa-p256", False, "dev1", SETTINGS)
    assert not result["changed"] and result["key_source"] == "current"
    assert result["public_key_sha256"] == key_id
    after = pki.snapshot(store.path)
    after.pop(".lock", None)  # the lock file, empty, taken while choosing
    before.pop(".lock", None)
    assert after == before


def test_prepare_key_fixes_mode_of_a_reused_key(store, backend):
    store.next_key("ecdsa-p256", True, "dev1", SETTINGS)
    os.chmod(store.pending_key, 0o644)
    result = store.next_key("ecdsa-p256", True, "dev1", SETTINGS)
    assert result["changed"] and not result["key_created"]
    assert os.stat(store.pending_key).st_mode & 0o777 == 0o600


def test_key_settings_defaults_and_group_mode():
    assert key_settings("root", None, None, "0755") == (0, -1, 0o600, 0o755)
    assert key_settings("root", "root", None, None) == (0, 0, 0o640, 0o755)


@pytest.mark.parametrize("owner,group,mode,check", [
    ("no-such-user-xyz", None, None, "parameters"),
    ("root", "no-such-group-xyz", None, "parameters"),
    ("root", None, "0644", "key_mode"),
    ("root", "root", "0604", "key_mode"),
])
def test_key_settings_refusals(owner, group, mode, check):
    with pytest.raises(PKIError) as err:
        key_settings(owner, group, mode, "0755")
    assert err.value.check == check


def test_next_key_refuses_a_world_readable_key_mode_whatever_called_it(store):
    """The owner checks the mode itself: settings made without key_settings() are refused too."""
    with pytest.raises(PKIError) as err:
        store.next_key("ecdsa-p256", True, "dev1", KeySettings(key_mode=0o604))
    assert err.value.check == "key_mode"
    assert not os.path.exists(store.pending_key)
