# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Key backends: where a host's private key is born and how it signs its CSR.

A backend creates a key at a path, loads its public key and signs a CSR with it.
The private key never leaves the backend: nothing here returns key material.
The `file` backend keeps an unencrypted PKCS#8 PEM file protected by its mode and
owner; a `tpm` backend will keep a TSS2 key blob whose private part lives in the TPM
and implements the same three operations.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    KEY_TYPES,
    PKIError,
    describe_public_key,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import write_atomic

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
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
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private_key, algorithm)


class FileKeyBackend(object):
    """Private key in a PEM file on the host, readable only by its owner (and group)."""

    name = "file"

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


BACKENDS = {"file": FileKeyBackend}


def get_backend(name):
    try:
        return BACKENDS[name]()
    except KeyError:
        raise PKIError("key_backend", "key backend %r is not available" % name,
                       "use one of: %s" % ", ".join(sorted(BACKENDS)))
