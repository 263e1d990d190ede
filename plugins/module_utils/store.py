# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The identity directory on a host, and the one owner of its lifecycle.

    <dir>/.lock                 taken by every operation below that changes something
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

IdentityStore owns every step of an identity's life on the host: status, next_key, install,
rollback, discard_pending and destroy. Each takes the directory's lock itself, checks what it is
given (a chain that verifies, a key that matches, a key mode that no other user can read) and keeps
the status memo itself. Modules call one of them and report the result. The one shortcut outside
it is freshness.status_from_memo(), which needs no cryptography and changes nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    cert_sha256,
    cert_summary,
    cert_to_pem,
    describe_public_key,
    load_certificate,
    load_certificates,
    served_chain,
    spki_sha256,
    utcnow,
    verify_chain,
)
from ansible_collections.iotsec.tls.plugins.module_utils.freshness import (
    judge,
    load_memo,
    read_generation,
    write_memo,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import (
    KeySettings,
    check_key_mode,
    ensure_dir,
    fix_file,
    read_file,
    symlink_atomic,
    write_atomic,
)
from ansible_collections.iotsec.tls.plugins.module_utils.keys import FileKeyBackend, KeyBackend
from ansible_collections.iotsec.tls.plugins.module_utils.status import epoch, identity_facts, pair_facts
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError

try:
    from cryptography.hazmat.primitives import serialization
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass

FILES = ("key.pem", "cert.pem", "chain.pem", "fullchain.pem")
LOCK_NAME = ".lock"
LOCK_TIMEOUT = 120
# Modes set explicitly, whatever the umask (see docs/pki.md, "Modes the collection sets").
GENERATION_DIR_MODE = 0o755  # services read cert.pem, chain.pem and fullchain.pem through it
LOCK_MODE = 0o600  # only the modules take the lock, never a service


def generation_name(cert_sha256_hex: str) -> str:
    return "gen-" + cert_sha256_hex[:16]


def _zero(path: str, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())


def shred_file(path: str, all_links: bool = False) -> None:
    """Overwrite a file with zeros, then unlink it. A file with other links is only overwritten
    when all_links is true (decommissioning): otherwise the other link still needs it."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if os.path.isfile(path) and not os.path.islink(path) and (st.st_nlink == 1 or all_links):
        try:
            _zero(path, st.st_size)
        except (IOError, OSError):
            if all_links:
                raise
    os.unlink(path)


def remove_tree(path: str) -> None:
    """Remove a generation directory, overwriting private keys that have no other link."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            if name.endswith("key.pem"):
                shred_file(os.path.join(root, name))
    shutil.rmtree(path, ignore_errors=True)


class IdentityStore:
    """The identity directory at path, whose keys live in backend (the file backend by default)."""

    def __init__(self, path: str, backend: Optional[KeyBackend] = None,
                 lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.path = path
        self.backend: KeyBackend = backend if backend is not None else FileKeyBackend()
        self.lock_timeout = lock_timeout
        self.pending_dir = os.path.join(path, "pending")
        self.pending_key = os.path.join(self.pending_dir, "key.pem")

    # --- reading (no lock: every file is replaced by a rename) ----------------------------------
    def link_target(self, name: str) -> Optional[str]:
        try:
            return os.readlink(os.path.join(self.path, name))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINVAL):
                return None
            raise

    def file(self, generation: str, name: str) -> str:
        return os.path.join(self.path, generation, name)

    @property
    def current_key(self) -> str:
        return self.file("current", "key.pem")

    def read_current(self, generation: str = "current") -> Tuple[Any, Optional[List[Any]], List[str]]:
        """Return (certificate or None, chain list or None, problems list) of the pair in service
        (or of generation, a generation directory's name or path)."""
        problems: List[str] = []
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

    def current_summary(self) -> Optional[Dict[str, Any]]:
        """cert_summary() of the certificate in service, or None."""
        cert = self.read_current()[0]
        return cert_summary(cert) if cert is not None else None

    def find_key_for(self, cert: Any) -> str:
        """Return the key path (pending first, then current) whose public key is cert's."""
        want = spki_sha256(cert.public_key())
        for path in (self.pending_key, self.current_key):
            if self.backend.exists(path) and spki_sha256(self.backend.public_key(path)) == want:
                return path
        raise PKIError(
            "key_mismatch",
            "the certificate's public key matches neither the pending nor the current key in %s"
            % self.path,
            "issue the certificate from a CSR made on this host by iotsec.tls.identity_key")

    def is_current(self, cert: Any, chain: List[Any]) -> bool:
        current, current_chain, problems = self.read_current()
        if problems or current is None or current_chain is None:
            return False
        return (cert_sha256(current) == cert_sha256(cert)
                and [cert_sha256(c) for c in current_chain] == [cert_sha256(c) for c in chain])

    # --- the lock -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, timeout: Optional[float] = None, shared: bool = False) -> Iterator[None]:
        """Hold the identity directory's lock: overlapping runs on one host take turns.

        shared: a reader's lock, held by any number of readers but never beside a writer; it is
        taken only where the lock file exists (a reader creates nothing), else nothing is held.
        The lock file is LOCK_MODE whatever the umask (a lock file that an earlier version left
        wider is narrowed), and is never opened through a symlink. An operation that removes the
        directory removes the lock file while it holds it; a run that was waiting finds that its
        lock file is no longer the one in the directory and says so."""
        timeout = self.lock_timeout if timeout is None else timeout
        path = os.path.join(self.path, LOCK_NAME)
        flags = os.O_RDONLY | os.O_NOFOLLOW if shared else os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        try:
            fd = os.open(path, flags, LOCK_MODE)
        except OSError as exc:
            if shared and exc.errno == errno.ENOENT:
                yield
                return
            raise
        handle = os.fdopen(fd, "r" if shared else "a")
        try:
            st = os.fstat(fd)
            # Only its owner (or root) can change the mode of a lock file; another user's is left.
            if not shared and (st.st_mode & 0o7777) != LOCK_MODE and os.geteuid() in (0, st.st_uid):
                os.fchmod(fd, LOCK_MODE)
            deadline = time.time() + timeout
            while True:
                try:
                    fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                    break
                except (IOError, OSError) as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.time() > deadline:
                        raise PKIError(
                            "locked", "another run has held %s for %d seconds" % (path, timeout),
                            "wait for the other run to finish")
                    time.sleep(0.1)
            try:
                same = os.stat(path).st_ino == st.st_ino
            except OSError:
                same = False
            if not same:
                raise PKIError("locked", "another run removed %s while this one waited for it" % self.path,
                               "run again: the identity was discarded or destroyed meanwhile")
            yield
        finally:
            handle.close()

    # --- lifecycle ------------------------------------------------------------------------------
    def make_dirs(self, dir_mode: int, uid: int = -1, gid: int = -1) -> bool:
        """Create the identity directory and pending/ (modes and owners set); True if changed."""
        changed = ensure_dir(self.path, dir_mode, uid, gid)
        return ensure_dir(self.pending_dir, 0o700 if gid == -1 else 0o750, uid, gid) or changed

    def status(self, expected: Dict[str, Any], now: Any = None, check_mode: bool = False) -> Dict[str, Any]:
        """Whether the host needs a new certificate: freshness.judge() of what is in service.

        expected: as for freshness.judge(), except that ca_chain is a list of certificates (issuing
        CA first), or None to skip the chain and issuer checks. Outside check mode, a backend that
        keeps a memo gets the facts recorded for the next check, unless the files changed while
        they were read."""
        now = now or utcnow()
        want_chain = expected.get("ca_chain")
        expected = dict(expected, ca_chain_sha256=[cert_sha256(c) for c in want_chain] if want_chain else None)
        memo = self.backend.keeps_memo and not check_mode
        with self.lock(shared=True):
            # Read one generation (current may be replaced meanwhile), and record the facts only
            # if its files were the same before and after they were read.
            generation = os.path.realpath(self.file("current", "")) if memo else "current"
            before = read_generation(generation) if memo else None
            facts = identity_facts(self, self.backend, want_chain[:1] if want_chain else (), generation)
            if before is not None and facts["certificate"] is not None and read_generation(generation) == before:
                if load_memo(generation, before, self.backend.name) != facts:
                    write_memo(generation, facts, before, self.backend.name)
        return judge(facts, expected, epoch(now))

    def _choose_key(self, key_type: str, rekey: bool) -> Tuple[str, bool]:
        """(path, create): the key the next CSR should carry, and whether it must be made."""

        def type_ok(path):
            try:
                return self.backend.exists(path) and self.backend.key_type(path) == key_type
            except PKIError:
                return False  # unreadable or broken: replaced by a new pending key

        if not rekey and type_ok(self.current_key):
            return self.current_key, False
        if type_ok(self.pending_key):
            return self.pending_key, False
        return self.pending_key, True

    def next_key(self, key_type: str, rekey: bool, common_name: str, settings: KeySettings,
                 check_mode: bool = False) -> Dict[str, Any]:
        """Make sure a key for the next certificate exists and return its CSR.

        Returns a dict: changed, key_created, key_source (pending or current), key_type, and
        unless check mode would have to make a key: csr (PEM) and public_key_sha256. Raises
        PKIError, or OSError when a file cannot be written (nothing in service has changed then: a
        new key only ever goes to pending/)."""
        check_key_mode(settings.key_mode)
        path, create = self._choose_key(key_type, rekey)
        if check_mode:
            if create:
                return {"changed": True, "key_created": True, "key_source": "pending", "key_type": key_type}
            changed = False
        else:
            changed = self.make_dirs(settings.dir_mode, settings.uid, settings.gid)
            with self.lock():
                # An overlapping run may have made the pending key meanwhile: choose again.
                path, create = self._choose_key(key_type, rekey)
                if create:
                    self.backend.create(path, key_type, settings.key_mode, settings.uid, settings.gid)
                    changed = True
                else:
                    changed = fix_file(os.path.realpath(path), settings.key_mode, settings.uid,
                                       settings.gid) or changed
        csr = self.backend.csr(path, common_name)
        return {
            "changed": changed,
            "key_created": create and not check_mode,
            "key_source": "pending" if path == self.pending_key else "current",
            "key_type": describe_public_key(csr.public_key()),  # no second trip to the key (a TPM is slow)
            "csr": csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            "public_key_sha256": spki_sha256(csr.public_key()),
        }

    def install(self, cert: Any, chain: List[Any], settings: KeySettings,
                root_sha256: Optional[str] = None, check_mode: bool = False) -> Dict[str, Any]:
        """Put cert and chain in service beside the key whose public key is cert's.

        Verifies the chain (and the pinned root), the key and the key mode first; then writes a new
        generation with its memo and makes it current. Returns changed, generation,
        previous_generation (None on a first install) and before (the summary of the certificate
        in service before, for a diff)."""
        check_key_mode(settings.key_mode)
        verify_chain(cert, chain)
        if root_sha256 and cert_sha256(chain[-1]) != root_sha256.replace(":", "").lower():
            raise PKIError("chain", "the chain's root is not the fleet root CA (pinned %s)" % root_sha256,
                           "install certificates from the fleet CA only")
        self.find_key_for(cert)
        before = self.current_summary()
        result = {"changed": False, "generation": self.link_target("current"),
                  "previous_generation": self.link_target("previous"), "before": before}
        if self.is_current(cert, chain):
            return result
        result["changed"] = True
        if check_mode:
            return result
        with self.lock():
            if self.is_current(cert, chain):  # another run installed it meanwhile
                return dict(result, changed=False)
            key_path = self.find_key_for(cert)
            previous = self.link_target("current")
            generation = self._write_generation(cert, chain, key_path, settings)
        return dict(result, generation=generation, previous_generation=previous)

    def _write_generation(self, cert: Any, chain: List[Any], key_path: str, settings: KeySettings) -> str:
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
                write_atomic(os.path.join(tmp, name), data, mode=0o644, uid=settings.uid, gid=settings.gid)
            new_key = os.path.join(tmp, "key.pem")
            os.link(os.path.realpath(key_path), new_key)
            fix_file(new_key, settings.key_mode, settings.uid, settings.gid)
            if self.backend.keeps_memo:
                # The next status check reads the new pair's facts from here (this call has proved
                # that the key is the certificate's and that chain[0] signed it).
                files = read_generation(tmp)
                if files is not None:
                    write_memo(tmp, pair_facts(cert, chain), files, self.backend.name)
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
        self._prune()
        return generation

    def _prune(self) -> None:
        """Remove generations that are neither current nor previous."""
        keep = set(filter(None, (self.link_target("current"), self.link_target("previous"))))
        for name in os.listdir(self.path):
            if name.startswith("gen-") and name not in keep:
                remove_tree(os.path.join(self.path, name))

    def rollback(self, failed_sha256: Optional[str] = None, check_mode: bool = False) -> Optional[str]:
        """Make the previous generation current again; return its name, or None when there was
        nothing to do (failed_sha256 given and that certificate is not current)."""
        if failed_sha256 is not None:
            failed_sha256 = failed_sha256.replace(":", "").lower()
        if not os.path.isdir(self.path):
            if failed_sha256 is not None:
                return None
            raise PKIError("rollback", "no identity in %s" % self.path,
                           "nothing to roll back to; issue a new certificate instead")
        with self.lock(shared=check_mode):
            previous = self.link_target("previous")
            current = self.link_target("current")
            if failed_sha256 is not None and current != generation_name(failed_sha256):
                return None
            if not previous or not os.path.isdir(os.path.join(self.path, previous)):
                raise PKIError("rollback", "no previous key and certificate in %s" % self.path,
                               "nothing to roll back to; issue a new certificate instead")
            if not check_mode:
                symlink_atomic(previous, os.path.join(self.path, "current"))
                if current:
                    symlink_atomic(current, os.path.join(self.path, "previous"))
        return previous

    def discard_pending(self, check_mode: bool = False) -> bool:
        """Remove a pending key (never the key in service); on a host that has no identity in
        service yet, remove the directories if that leaves them empty.

        Return True when something was (or, in check mode, would be) removed. Used when the CA
        refused the pending key's CSR, so that a refused run leaves the host as it was."""
        if not os.path.isdir(self.path):
            return False
        if check_mode:
            return os.path.lexists(self.pending_key) or not self.link_target("current")
        with self.lock():
            changed = False
            if os.path.lexists(self.pending_key):
                shred_file(self.pending_key)
                changed = True
            if self.link_target("current"):
                return changed  # the directories were there before: keep them
            # Held while it is removed: a run waiting for it finds out (see lock()).
            os.unlink(os.path.join(self.path, LOCK_NAME))
            for path in (self.pending_dir, self.path):
                try:
                    os.rmdir(path)
                    changed = True
                except OSError as exc:
                    if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                        raise
                    break
        return changed

    def destroy(self, check_mode: bool = False) -> bool:
        """Decommission: overwrite every private key (other links included), then remove the
        identity directory. Return True when something was (or would be) removed."""
        if not os.path.lexists(self.path):
            return False
        if os.path.islink(self.path) or not os.path.isdir(self.path):
            raise PKIError("remove", "%s is not a directory (a symbolic link or a file): nothing was removed"
                           % self.path, "give the identity directory itself as path")
        if check_mode:
            return True
        with self.lock():
            for root, _dirs, files in os.walk(self.path):
                for name in files:
                    full = os.path.join(root, name)
                    if name.endswith("key.pem") and not os.path.islink(full):
                        shred_file(full, all_links=True)
            shutil.rmtree(self.path)
        return True
