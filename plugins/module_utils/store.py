# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The identity directory on a host, laid out so that key and certificate change together.

    <dir>/pending/key.pem       a new key waiting for its certificate (never used by services)
    <dir>/gen-<id>/key.pem      one generation: key, certificate, chain, fullchain
    <dir>/gen-<id>/cert.pem
    <dir>/gen-<id>/chain.pem    issuing CA then root
    <dir>/gen-<id>/fullchain.pem  certificate then issuing CA: what a TLS peer is sent (no root)
    <dir>/gen-<id>/status.json  the status check's memo of the generation (freshness.py)
    <dir>/current -> gen-<id>   the pair services use
    <dir>/previous -> gen-<id>  the pair before it, kept for rollback
    <dir>/key.pem -> current/key.pem (and cert.pem, chain.pem, fullchain.pem)

A new pair is written into a fresh generation directory and made live by replacing
the `current` symlink with one rename, so a reader sees either the old pair or the
new pair, never a key from one and a certificate from the other.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import os
import shutil
import time

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    PKIError,
    cert_sha256,
    cert_to_pem,
    load_certificate,
    load_certificates,
    served_chain,
    spki_sha256,
)
from ansible_collections.iotsec.tls.plugins.module_utils.freshness import (
    MEMO_NAME,
    memo_inputs,
    memo_text,
    read_generation,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import (
    ensure_dir,
    fix_file,
    read_file,
    symlink_atomic,
    write_atomic,
)

FILES = ("key.pem", "cert.pem", "chain.pem", "fullchain.pem")
LOCK_TIMEOUT = 120
# Modes set explicitly, whatever the umask (see docs/pki.md, "Modes the collection sets").
GENERATION_DIR_MODE = 0o755  # services read cert.pem, chain.pem and fullchain.pem through it
LOCK_MODE = 0o600  # only the modules take the lock, never a service


def generation_name(cert_sha256_hex):
    return "gen-" + cert_sha256_hex[:16]


def shred_file(path):
    """Overwrite a file that has no other link with zeros, then unlink it."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if os.path.isfile(path) and not os.path.islink(path) and st.st_nlink == 1:
        try:
            with open(path, "r+b") as handle:
                handle.write(b"\0" * st.st_size)
                handle.flush()
                os.fsync(handle.fileno())
        except (IOError, OSError):
            pass
    os.unlink(path)


def remove_tree(path):
    """Remove a generation directory, overwriting private keys that have no other link."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name.endswith("key.pem"):
                shred_file(os.path.join(root, name))
    shutil.rmtree(path, ignore_errors=True)


class IdentityStore(object):
    def __init__(self, path):
        self.path = path
        self.pending_dir = os.path.join(path, "pending")
        self.pending_key = os.path.join(self.pending_dir, "key.pem")

    # --- reading -------------------------------------------------------------
    def link_target(self, name):
        try:
            return os.readlink(os.path.join(self.path, name))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINVAL):
                return None
            raise

    def file(self, generation, name):
        return os.path.join(self.path, generation, name)

    @property
    def current_key(self):
        return self.file("current", "key.pem")

    def read_current(self, generation="current"):
        """Return (certificate or None, chain list or None, problems list) of the pair in service
        (or of generation, a generation directory's name or path)."""
        problems = []
        cert = chain = None
        data = None
        try:
            data = read_file(self.file(generation, "cert.pem"))
        except (IOError, OSError) as exc:
            problems.append("certificate unreadable: %s" % exc)
        if data is None and not problems:
            problems.append("certificate missing")
        elif data is not None:
            try:
                cert = load_certificate(data, "installed certificate")
            except PKIError as exc:
                problems.append("certificate unreadable: %s" % exc.message)
        try:
            chain_data = read_file(self.file(generation, "chain.pem"))
            if chain_data is None:
                problems.append("chain missing")
            else:
                chain = load_certificates(chain_data, "installed chain")
        except (IOError, OSError) as exc:
            problems.append("chain unreadable: %s" % exc)
        except PKIError as exc:
            problems.append("chain unreadable: %s" % exc.message)
        return cert, chain, problems

    # --- writing -------------------------------------------------------------
    def prepare(self, dir_mode, uid=-1, gid=-1):
        changed = ensure_dir(self.path, dir_mode, uid, gid)
        return ensure_dir(self.pending_dir, 0o700 if gid == -1 else 0o750, uid, gid) or changed

    def discard_pending(self):
        """Remove a pending key (never the key in service); on a host that has no identity in
        service yet, remove the directories if that leaves them empty.

        Return True when something was removed. Used when the CA refused the pending key's
        CSR, so that a refused run leaves the host as it was.
        """
        changed = False
        if os.path.lexists(self.pending_key):
            shred_file(self.pending_key)
            changed = True
        if self.link_target("current"):
            return changed  # the directories were there before: keep them
        if os.path.exists(os.path.join(self.path, ".lock")):
            os.unlink(os.path.join(self.path, ".lock"))
        for path in (self.pending_dir, self.path):
            try:
                os.rmdir(path)
                changed = True
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                    raise
                break
        return changed

    def find_key_for(self, cert, backend):
        """Return the key path (pending first, then current) whose public key is cert's."""
        want = spki_sha256(cert.public_key())
        for path in (self.pending_key, self.current_key):
            if backend.exists(path) and spki_sha256(backend.public_key(path)) == want:
                return path
        raise PKIError(
            "key_mismatch",
            "the certificate's public key matches neither the pending nor the current key in %s"
            % self.path,
            "issue the certificate from a CSR made on this host by iotsec.tls.identity_key")

    def is_current(self, cert, chain):
        current, current_chain, problems = self.read_current()
        if problems or current is None:
            return False
        return (cert_sha256(current) == cert_sha256(cert)
                and [cert_sha256(c) for c in current_chain] == [cert_sha256(c) for c in chain])

    def install(self, cert, chain, key_path, key_mode, uid=-1, gid=-1, memo=None):
        """Write a new generation with cert, chain and the key at key_path, then make it current.

        memo: (facts, backend name) to record as the generation's status memo (freshness.py)."""
        generation = generation_name(cert_sha256(cert))
        final = os.path.join(self.path, generation)
        tmp = os.path.join(self.path, "." + generation + ".tmp")
        if os.path.exists(tmp):
            remove_tree(tmp)
        os.mkdir(tmp, GENERATION_DIR_MODE)
        os.chmod(tmp, GENERATION_DIR_MODE)  # mkdir's mode is narrowed by the umask
        try:
            cert_pem = cert_to_pem(cert)
            chain_pem = "".join(cert_to_pem(c) for c in chain)
            served_pem = "".join(cert_to_pem(c) for c in served_chain(chain))
            for name, data in (("cert.pem", cert_pem), ("chain.pem", chain_pem),
                               ("fullchain.pem", cert_pem + served_pem)):
                write_atomic(os.path.join(tmp, name), data, mode=0o644, uid=uid, gid=gid)
            new_key = os.path.join(tmp, "key.pem")
            os.link(os.path.realpath(key_path), new_key)
            fix_file(new_key, key_mode, uid, gid)
            if memo is not None:
                files = read_generation(tmp)
                if files is not None:
                    write_atomic(os.path.join(tmp, MEMO_NAME), memo_text(memo[0], memo_inputs(files, memo[1])),
                                 mode=0o600)
            if os.path.exists(final):
                if os.path.realpath(os.path.join(self.path, "current")) == os.path.realpath(final):
                    raise PKIError("install", "generation %s is already current" % generation)
                remove_tree(final)
            os.rename(tmp, final)
        except BaseException:
            remove_tree(tmp)
            raise
        old = self.link_target("current")
        symlink_atomic(generation, os.path.join(self.path, "current"))
        if old and old != generation:
            symlink_atomic(old, os.path.join(self.path, "previous"))
        for name in FILES:
            link = os.path.join(self.path, name)
            if self.link_target(name) != os.path.join("current", name):
                symlink_atomic(os.path.join("current", name), link)
        if key_path == self.pending_key:
            os.unlink(self.pending_key)
        self.prune()
        return generation

    def prune(self):
        """Remove generations that are neither current nor previous."""
        keep = set(filter(None, (self.link_target("current"), self.link_target("previous"))))
        for name in os.listdir(self.path):
            if name.startswith("gen-") and name not in keep:
                remove_tree(os.path.join(self.path, name))

    def remove(self):
        """Decommission: overwrite every private key, then remove the identity directory.

        Return True when something was removed."""
        if not os.path.lexists(self.path):
            return False
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                full = os.path.join(root, name)
                if name.endswith("key.pem") and not os.path.islink(full):
                    # shred_file leaves files with other links alone: overwrite those here.
                    if os.stat(full).st_nlink > 1:
                        size = os.path.getsize(full)
                        with open(full, "r+b") as handle:
                            handle.write(b"\0" * size)
                            handle.flush()
                            os.fsync(handle.fileno())
                    shred_file(full)
        shutil.rmtree(self.path)
        return True

    @contextlib.contextmanager
    def lock(self, timeout=LOCK_TIMEOUT):
        """Hold the identity directory's lock: overlapping runs on one host take turns.

        The lock file is LOCK_MODE whatever the umask (a lock file that an earlier version left
        wider is narrowed), and is never opened through a symlink."""
        fd = os.open(os.path.join(self.path, ".lock"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW,
                     LOCK_MODE)
        handle = os.fdopen(fd, "a")
        try:
            st = os.fstat(fd)
            # Only its owner (or root) can change the mode of a lock file; another user's is left.
            if (st.st_mode & 0o7777) != LOCK_MODE and os.geteuid() in (0, st.st_uid):
                os.fchmod(fd, LOCK_MODE)
            deadline = time.time() + timeout
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except (IOError, OSError) as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.time() > deadline:
                        if time.time() > deadline:
                            raise PKIError(
                                "locked", "another run has held %s/.lock for %d seconds"
                                % (self.path, timeout), "wait for the other run to finish")
                        raise
                    time.sleep(0.1)
            yield
        finally:
            handle.close()

    def rollback(self, failed_sha256=None):
        """Make the previous generation current again; return its name, or None when there was
        nothing to do (failed_sha256 given and that certificate is not current)."""
        previous = self.link_target("previous")
        current = self.link_target("current")
        if failed_sha256 is not None and current != generation_name(failed_sha256):
            return None
        if not previous or not os.path.isdir(os.path.join(self.path, previous)):
            raise PKIError("rollback", "no previous key and certificate in %s" % self.path,
                           "nothing to roll back to; issue a new certificate instead")
        symlink_atomic(previous, os.path.join(self.path, "current"))
        if current:
            symlink_atomic(current, os.path.join(self.path, "previous"))
        return previous
