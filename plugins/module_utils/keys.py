# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key backends: where a host's private key is born and how it signs its CSR.

A backend creates a key at a path, loads its public key and signs a CSR with it.
The private key never leaves the backend: nothing here returns key material.
The `file` backend keeps an unencrypted PKCS#8 PEM file protected by its mode and
owner; the `tpm` backend keeps a TSS2 key blob ("-----BEGIN TSS2 PRIVATE KEY-----") whose
private part is wrapped by the TPM: it can only be loaded, and used, inside the TPM that
made it. The TPM backend drives `openssl` with the tpm2-openssl provider (Debian's
tpm2-openssl), through the TCTI the `iotsec.tls.tpm` role configures.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any, Protocol

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import describe_public_key, signing_hash, spki_sha256
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import write_atomic
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import KEY_TYPES, TPM_KEY_TYPES, PKIError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass


def generate_private_key(key_type):
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type in ("rsa-3072", "rsa-4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
    raise PKIError("key_type", "unknown key type %r" % key_type,
                   "use one of %s" % ", ".join(KEY_TYPES))


def build_csr(private_key, common_name):
    """A CSR carrying the public key; the CA ignores everything else in it."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    return builder.sign(private_key, signing_hash(private_key))


class KeyBackend(Protocol):
    """What IdentityStore needs of a key backend. No method returns private key material."""

    name: str
    # Whether the status check may keep a memo of its facts (freshness.py): only where the bytes
    # of the key file tell everything the full check would find out about the key.
    keeps_memo: bool

    def exists(self, path: str) -> bool:
        """Whether a key is stored at path."""

    def create(self, path: str, key_type: str, mode: int, uid: int = -1, gid: int = -1) -> None:
        """Make a new key of key_type at path, with mode and owner from its first byte."""

    def public_key(self, path: str) -> Any:
        """The public key of the key at path (a cryptography public key); PKIError if unreadable."""

    def csr(self, path: str, common_name: str) -> Any:
        """A CSR for common_name signed by the key at path (a cryptography CSR)."""

    def key_type(self, path: str) -> str:
        """The key's type in the collection's vocabulary (ecdsa-p256, ...)."""


class FileKeyBackend:
    """Private key in a PEM file on the host, readable only by its owner (and group)."""

    name = "file"
    keeps_memo = True

    def __init__(self, **_options):
        pass

    def exists(self, path):
        return os.path.isfile(path)

    def create(self, path, key_type, mode, uid=-1, gid=-1):
        key = generate_private_key(key_type)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        write_atomic(path, pem, mode=mode, uid=uid, gid=gid)

    def _load(self, path):
        try:
            with open(path, "rb") as handle:
                return serialization.load_pem_private_key(handle.read(), password=None)
        except (IOError, OSError) as exc:
            raise PKIError("key_read", "cannot read private key %s: %s" % (path, exc.strerror),
                           "check that the file exists and that the module runs as its owner")
        except (ValueError, TypeError) as exc:
            raise PKIError("key_read", "private key %s is not a readable unencrypted PEM key (%s)"
                           % (path, exc), "remove the broken file so that a new key is generated")

    def public_key(self, path):
        return self._load(path).public_key()

    def csr(self, path, common_name):
        return build_csr(self._load(path), common_name)

    def key_type(self, path):
        return describe_public_key(self.public_key(path))


TSS2_HEADER = b"-----BEGIN TSS2 PRIVATE KEY-----"
# Prefer the TPM for what it implements (the key), but never its digests (slow, and they
# break signing with this provider version).
TPM_PROPQUERY = "?provider=tpm2,tpm2.digest!=yes"


def run_command(args, env=None):
    """Run args without a shell; return (rc, stdout bytes, stderr text)."""
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
    except (IOError, OSError) as exc:
        return 127, b"", "cannot run %s: %s" % (args[0], exc)
    out, err = proc.communicate()
    return proc.returncode, out, err.decode("utf-8", "replace")


# Written by the iotsec.tls.tpm role: the TCTI of the programs that use the TPM key.
TPM_ENV_FILE = "/etc/iotsec-tls/tpm.env"


def default_tcti(env_file=TPM_ENV_FILE):
    """TPM2OPENSSL_TCTI from the tpm role's environment file, or None (the TSS default search)."""
    try:
        with open(env_file) as handle:
            for line in handle:
                name, sep, value = line.strip().partition("=")
                if sep and name == "TPM2OPENSSL_TCTI" and value:
                    return value
    except (IOError, OSError):
        pass
    return None


def tpm_env(tcti=None, base=None):
    """The environment for openssl with the tpm2 provider: the TCTI of the tpm role, and no
    OPENSSL_CONF (the command line loads the providers; a service's config stays out of it)."""
    env = dict(os.environ if base is None else base)
    env.pop("OPENSSL_CONF", None)
    tcti = tcti or default_tcti()
    if tcti:
        env["TPM2OPENSSL_TCTI"] = tcti
    return env


def openssl_tpm_args(openssl, command):
    return [openssl, command, "-provider", "tpm2", "-provider", "default", "-propquery", TPM_PROPQUERY]


def subject_arg(common_name):
    """openssl -subj value for a CN, with OpenSSL's escapes for / and backslash."""
    return "/CN=" + common_name.replace("\\", "\\\\").replace("/", "\\/").replace("+", "\\+")


class TpmKeyBackend:
    """Private key inside a TPM 2.0; the host keeps only its TSS2 key blob.

    The blob holds the public key and the private key encrypted (wrapped) by a parent key that
    the TPM derives from its own seed: only the TPM that made it can load it. Keys are not made
    persistent in the TPM, so removing (overwriting) the blob destroys the key: there is nothing
    to evict.
    """

    name = "tpm"
    # The full check also proves that the TPM can still load the key, which no hash of the blob
    # can tell.
    keeps_memo = False

    def __init__(self, tcti=None, runner=None, openssl="openssl", **_options):
        self.tcti = tcti or None
        self.runner = runner or run_command
        self.openssl = openssl

    def _run(self, args, check, hint, input_path=None):
        rc, out, err = self.runner(args, env=tpm_env(self.tcti))
        if rc != 0:
            where = " (TCTI %s)" % self.tcti if self.tcti else ""
            detail = " ".join(line.strip() for line in (err or "").strip().splitlines()[-3:])
            raise PKIError(check, "%s failed with the TPM%s: %s" % (
                " ".join(args[:2]) + (" " + input_path if input_path else ""), where,
                detail or "exit code %d" % rc), hint)
        return out

    def exists(self, path):
        return os.path.isfile(path)

    def _check_blob(self, path):
        try:
            with open(path, "rb") as handle:
                head = handle.read(len(TSS2_HEADER) + 64)
        except (IOError, OSError) as exc:
            raise PKIError("key_read", "cannot read TPM key blob %s: %s" % (path, exc.strerror),
                           "check that the file exists and that the module runs as its owner")
        if not head.lstrip().startswith(TSS2_HEADER):
            raise PKIError("key_read", "%s is not a TSS2 key blob (-----BEGIN TSS2 PRIVATE KEY-----)"
                           % path, "remove the file so that a new key is made in the TPM")

    def create(self, path, key_type, mode, uid=-1, gid=-1):
        if key_type not in TPM_KEY_TYPES:
            raise PKIError("key_type", "the TPM backend makes %s keys, not %s"
                           % (", ".join(TPM_KEY_TYPES), key_type),
                           "set the key type to ecdsa-p256 for hosts with key backend tpm")
        args = openssl_tpm_args(self.openssl, "genpkey") + [
            "-algorithm", "EC", "-pkeyopt", "group:P-256"]
        blob = self._run(args, "tpm_create", "check that the TPM answers (tpm2_getcap properties-fixed) "
                         "and that the iotsec.tls.tpm role has prepared this host")
        if not blob.lstrip().startswith(TSS2_HEADER):
            raise PKIError("tpm_create", "openssl genpkey with the tpm2 provider returned no TSS2 key blob",
                           "check that the tpm2-openssl provider is installed (openssl list -providers -provider tpm2)")
        write_atomic(path, blob, mode=mode, uid=uid, gid=gid)

    def public_key(self, path):
        self._check_blob(path)
        args = openssl_tpm_args(self.openssl, "pkey") + ["-in", path, "-pubout"]
        pem = self._run(args, "key_read", "the TPM cannot load this key blob: it was made by another "
                        "TPM or the TPM was cleared; remove the blob so that a new key is made",
                        input_path=path)
        try:
            return serialization.load_pem_public_key(pem)
        except (ValueError, TypeError) as exc:
            raise PKIError("key_read", "no public key from TPM key blob %s (%s)" % (path, exc),
                           "remove the blob so that a new key is made in the TPM")

    def csr(self, path, common_name):
        """A CSR signed inside the TPM, checked here: signature valid, public key the blob's."""
        public_key = self.public_key(path)
        args = openssl_tpm_args(self.openssl, "req") + [
            "-new", "-key", path, "-subj", subject_arg(common_name), "-sha256"]
        pem = self._run(args, "tpm_sign", "check that the TPM answers and holds the parent of this key",
                        input_path=path)
        try:
            csr = x509.load_pem_x509_csr(pem)
        except (ValueError, TypeError) as exc:
            raise PKIError("tpm_sign", "openssl req with the TPM returned no readable CSR (%s)" % exc,
                           "check the tpm2-openssl provider")
        if not csr.is_signature_valid or spki_sha256(csr.public_key()) != spki_sha256(public_key):
            raise PKIError("tpm_sign", "the CSR signed by the TPM does not verify with the key of %s" % path,
                           "remove the blob so that a new key is made in the TPM")
        return csr

    def key_type(self, path):
        return describe_public_key(self.public_key(path))


BACKENDS = {"file": FileKeyBackend, "tpm": TpmKeyBackend}


def get_backend(name: str, **options: Any) -> KeyBackend:
    """The backend called name; options (tcti, runner) go to backends that use them."""
    try:
        return BACKENDS[name](**options)
    except KeyError:
        raise PKIError("key_backend", "key backend %r is not available" % name,
                       "use one of: %s" % ", ".join(sorted(BACKENDS)))
