# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The TPM key backend, with openssl and the TPM faked (the real thing runs in Molecule `tpm`).

The fake TPM keeps private keys in memory and hands out opaque TSS2 blobs; a blob made by
another fake TPM cannot be loaded, as with a real TPM.
"""

import base64
import os

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import keys as keys_mod
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import PKIError, spki_sha256
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import tpm_profile_problem


class FakeTpm:
    def __init__(self):
        self.keys = {}
        self.calls = []

    def _blob(self, token):
        body = base64.encodebytes(token).decode("ascii")
        return ("-----BEGIN TSS2 PRIVATE KEY-----\n%s-----END TSS2 PRIVATE KEY-----\n" % body).encode()

    def _load(self, path):
        with open(path, "rb") as handle:
            text = handle.read().decode("ascii")
        token = base64.b64decode("".join(text.strip().splitlines()[1:-1]))
        return self.keys.get(token)

    def __call__(self, args, env=None):
        self.calls.append((list(args), dict(env or {})))
        assert args[2:8] == ["-provider", "tpm2", "-provider", "default", "-propquery",
                             keys_mod.TPM_PROPQUERY]
        command = args[1]
        if command == "genpkey":
            assert args[8:] == ["-algorithm", "EC", "-pkeyopt", "group:P-256"]
            token = os.urandom(16)
            self.keys[token] = ec.generate_private_key(ec.SECP256R1())
            return 0, self._blob(token), "Warning: generating random key material may take a long time\n"
        key = self._load(args[args.index("-key" if command == "req" else "-in") + 1])
        if key is None:
            return 1, b"", ("ERROR:esys:src/tss2-esys/api/Esys_Load.c:112:Esys_Load() Esys Finish "
                            "ErrorCode (0x000001df)\nCould not read key from blob\n")
        if command == "pkey":
            return 0, key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), ""
        if command == "req":
            subject = args[args.index("-subj") + 1]
            assert subject.startswith("/CN=")
            cn = subject[4:].replace("\\/", "/")
            csr = x509.CertificateSigningRequestBuilder().subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256())
            return 0, csr.public_bytes(serialization.Encoding.PEM), ""
        raise AssertionError("unexpected command %r" % args)


@pytest.fixture
def tpm():
    return FakeTpm()


def test_registered_and_gets_the_tcti(tpm):
    backend = keys_mod.get_backend("tpm", tcti="tabrmd:bus_type=system", runner=tpm)
    assert isinstance(backend, keys_mod.TpmKeyBackend)
    assert backend.tcti == "tabrmd:bus_type=system"
    assert isinstance(keys_mod.get_backend("file", tcti="ignored"), keys_mod.FileKeyBackend)


def test_create_writes_only_the_blob_with_its_mode(tmp_path, tpm, pki):
    backend = keys_mod.TpmKeyBackend(tcti="tabrmd:bus_type=system", runner=tpm)
    path = str(tmp_path / "key.pem")
    backend.create(path, "ecdsa-p256", 0o600)
    assert pki.mode(path) == 0o600
    data = open(path, "rb").read()
    assert data.startswith(b"-----BEGIN TSS2 PRIVATE KEY-----")
    assert b"BEGIN PRIVATE KEY" not in data and b"BEGIN EC PRIVATE KEY" not in data
    assert os.listdir(str(tmp_path)) == ["key.pem"]
    args, env = tpm.calls[0]
    assert args[:2] == ["openssl", "genpkey"]
    assert env["TPM2OPENSSL_TCTI"] == "tabrmd:bus_type=system"
    assert "OPENSSL_CONF" not in env
    assert backend.key_type(path) == "ecdsa-p256"


def test_only_p256(tmp_path, tpm):
    backend = keys_mod.TpmKeyBackend(runner=tpm)
    with pytest.raises(PKIError) as err:
        backend.create(str(tmp_path / "key.pem"), "ecdsa-p384", 0o600)
    assert err.value.check == "key_type" and "ecdsa-p256" in err.value.hint
    assert not tpm.calls and not os.listdir(str(tmp_path))


def test_csr_is_signed_by_the_tpm_key_and_checked(tmp_path, tpm):
    backend = keys_mod.TpmKeyBackend(runner=tpm)
    path = str(tmp_path / "key.pem")
    backend.create(path, "ecdsa-p256", 0o600)
    csr = backend.csr(path, "sensor/0001")
    assert csr.is_signature_valid
    assert spki_sha256(csr.public_key()) == spki_sha256(backend.public_key(path))
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "sensor/0001"
    req = [args for args, _env in tpm.calls if args[1] == "req"][0]
    assert req[req.index("-key") + 1] == path and "-sha256" in req


def test_csr_from_a_different_key_is_refused(tmp_path, tpm):
    backend = keys_mod.TpmKeyBackend(runner=tpm)
    path = str(tmp_path / "key.pem")
    backend.create(path, "ecdsa-p256", 0o600)
    other = ec.generate_private_key(ec.SECP256R1())
    real = tpm.__call__

    def lying(args, env=None):
        if args[1] == "req":
            csr = x509.CertificateSigningRequestBuilder().subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])).sign(other, hashes.SHA256())
            return 0, csr.public_bytes(serialization.Encoding.PEM), ""
        return real(args, env)
    backend.runner = lying
    with pytest.raises(PKIError) as err:
        backend.csr(path, "x")
    assert err.value.check == "tpm_sign"


def test_blob_of_another_tpm_is_unreadable(tmp_path, tpm):
    path = str(tmp_path / "key.pem")
    keys_mod.TpmKeyBackend(runner=tpm).create(path, "ecdsa-p256", 0o600)
    other = keys_mod.TpmKeyBackend(tcti="swtpm:port=2331", runner=FakeTpm())
    with pytest.raises(PKIError) as err:
        other.public_key(path)
    assert err.value.check == "key_read"
    assert "0x000001df" in err.value.message and "swtpm:port=2331" in err.value.message
    assert "another TPM" in err.value.hint


def test_a_pem_private_key_is_not_a_tpm_key(tmp_path, tpm):
    path = str(tmp_path / "key.pem")
    keys_mod.FileKeyBackend().create(path, "ecdsa-p256", 0o600)
    with pytest.raises(PKIError) as err:
        keys_mod.TpmKeyBackend(runner=tpm).public_key(path)
    assert err.value.check == "key_read" and "TSS2" in err.value.message
    assert not tpm.calls  # never handed to openssl


def test_tpm_failure_on_create_writes_nothing(tmp_path):
    def broken(args, env=None):
        return 1, b"", "ERROR:tcti:src/tss2-tcti/tcti-swtpm.c: Failed to connect\n"
    backend = keys_mod.TpmKeyBackend(tcti="swtpm:port=2321", runner=broken)
    with pytest.raises(PKIError) as err:
        backend.create(str(tmp_path / "key.pem"), "ecdsa-p256", 0o600)
    assert err.value.check == "tpm_create" and "Failed to connect" in err.value.message
    assert "tpm2_getcap" in err.value.hint
    assert not os.listdir(str(tmp_path))


def test_missing_openssl_is_reported(tmp_path):
    backend = keys_mod.TpmKeyBackend(openssl=str(tmp_path / "no-openssl"))
    with pytest.raises(PKIError) as err:
        backend.create(str(tmp_path / "key.pem"), "ecdsa-p256", 0o600)
    assert err.value.check == "tpm_create" and "cannot run" in err.value.message


def test_store_paths_work_with_tpm_blobs(tmp_path, tpm, pki):
    """find_key_for (install), discard and remove (overwrite) treat the blob like a key file."""
    backend = keys_mod.TpmKeyBackend(runner=tpm)
    store = IdentityStore(str(tmp_path / "identity"))
    store.make_dirs(0o755)
    backend.create(store.pending_key, "ecdsa-p256", 0o600)
    csr = backend.csr(store.pending_key, "dev1")
    other = keys_mod.TpmKeyBackend(runner=tpm)
    other_path = str(tmp_path / "other.pem")
    other.create(other_path, "ecdsa-p256", 0o600)
    assert spki_sha256(csr.public_key()) != spki_sha256(other.public_key(other_path))
    assert store.discard_pending() is True
    assert not os.path.exists(str(tmp_path / "identity"))


def test_subject_escapes():
    assert keys_mod.subject_arg("a/b+c\\d") == "/CN=a\\/b\\+c\\\\d"


def test_tpm_env_drops_openssl_conf(monkeypatch):
    monkeypatch.setattr(keys_mod, "default_tcti", lambda: None)
    env = keys_mod.tpm_env("device:/dev/tpmrm0", base={"OPENSSL_CONF": "/x", "PATH": "/bin"})
    assert env == {"PATH": "/bin", "TPM2OPENSSL_TCTI": "device:/dev/tpmrm0"}
    assert keys_mod.tpm_env(None, base={"PATH": "/bin"}) == {"PATH": "/bin"}


def test_tpm_profile_constraints():
    assert tpm_profile_problem("ecdsa-p256", 90 * 86400) is None
    assert tpm_profile_problem(None, None) is None
    assert "ecdsa-p384" in tpm_profile_problem("ecdsa-p384", 3600)
    assert "91 days" in tpm_profile_problem("ecdsa-p256", 91 * 86400)


def test_default_tcti_from_the_tpm_roles_env_file(tmp_path, monkeypatch):
    env_file = tmp_path / "tpm.env"
    assert keys_mod.default_tcti(str(env_file)) is None
    env_file.write_text("# comment\nOPENSSL_CONF=/etc/x.cnf\nTPM2OPENSSL_TCTI=tabrmd:bus_type=system\n")
    assert keys_mod.default_tcti(str(env_file)) == "tabrmd:bus_type=system"
    monkeypatch.setattr(keys_mod, "default_tcti", lambda: "device:/dev/tpmrm0")
    assert keys_mod.tpm_env(None, base={})["TPM2OPENSSL_TCTI"] == "device:/dev/tpmrm0"
    assert keys_mod.tpm_env("swtpm:port=1", base={})["TPM2OPENSSL_TCTI"] == "swtpm:port=1"
