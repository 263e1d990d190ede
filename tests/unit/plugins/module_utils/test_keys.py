# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key backends: keys born on the host, with their final mode from the first byte."""

import os

import pytest

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import fsutil
from ansible_collections.iotsec.tls.plugins.module_utils import keys as keys_mod
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    PKIError,
    describe_public_key,
    spki_sha256,
)
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import KEY_TYPES


def _load(path):
    with open(path, "rb") as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)


@pytest.mark.parametrize("key_type,cls,detail", [
    ("ecdsa-p256", ec.EllipticCurvePrivateKey, "secp256r1"),
    ("ecdsa-p384", ec.EllipticCurvePrivateKey, "secp384r1"),
    ("ed25519", ed25519.Ed25519PrivateKey, None),
])
def test_file_backend_creates_each_key_type(tmp_path, pki, key_type, cls, detail):
    backend = keys_mod.FileKeyBackend()
    path = str(tmp_path / "key.pem")
    assert not backend.exists(path)
    backend.create(path, key_type, 0o600)
    assert backend.exists(path)
    assert pki.mode(path) == 0o600
    key = _load(path)
    assert isinstance(key, cls)
    if detail:
        assert key.curve.name == detail
    assert backend.key_type(path) == key_type
    assert spki_sha256(backend.public_key(path)) == spki_sha256(key.public_key())
    assert os.listdir(str(tmp_path)) == ["key.pem"]  # no temporary file left


def test_file_backend_rsa_3072(rsa3072_key_file, rsa3072_key, pki):
    """The session RSA key was made by FileKeyBackend.create (see conftest)."""
    assert pki.mode(rsa3072_key_file) == 0o600
    assert isinstance(rsa3072_key, rsa.RSAPrivateKey)
    assert rsa3072_key.key_size == 3072
    assert rsa3072_key.private_numbers().public_numbers.e == 65537
    assert keys_mod.FileKeyBackend().key_type(rsa3072_key_file) == "rsa-3072"
    with open(rsa3072_key_file, "rb") as handle:
        assert handle.read().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_file_backend_mode_with_group(tmp_path, pki):
    backend = keys_mod.FileKeyBackend()
    path = str(tmp_path / "key.pem")
    gid = os.getgid()
    backend.create(path, "ecdsa-p256", 0o640, -1, gid)
    assert pki.mode(path) == 0o640
    assert os.stat(path).st_gid == gid


def test_key_file_never_world_readable_while_written(tmp_path, monkeypatch):
    """The file has its final mode before any byte of the key is written."""
    seen = []
    real_write = os.write

    def spy(fd, data):
        seen.append(os.fstat(fd).st_mode & 0o777)
        return real_write(fd, data)
    monkeypatch.setattr(fsutil.os, "write", spy)
    old = os.umask(0)
    try:
        keys_mod.FileKeyBackend().create(str(tmp_path / "key.pem"), "ecdsa-p256", 0o600)
    finally:
        os.umask(old)
    assert seen and all(mode == 0o600 for mode in seen)


def test_key_replaced_atomically(tmp_path):
    backend = keys_mod.FileKeyBackend()
    path = str(tmp_path / "key.pem")
    backend.create(path, "ecdsa-p256", 0o600)
    first = spki_sha256(backend.public_key(path))
    inode = os.stat(path).st_ino
    backend.create(path, "ecdsa-p256", 0o600)
    assert spki_sha256(backend.public_key(path)) != first
    assert os.stat(path).st_ino != inode  # a new file renamed over the old one


def test_csr_carries_the_key(tmp_path):
    backend = keys_mod.FileKeyBackend()
    path = str(tmp_path / "key.pem")
    backend.create(path, "ed25519", 0o600)
    csr = backend.csr(path, "device-42")
    assert csr.is_signature_valid
    assert spki_sha256(csr.public_key()) == spki_sha256(backend.public_key(path))
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "device-42"
    assert len(csr.extensions) == 0


def test_build_csr_for_each_algorithm(rsa3072_key, pki):
    for key in (pki.new_key("ecdsa-p256"), pki.new_key("ecdsa-p384"),
                pki.new_key("ed25519"), rsa3072_key):
        csr = keys_mod.build_csr(key, "x")
        assert csr.is_signature_valid
        assert spki_sha256(csr.public_key()) == spki_sha256(key.public_key())


def test_unreadable_keys(tmp_path):
    backend = keys_mod.FileKeyBackend()
    with pytest.raises(PKIError) as err:
        backend.public_key(str(tmp_path / "missing.pem"))
    assert err.value.check == "key_read"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(PKIError) as err:
        backend.key_type(str(garbage))
    assert err.value.check == "key_read"
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret passphrase")))
    with pytest.raises(PKIError) as err:
        backend.csr(str(encrypted), "x")
    assert err.value.check == "key_read"


def test_unknown_key_type():
    with pytest.raises(PKIError) as err:
        keys_mod.generate_private_key("rsa-1024")
    assert err.value.check == "key_type"


def test_describe_key_types(rsa3072_key, rsa2048_key, pki):
    assert describe_public_key(pki.new_key("ecdsa-p256").public_key()) == "ecdsa-p256"
    assert describe_public_key(pki.new_key("ecdsa-p384").public_key()) == "ecdsa-p384"
    assert describe_public_key(pki.new_key("ed25519").public_key()) == "ed25519"
    assert describe_public_key(rsa3072_key.public_key()) == "rsa-3072"
    assert describe_public_key(rsa2048_key.public_key()) == "rsa-2048"
    assert describe_public_key(ec.generate_private_key(ec.SECP521R1()).public_key()) == \
        "ecdsa-secp521r1"
    assert set(KEY_TYPES) == {"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072", "rsa-4096"}


def test_backends():
    assert isinstance(keys_mod.get_backend("file"), keys_mod.FileKeyBackend)
    with pytest.raises(PKIError) as err:
        keys_mod.get_backend("hsm")
    assert err.value.check == "key_backend"
    assert "file, tpm" in err.value.hint


def test_no_key_material_in_backend_api(tmp_path):
    """The backend returns public keys and CSRs, never the private key."""
    backend = keys_mod.FileKeyBackend()
    path = str(tmp_path / "key.pem")
    assert backend.create(path, "ecdsa-p256", 0o600) is None
    for value in (backend.public_key(path), backend.csr(path, "x"), backend.key_type(path)):
        assert not isinstance(value, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey,
                                      rsa.RSAPrivateKey))
