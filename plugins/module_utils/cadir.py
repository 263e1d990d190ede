# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The CA directory on the CA host: the one owner of its layout, and the one way into its ledger.

    <ca_dir>/            0700
      root.pem           root CA certificate
      root.key           root CA key, PKCS#8 encrypted with the CA passphrase, 0600
                         (absent when an issuing CA was imported without its root key)
      issuing.pem        issuing CA certificate (pathLenConstraint 0)
      issuing.key        issuing CA key, encrypted, 0600
      chain.pem          issuing CA then root: what hosts install beside their certificate
      policy.json        the issuance policy (lifetimes, key types, organization), 0600
      ledger.sqlite3     every certificate issued (ledger.py), 0600, with its -wal and -shm files
      crl.pem            the issuing CA's CRL (revocation.py)

Every CA module (fleet_ca, fleet_ca_info, fleet_crl, certificate_issue, certificate_revoke)
takes the same two options, ca_argument_spec() (documented by the doc fragment iotsec.tls.ca,
and settable once for all of them with module_defaults: group/iotsec.tls.ca), makes a
CADirectory of ca_dir and asks it for the CA, the ledger, the CRL path and the policy.

The ledger is reached only through CADirectory.open_ledger(), which returns a LedgerBackend:
today SQLite (ledger.Ledger) or, in check mode before anything was recorded, ledger.NoLedger.
A second backend (PostgreSQL) implements LedgerBackend and is chosen there.
"""

from __future__ import annotations

import os
import typing as t

from ansible_collections.iotsec.tls.plugins.module_utils.ca import (
    CA_FILES,
    POLICY_FILE,
    IssuingCA,
    ca_state,
    create_ca,
    import_ca,
    read_policy,
    same_as_imported,
    write_policy,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import fix_file
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import Ledger, NoLedger

LEDGER_FILE = "ledger.sqlite3"
CRL_FILE = "crl.pem"
DIR_MODE = 0o700
PRIVATE_MODE = 0o600


def ca_argument_spec(passphrase_required: bool = True) -> dict[str, dict[str, t.Any]]:
    """The options every CA module takes (doc fragment iotsec.tls.ca; iotsec.tls.ca.info where
    the passphrase is optional). A new dict each call: modules add their own options to it."""
    return {
        "ca_dir": {"type": "path", "required": True},
        "passphrase": {"type": "str", "required": passphrase_required, "no_log": True},
    }


class LedgerBackend(t.Protocol):
    """What the CA side asks of a ledger; every backend implements all of it.

    Times are TIME_FORMAT text (crypto.py), serials upper-case hex, SANs lists of strings.
    Writes happen inside transaction(), which holds the backend's write lock for the block (two
    runs cannot record one key for two hosts) and commits at its end, or rolls back on an error
    or with dry_run (check mode). A backend is a context manager that closes on exit.
    """

    def __enter__(self) -> LedgerBackend: ...

    def __exit__(self, *exc: t.Any) -> t.Any: ...

    def transaction(self, dry_run: bool = False) -> t.ContextManager[LedgerBackend]: ...

    def hosts_for_key(self, public_key_sha256: str) -> list[str]:
        """The hosts (sorted) a public key (canonical SPKI SHA-256) was ever certified for."""

    def hosts_for_keys(self, public_key_sha256s: t.Iterable[str]) -> dict[str, list[str]]:
        """hosts_for_key for many keys in one query: {key: sorted hosts}, known keys only."""

    def record_many(self, entries: t.Iterable[dict[str, t.Any]]) -> None:
        """Record issued certificates (one host each; the hosts' earlier valid certificates
        become superseded). Each entry has every column of ledger.COLUMNS but the status ones."""

    def record(self, entry: dict[str, t.Any]) -> None:
        """record_many([entry])."""

    def entries(self, host: str | None = None, status: str | None = None) -> list[dict[str, t.Any]]:
        """The certificates, oldest first, optionally of one host and/or status."""

    def find(self, serial: str) -> dict[str, t.Any] | None: ...

    def known_host(self, host: str) -> bool: ...

    def revoke(self, serials: t.Iterable[str], reason: str, when: str) -> list[str]:
        """Mark serials revoked (those not revoked yet); return the ones changed."""

    def crl_state(self) -> dict[str, t.Any] | None:
        """The last published CRL: number, this_update, next_update, content; None before."""

    def save_crl(self, number: int, this_update: str, next_update: str, content: str) -> None: ...


class CADirectory:
    """One CA directory: where each file of the CA lives, and how it is opened."""

    def __init__(self, path: str) -> None:
        self.path = path

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    @property
    def ledger_path(self) -> str:
        return self.file(LEDGER_FILE)

    @property
    def crl_path(self) -> str:
        return self.file(CRL_FILE)

    @property
    def policy_path(self) -> str:
        return self.file(POLICY_FILE)

    def is_ledger(self, path: str) -> bool:
        """True when path names this directory's ledger (however it is spelled)."""
        return os.path.realpath(path) == os.path.realpath(self.ledger_path)

    # --- the CA ---------------------------------------------------------------------------
    def state(self) -> str:
        """'absent', 'present', or 'partial' (some CA files exist, others don't)."""
        return ca_state(self.path)

    def load(self, passphrase: str | None, load_key: bool = True) -> IssuingCA:
        """The issuing CA (PKIError ca_missing / ca_partial / ca_passphrase ...)."""
        return IssuingCA(self.path, passphrase, load_key=load_key)

    def create(self, passphrase: str, name: str, organization: str, **kwargs: t.Any) -> None:
        create_ca(self.path, passphrase, name, organization, **kwargs)

    def import_ca(self, passphrase: str, name: str, organization: str, root_cert_pem: bytes,
                  **kwargs: t.Any) -> None:
        import_ca(self.path, passphrase, name, organization, root_cert_pem, **kwargs)

    def same_as_imported(self, root_cert_pem: bytes, issuing_cert_pem: bytes | None = None) -> bool:
        return same_as_imported(self.path, root_cert_pem, issuing_cert_pem)

    # --- the policy -----------------------------------------------------------------------
    def read_policy(self) -> dict[str, t.Any]:
        return read_policy(self.path)

    def write_policy(self, policy: dict[str, t.Any], check_mode: bool = False) -> bool:
        return write_policy(self.path, policy, check_mode)

    # --- the ledger -----------------------------------------------------------------------
    def open_ledger(self, read_only: bool = False, check_mode: bool = False,
                    timeout: float = 60.0) -> LedgerBackend:
        """The ledger. read_only: an existing ledger, for reading only (LedgerError when there is
        none). check_mode: read only, and before anything was recorded a NoLedger that knows
        nothing and creates no file. Otherwise opened for writing (created or upgraded)."""
        if check_mode:
            if not os.path.exists(self.ledger_path):
                return NoLedger()
            read_only = True
        return Ledger(self.ledger_path, timeout=timeout, read_only=read_only)

    # --- file modes -----------------------------------------------------------------------
    def expected_modes(self) -> t.Iterator[tuple[str, int]]:
        """(path, mode) of the directory and of every private file in it: the keys, the
        policy and the ledger's files."""
        yield self.path, DIR_MODE
        for name in sorted(os.listdir(self.path)):
            path = self.file(name)
            if os.path.isfile(path) and (name.endswith(".key") or name.startswith("ledger")
                                         or name == POLICY_FILE):
                yield path, PRIVATE_MODE

    def modes_drift(self) -> bool:
        return any((os.stat(path).st_mode & 0o7777) != mode for path, mode in self.expected_modes())

    def fix_modes(self) -> bool:
        changed = False
        for path, mode in list(self.expected_modes()):
            changed = fix_file(path, mode) or changed
        return changed


__all__ = ["CA_FILES", "CADirectory", "LedgerBackend", "ca_argument_spec"]
