# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The key a host's next CSR carries: chosen, made if needed, and the CSR signed by it.

Shared by iotsec.tls.identity_key (key and CSR only) and iotsec.tls.certificate_status with
prepare_key (status, then key and CSR in the same remote call when a certificate is needed).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    PKIError,
    describe_public_key,
    spki_sha256,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import fix_file

try:
    from cryptography.hazmat.primitives import serialization
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass


def _type_ok(backend, path, key_type):
    try:
        return backend.key_type(path) == key_type
    except PKIError:
        return False  # unreadable or broken: replaced by a new pending key


def choose_key(store, backend, key_type, rekey):
    """Return (path, create): the key the CSR should carry, and whether it must be made."""
    pending_ok = backend.exists(store.pending_key) and _type_ok(backend, store.pending_key, key_type)
    if not rekey and backend.exists(store.current_key) and \
            _type_ok(backend, store.current_key, key_type):
        return store.current_key, False
    if pending_ok:
        return store.pending_key, False
    return store.pending_key, True


def prepare_key(store, backend, key_type, rekey, common_name, settings, check_mode=False):
    """Make sure a key for the next certificate exists and return its CSR.

    settings: (uid, gid, key_mode, dir_mode) from key_settings(). Returns a dict: changed,
    key_created, key_source (pending or current), key_type, and unless check mode would have to
    make a key: csr (PEM) and public_key_sha256. Raises PKIError, or OSError when a file cannot
    be written (nothing in service has changed then: a new key only ever goes to pending/).
    """
    uid, gid, key_mode, dir_mode = settings
    path, create = choose_key(store, backend, key_type, rekey)
    if check_mode:
        if create:
            return {"changed": True, "key_created": True, "key_source": "pending", "key_type": key_type}
        changed = False
    else:
        changed = store.prepare(dir_mode, uid, gid)
        with store.lock():
            # An overlapping run may have made the pending key meanwhile: choose again.
            path, create = choose_key(store, backend, key_type, rekey)
            if create:
                backend.create(path, key_type, key_mode, uid, gid)
                changed = True
            else:
                changed = fix_file(os.path.realpath(path), key_mode, uid, gid) or changed
    csr = backend.csr(path, common_name)
    return {
        "changed": changed,
        "key_created": create and not check_mode,
        "key_source": "pending" if path == store.pending_key else "current",
        "key_type": describe_public_key(csr.public_key()),  # no second trip to the key (a TPM is slow)
        "csr": csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "public_key_sha256": spki_sha256(csr.public_key()),
    }
