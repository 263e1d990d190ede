# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ledger: every certificate the issuing CA signs, in SQLite on the CA host.

Writers take SQLite's write lock up front (BEGIN IMMEDIATE) and wait for it with a
busy timeout, so Ansible forks and overlapping runs serialise instead of failing or
interleaving; WAL mode lets readers (reports, audits) run alongside.

Ledger is the SQLite backend of cadir.LedgerBackend (the interface is written down there);
modules open it through cadir.CADirectory.open_ledger().
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import time
import typing as t

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    serial            TEXT PRIMARY KEY,
    host              TEXT NOT NULL,
    profile           TEXT NOT NULL,
    subject           TEXT NOT NULL,
    sans              TEXT NOT NULL,
    not_before        TEXT NOT NULL,
    not_after         TEXT NOT NULL,
    sha256            TEXT NOT NULL UNIQUE,
    public_key_sha256 TEXT NOT NULL,
    issuer_sha256     TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('valid', 'superseded', 'revoked')),
    issued_at         TEXT NOT NULL,
    revoked_at        TEXT,
    revocation_reason TEXT
);
CREATE INDEX IF NOT EXISTS certificates_host ON certificates (host);
CREATE INDEX IF NOT EXISTS certificates_key ON certificates (public_key_sha256);
CREATE TABLE IF NOT EXISTS crl (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    number      INTEGER NOT NULL,
    this_update TEXT NOT NULL,
    next_update TEXT NOT NULL,
    content     TEXT NOT NULL
);
"""

# RFC 5280 CRL reason codes accepted for revocation.
REASONS = ("unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
           "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise")

COLUMNS = ("serial", "host", "profile", "subject", "sans", "not_before", "not_after", "sha256",
           "public_key_sha256", "issuer_sha256", "status", "issued_at", "revoked_at",
           "revocation_reason")


LEDGER_MODE = 0o600

# Parameters per statement of the batch queries (SQLite before 3.32 allows 999).
_PER_QUERY = 500

_INSERT = "INSERT INTO certificates (%s) VALUES (%s)" % (", ".join(COLUMNS), ", ".join("?" * len(COLUMNS)))
_SUPERSEDE = "UPDATE certificates SET status = 'superseded' WHERE status = 'valid' AND host IN (%s)"


class LedgerError(Exception):
    pass


def _chunks(values: list[str]) -> t.Iterator[list[str]]:
    for start in range(0, len(values), _PER_QUERY):
        yield values[start:start + _PER_QUERY]


def create_private(path: str, mode: int = LEDGER_MODE) -> bool:
    """Create an empty ledger file with mode, whatever the umask, unless path exists.

    SQLite takes an empty file for a new database, and gives the files it makes beside it
    (-wal, -shm, -journal) the mode of the database file: so all of them get mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            return False
        raise
    try:
        os.fchmod(fd, mode)  # open's mode is narrowed by the umask
    finally:
        os.close(fd)
    return True


class NoLedger:
    """The ledger of a CA that has recorded nothing yet, for check mode: it knows no key, no
    host, no serial and no CRL, and reading it creates no file. It refuses to record."""

    def __enter__(self) -> NoLedger:
        return self

    def __exit__(self, *exc: t.Any) -> None:
        return None

    @contextlib.contextmanager
    def transaction(self, dry_run: bool = False) -> t.Iterator[NoLedger]:
        if not dry_run:
            raise LedgerError("the ledger does not exist yet and is not written in check mode")
        yield self

    def hosts_for_key(self, public_key_sha256: str) -> list[str]:
        return []

    def hosts_for_keys(self, public_key_sha256s: t.Iterable[str]) -> dict[str, list[str]]:
        return {}

    def record_many(self, entries: t.Iterable[dict[str, t.Any]]) -> None:
        raise LedgerError("the ledger does not exist yet and is not written in check mode")

    def record(self, entry: dict[str, t.Any]) -> None:
        self.record_many([entry])

    def entries(self, host: str | None = None, status: str | None = None) -> list[dict[str, t.Any]]:
        return []

    def find(self, serial: str) -> dict[str, t.Any] | None:
        return None

    def known_host(self, host: str) -> bool:
        return False

    def revoke(self, serials: t.Iterable[str], reason: str, when: str) -> list[str]:
        return []

    def crl_state(self) -> dict[str, t.Any] | None:
        return None

    def save_crl(self, number: int, this_update: str, next_update: str, content: str) -> None:
        raise LedgerError("the ledger does not exist yet and is not written in check mode")


class Ledger:
    def __init__(self, path: str, timeout: float = 60.0, read_only: bool = False) -> None:
        """Open (and create or upgrade) the ledger; read_only: open an existing ledger of this
        collection's schema for reading only, changing nothing."""
        self.path = path
        self.read_only = read_only
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            raise LedgerError("ledger directory %s does not exist" % directory)
        if read_only and not os.path.isfile(path):
            raise LedgerError("ledger %s does not exist" % path)
        if not read_only:
            create_private(path)
        self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout = %d" % int(timeout * 1000))
        if read_only:
            # A connection that refuses to write, rather than a mode=ro one: when it closes,
            # SQLite removes the WAL files as after any other run, so reading leaves no trace.
            self.db.execute("PRAGMA query_only = 1")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                self.db.close()
                raise LedgerError("ledger %s has schema version %d, this collection's is %d"
                                  % (path, version, SCHEMA_VERSION))
            return
        self._wal(timeout)
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("PRAGMA foreign_keys = ON")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerError("ledger %s has schema version %d, newer than this collection knows (%d)"
                              % (path, version, SCHEMA_VERSION))
        if version < SCHEMA_VERSION:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA.strip().split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute("PRAGMA user_version = %d" % SCHEMA_VERSION)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _wal(self, timeout: float) -> None:
        """Switch to WAL once. SQLite answers 'locked' at once (no busy wait) while another
        connection writes to a new ledger, so retry until the timeout."""
        deadline = time.time() + timeout
        while True:
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                    return
                self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.time() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.close()

    # --- transactions --------------------------------------------------------
    def begin(self) -> None:
        """Take the write lock now (waits up to the busy timeout); on a ledger opened read only,
        begin a read transaction (one consistent view of the ledger for the block)."""
        self.db.execute("BEGIN" if self.read_only else "BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self, dry_run: bool = False) -> t.Iterator[Ledger]:
        """Hold the write lock for the block; commit at the end, or roll back on an error or
        when dry_run (check mode). Read only: a read transaction, always rolled back."""
        self.begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        if dry_run or self.read_only:
            self.rollback()
        else:
            self.commit()

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")

    # --- queries -------------------------------------------------------------
    def hosts_for_key(self, public_key_sha256: str) -> list[str]:
        return self.hosts_for_keys([public_key_sha256]).get(public_key_sha256, [])

    def hosts_for_keys(self, public_key_sha256s: t.Iterable[str]) -> dict[str, list[str]]:
        """{key: sorted hosts it was certified for} for the known ones of many keys, in a query
        per _PER_QUERY keys (a batch asks once, not once per request)."""
        keys = sorted(set(public_key_sha256s))
        found: dict[str, set[str]] = {}
        for chunk in _chunks(keys):
            rows = self.db.execute(
                "SELECT DISTINCT public_key_sha256, host FROM certificates WHERE public_key_sha256 IN (%s)"
                % ", ".join("?" * len(chunk)), chunk)
            for key, host in rows:
                found.setdefault(key, set()).add(host)
        return dict((key, sorted(hosts)) for key, hosts in found.items())

    def record(self, entry: dict[str, t.Any]) -> None:
        """Insert one issued certificate; earlier valid certificates of the host become superseded."""
        self.record_many([entry])

    def record_many(self, entries: t.Iterable[dict[str, t.Any]]) -> None:
        """Insert issued certificates, one host each; the earlier valid certificates of those
        hosts become superseded. A statement per _PER_QUERY hosts, and one executemany."""
        rows, hosts = [], []
        for entry in entries:
            values = dict(entry, sans=json.dumps(entry["sans"]))
            values.setdefault("status", "valid")
            rows.append(tuple(values.get(column) for column in COLUMNS))
            hosts.append(entry["host"])
        if len(set(hosts)) != len(hosts):
            raise LedgerError("one batch records two certificates for one host")
        for chunk in _chunks(hosts):
            self.db.execute(_SUPERSEDE % ", ".join("?" * len(chunk)), chunk)
        self.db.executemany(_INSERT, rows)

    def entries(self, host: str | None = None, status: str | None = None) -> list[dict[str, t.Any]]:
        sql = "SELECT %s FROM certificates" % ", ".join(COLUMNS)
        where, args = [], []
        if host is not None:
            where.append("host = ?")
            args.append(host)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY issued_at, serial"
        out = []
        for row in self.db.execute(sql, args):
            item = dict((c, row[c]) for c in COLUMNS)
            item["sans"] = json.loads(item["sans"])
            out.append(item)
        return out

    def find(self, serial: str) -> dict[str, t.Any] | None:
        row = self.db.execute("SELECT %s FROM certificates WHERE serial = ?" % ", ".join(COLUMNS),
                              (serial,)).fetchone()
        return dict((c, row[c]) for c in COLUMNS) if row else None

    def known_host(self, host: str) -> bool:
        return self.db.execute("SELECT 1 FROM certificates WHERE host = ? LIMIT 1",
                               (host,)).fetchone() is not None

    def revoke(self, serials: t.Iterable[str], reason: str, when: str) -> list[str]:
        """Mark the given serials revoked (those not revoked yet); return the serials changed."""
        changed = []
        for serial in serials:
            cur = self.db.execute(
                "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? "
                "WHERE serial = ? AND status != 'revoked'", (when, reason, serial))
            if cur.rowcount:
                changed.append(serial)
        return changed

    def crl_state(self) -> dict[str, t.Any] | None:
        row = self.db.execute("SELECT number, this_update, next_update, content FROM crl").fetchone()
        return dict(row) if row else None

    def save_crl(self, number: int, this_update: str, next_update: str, content: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO crl (id, number, this_update, next_update, content) "
                        "VALUES (1, ?, ?, ?, ?)", (number, this_update, next_update, content))

    def check(self) -> str:
        """Run SQLite's integrity check; return its answer ('ok' when sound)."""
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]
