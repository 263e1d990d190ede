# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The identity store: generations, atomic switch, previous pair, rollback, refusals."""

import os

import pytest

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    PKIError,
    cert_sha256,
    cert_to_pem,
    load_certificate,
    load_certificates,
    spki_sha256,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import KeySettings
from ansible_collections.iotsec.tls.plugins.module_utils.store import FILES, IdentityStore, generation_name


def test_prepare_reports_a_change_only_the_first_time(tmp_path):
    st = IdentityStore(str(tmp_path / "identity"))
    assert st.make_dirs(0o755) is True
    assert st.make_dirs(0o755) is False


def _pending_cert(store, backend, ca, pki, key_type="ecdsa-p256", **kwargs):
    backend.create(store.pending_key, key_type, 0o600)
    return pki.sign(ca, backend.public_key(store.pending_key), **kwargs)


def _install_new(store, backend, ca, pki, key_mode=0o600):
    cert = _pending_cert(store, backend, ca, pki)
    key_path = store.find_key_for(cert)
    assert key_path == store.pending_key
    return cert, store.install(cert, ca.chain, KeySettings(key_mode=key_mode))["generation"]


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def test_prepare_modes(tmp_path, pki):
    st = IdentityStore(str(tmp_path / "identity"))
    st.make_dirs(0o750)
    assert pki.mode(st.path) == 0o750
    assert pki.mode(st.pending_dir) == 0o700
    st2 = IdentityStore(str(tmp_path / "identity2"))
    st2.make_dirs(0o755, -1, os.getgid())
    assert pki.mode(st2.pending_dir) == 0o750


def test_first_install(store, backend, ca, pki):
    cert, generation = _install_new(store, backend, ca, pki)
    assert generation == "gen-" + cert_sha256(cert)[:16]
    assert store.link_target("current") == generation
    assert store.link_target("previous") is None
    gen_dir = os.path.join(store.path, generation)
    assert sorted(os.listdir(gen_dir)) == sorted(FILES + ("status.json",))
    assert _read(os.path.join(gen_dir, "cert.pem")).decode() == cert_to_pem(cert)
    assert _read(os.path.join(gen_dir, "chain.pem")).decode() == ca.chain_pem
    # served to peers: leaf and issuing CA, never the root (sslyze: "chain contains anchor")
    assert _read(os.path.join(gen_dir, "fullchain.pem")).decode() == \
        cert_to_pem(cert) + cert_to_pem(ca.chain[0])
    assert len(ca.chain) == 2 and ca.chain[1].issuer == ca.chain[1].subject
    assert spki_sha256(backend.public_key(os.path.join(gen_dir, "key.pem"))) == \
        spki_sha256(cert.public_key())
    assert pki.mode(os.path.join(gen_dir, "key.pem")) == 0o600
    for name in ("cert.pem", "chain.pem", "fullchain.pem"):
        assert pki.mode(os.path.join(gen_dir, name)) == 0o644
    # top-level links into current
    for name in FILES:
        assert store.link_target(name) == os.path.join("current", name)
        assert os.path.realpath(os.path.join(store.path, name)) == \
            os.path.realpath(os.path.join(gen_dir, name))
    # the pending key was consumed
    assert not os.path.exists(store.pending_key)
    assert os.listdir(store.pending_dir) == []
    # what services read is a matching pair
    served = load_certificate(_read(os.path.join(store.path, "cert.pem")))
    assert spki_sha256(backend.public_key(os.path.join(store.path, "key.pem"))) == \
        spki_sha256(served.public_key())
    assert store.is_current(cert, ca.chain)
    read_cert, read_chain, problems = store.read_current()
    assert problems == []
    assert cert_sha256(read_cert) == cert_sha256(cert)
    assert [cert_sha256(c) for c in read_chain] == [cert_sha256(c) for c in ca.chain]


def test_install_with_group_mode(store, backend, ca, pki):
    _cert, generation = _install_new(store, backend, ca, pki, key_mode=0o640)
    assert pki.mode(os.path.join(store.path, generation, "key.pem")) == 0o640


def test_second_install_keeps_previous_and_prunes_older(store, backend, ca, pki):
    cert1, gen1 = _install_new(store, backend, ca, pki)
    cert2, gen2 = _install_new(store, backend, ca, pki)
    assert store.link_target("current") == gen2
    assert store.link_target("previous") == gen1
    assert os.path.isdir(os.path.join(store.path, gen1))
    assert store.is_current(cert2, ca.chain) and not store.is_current(cert1, ca.chain)
    cert3, gen3 = _install_new(store, backend, ca, pki)
    assert store.link_target("current") == gen3
    assert store.link_target("previous") == gen2
    assert not os.path.exists(os.path.join(store.path, gen1))
    assert sorted(n for n in os.listdir(store.path) if n.startswith("gen-")) == \
        sorted([gen2, gen3])
    assert [n for n in os.listdir(store.path) if n.startswith(".")] == [".lock"]


def test_install_for_current_key_without_rekey(store, backend, ca, pki):
    cert1, gen1 = _install_new(store, backend, ca, pki)
    cert2 = pki.sign(ca, cert1.public_key())
    key_path = store.find_key_for(cert2)
    assert key_path == store.current_key
    gen2 = store.install(cert2, ca.chain, KeySettings(key_mode=0o600))["generation"]
    assert gen2 != gen1
    new_key = os.path.join(store.path, gen2, "key.pem")
    old_key = os.path.join(store.path, gen1, "key.pem")
    assert _read(new_key) == _read(old_key)
    assert store.link_target("previous") == gen1
    assert store.is_current(cert2, ca.chain)


def test_pending_key_preferred_over_current(store, backend, ca, pki):
    cert1, _gen1 = _install_new(store, backend, ca, pki)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    # a certificate for the current key is still matched to the current key
    assert store.find_key_for(pki.sign(ca, cert1.public_key())) == store.current_key
    cert2 = pki.sign(ca, backend.public_key(store.pending_key))
    assert store.find_key_for(cert2) == store.pending_key


def test_install_refuses_foreign_key_and_changes_nothing(store, backend, ca, pki):
    _install_new(store, backend, ca, pki)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    before = pki.snapshot(store.path)
    foreign = pki.sign(ca, pki.new_key().public_key())
    with pytest.raises(PKIError) as err:
        store.find_key_for(foreign)
    assert err.value.check == "key_mismatch"
    assert store.path in err.value.message
    assert pki.snapshot(store.path) == before


def test_key_mismatch_on_empty_store(store, backend, ca, pki):
    before = pki.snapshot(store.path)
    with pytest.raises(PKIError) as err:
        store.find_key_for(pki.sign(ca, pki.new_key().public_key()))
    assert err.value.check == "key_mismatch"
    assert pki.snapshot(store.path) == before


def test_rollback_swaps_current_and_previous(store, backend, ca, pki):
    cert1, gen1 = _install_new(store, backend, ca, pki)
    cert2, gen2 = _install_new(store, backend, ca, pki)
    assert store.rollback() == gen1
    assert store.link_target("current") == gen1
    assert store.link_target("previous") == gen2
    assert store.is_current(cert1, ca.chain)
    served = load_certificate(_read(os.path.join(store.path, "cert.pem")))
    assert cert_sha256(served) == cert_sha256(cert1)
    assert spki_sha256(backend.public_key(os.path.join(store.path, "key.pem"))) == \
        spki_sha256(cert1.public_key())
    assert store.rollback() == gen2
    assert store.is_current(cert2, ca.chain)


def test_rollback_without_previous(store, backend, ca, pki):
    with pytest.raises(PKIError) as err:
        store.rollback()
    assert err.value.check == "rollback"
    _install_new(store, backend, ca, pki)
    before = pki.snapshot(store.path)
    with pytest.raises(PKIError) as err:
        store.rollback()
    assert err.value.check == "rollback"
    assert pki.snapshot(store.path) == before


def test_is_current(store, backend, ca, other_ca, pki):
    cert = _pending_cert(store, backend, ca, pki)
    assert not store.is_current(cert, ca.chain)  # nothing installed
    store.install(cert, ca.chain, KeySettings(key_mode=0o600))
    assert store.is_current(cert, ca.chain)
    assert not store.is_current(cert, other_ca.chain)
    assert not store.is_current(cert, ca.chain[:1])
    assert not store.is_current(pki.sign(ca, cert.public_key()), ca.chain)


def test_read_current_problems(store, backend, ca, pki):
    assert store.read_current() == (None, None, ["certificate missing", "chain missing"])
    _cert, generation = _install_new(store, backend, ca, pki)
    with open(os.path.join(store.path, generation, "chain.pem"), "w") as handle:
        handle.write("garbage")
    cert, chain, problems = store.read_current()
    assert cert is not None and chain is None
    assert len(problems) == 1 and problems[0].startswith("chain unreadable")


def test_old_generation_keys_are_shredded(store, backend, ca, pki, monkeypatch):
    from ansible_collections.iotsec.tls.plugins.module_utils import store as store_mod
    shredded = []
    real = store_mod.shred_file

    def spy(path):
        shredded.append(os.path.relpath(path, store.path))
        return real(path)
    monkeypatch.setattr(store_mod, "shred_file", spy)
    _c1, gen1 = _install_new(store, backend, ca, pki)
    _install_new(store, backend, ca, pki)
    _install_new(store, backend, ca, pki)
    assert os.path.join(gen1, "key.pem") in shredded


def test_shred_file(tmp_path):
    from ansible_collections.iotsec.tls.plugins.module_utils.store import shred_file
    path = tmp_path / "key.pem"
    path.write_bytes(b"secret")
    linked = tmp_path / "other.pem"
    os.link(str(path), str(linked))
    shred_file(str(path))
    assert not path.exists()
    assert linked.read_bytes() == b"secret"  # a key still linked elsewhere is kept intact
    shred_file(str(tmp_path / "missing"))  # no error


def test_chain_of_installed_generation_loads(store, backend, ca, pki):
    _cert, generation = _install_new(store, backend, ca, pki)
    chain = load_certificates(_read(os.path.join(store.path, "chain.pem")))
    assert [cert_sha256(c) for c in chain] == [cert_sha256(ca.cert), cert_sha256(ca.root)]
    assert generation.startswith("gen-")


def test_discard_pending_on_new_host_removes_everything_it_made(tmp_path, backend):
    st = IdentityStore(str(tmp_path / "identity"))
    st.make_dirs(0o755)
    backend.create(st.pending_key, "ecdsa-p256", 0o600)
    assert st.discard_pending() is True
    assert not os.path.exists(st.path)
    assert os.listdir(str(tmp_path)) == []
    assert st.discard_pending() is False


def test_discard_pending_keeps_identity_in_service(store, backend, ca, pki):
    _install_new(store, backend, ca, pki)
    before = pki.snapshot(store.path)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    assert store.discard_pending() is True
    assert pki.snapshot(store.path) == before
    assert backend.exists(store.current_key)
    assert store.discard_pending() is False


def test_discard_pending_removes_the_lock_file_of_a_new_host(tmp_path, backend):
    st = IdentityStore(str(tmp_path / "identity"))
    st.make_dirs(0o755)
    with st.lock():
        backend.create(st.pending_key, "ecdsa-p256", 0o600)
    assert st.discard_pending() is True
    assert os.listdir(str(tmp_path)) == []


def test_rollback_of_a_named_certificate_is_idempotent(store, backend, ca, pki):
    first, first_gen = _install_new(store, backend, ca, pki)
    second, second_gen = _install_new(store, backend, ca, pki)
    assert store.rollback(cert_sha256(first)) is None  # not current: nothing to do
    assert store.link_target("current") == second_gen
    assert store.rollback(cert_sha256(second)) == first_gen
    assert store.link_target("current") == first_gen
    assert store.link_target("previous") == second_gen
    assert store.rollback(cert_sha256(second)) is None  # repeated: nothing to do
    assert store.link_target("current") == first_gen


def test_lock_makes_overlapping_runs_wait_then_gives_up(store, monkeypatch):
    import multiprocessing
    import time as _time
    ready = multiprocessing.Event()
    release = multiprocessing.Event()

    def holder():
        with store.lock():
            ready.set()
            release.wait(10)

    proc = multiprocessing.get_context("fork").Process(target=holder)
    proc.start()
    try:
        assert ready.wait(10)
        start = _time.time()
        with pytest.raises(PKIError) as err:
            with store.lock(timeout=0.5):
                pass
        assert err.value.check == "locked"
        assert _time.time() - start >= 0.5
        release.set()
        proc.join(10)
        with store.lock(timeout=5):
            pass
    finally:
        release.set()
        proc.join(10)


def test_remove_overwrites_keys_then_removes_everything(store, backend, ca, pki, monkeypatch):
    _install_new(store, backend, ca, pki)
    _install_new(store, backend, ca, pki)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    keys = []
    for root, _dirs, files in os.walk(store.path):
        keys += [os.path.join(root, n) for n in files
                 if n == "key.pem" and not os.path.islink(os.path.join(root, n))]
    assert len(keys) == 3
    overwritten = []
    real_open = open

    def spy(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "r+b" in mode:
            overwritten.append(os.path.realpath(path))
        return handle

    monkeypatch.setattr("builtins.open", spy)
    assert store.destroy() is True
    assert not os.path.exists(store.path)
    assert sorted(set(overwritten)) == sorted(os.path.realpath(k) for k in keys)
    assert store.destroy() is False


def _hold_lock_in_child(store, body):
    """Run body(store) in a forked child that holds the store's lock; return (ready, release, proc)."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()

    def holder():
        with store.lock():
            ready.set()
            release.wait(10)
            body(store)

    proc = ctx.Process(target=holder)
    proc.start()
    assert ready.wait(10)
    return release, proc


def test_every_changing_operation_waits_for_the_lock(store, backend, ca, pki):
    """install, next_key, rollback, discard_pending and destroy take the lock themselves, and a
    status check takes it shared: none runs beside a writer."""
    cert, _gen = _install_new(store, backend, ca, pki)
    cert2, _gen2 = _install_new(store, backend, ca, pki)
    release, proc = _hold_lock_in_child(store, lambda _s: None)
    try:
        waiting = IdentityStore(store.path, backend, lock_timeout=0.3)
        attempts = {
            "status": lambda: waiting.status({"ca_chain": ca.chain}),
            "next_key": lambda: waiting.next_key("ecdsa-p256", True, "dev1", KeySettings()),
            "install": lambda: waiting.install(_pending_cert(waiting, backend, ca, pki), ca.chain, KeySettings()),
            "rollback": lambda: waiting.rollback(cert_sha256(cert2)),
            "discard_pending": waiting.discard_pending,
            "destroy": waiting.destroy,
        }
        for name, attempt in attempts.items():
            with pytest.raises(PKIError) as err:
                attempt()
            assert err.value.check == "locked", name
        assert store.link_target("current") == generation_name(cert_sha256(cert2))
    finally:
        release.set()
        proc.join(10)


def test_a_run_waiting_while_the_holder_removes_the_directory_is_told(tmp_path, backend):
    """discard_pending on a new host removes the lock file it holds: a run that was waiting for it
    must not go on under a lock nobody else can see."""
    st = IdentityStore(str(tmp_path / "identity"), backend)
    st.next_key("ecdsa-p256", True, "dev1", KeySettings())
    release, proc = _hold_lock_in_child(st, lambda _s: None)
    import threading
    outcome = {}

    def waiter():
        try:
            with IdentityStore(st.path, backend, lock_timeout=10).lock():
                outcome["held"] = True
        except PKIError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        import time as _time
        _time.sleep(0.3)  # the waiter has opened the lock file and waits for it
        os.unlink(os.path.join(st.path, ".lock"))  # what discard_pending does while it holds it
    finally:
        release.set()
        proc.join(10)
        thread.join(10)
    assert "held" not in outcome and outcome["error"].check == "locked"
    assert "removed" in outcome["error"].message


def test_check_mode_changes_nothing(store, backend, ca, pki):
    cert, _gen = _install_new(store, backend, ca, pki)
    cert2, _gen2 = _install_new(store, backend, ca, pki)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    cert3 = pki.sign(ca, backend.public_key(store.pending_key))
    before = pki.snapshot(store.path)
    assert store.rollback(cert_sha256(cert2), check_mode=True) is not None
    assert store.discard_pending(check_mode=True) is True
    assert store.destroy(check_mode=True) is True
    assert store.install(cert3, ca.chain, KeySettings(), check_mode=True)["changed"] is True
    assert pki.snapshot(store.path) == before
