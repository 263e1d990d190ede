# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ledger: every certificate the issuing CA signs, in SQLite on the CA host.

Writers take SQLite's write lock up front (BEGIN IMMEDIATE) and wait for it with a
busy timeout, so Ansible forks and overlapping runs serialise instead of failing or
interleaving; WAL mode lets readers (reports, audits) run alongside.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import json
import os
import sqlite3
import time

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


class LedgerError(Exception):
    pass


def create_private(path, mode=LEDGER_MODE):
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


class NoLedger(object):
    """The ledger of a CA that has recorded nothing yet, for check mode: it knows no key, and
    reading it creates no file."""

    def hosts_for_key(self, public_key_sha256):
        return []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class Ledger(object):
    def __init__(self, path, timeout=60.0, read_only=False):
        """Open (and create or upgrade) the ledger; read_only: open an existing ledger of this
        collection's schema for reading only, changing nothing."""
        self.path = path
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

    def _wal(self, timeout):
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

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- transactions --------------------------------------------------------
    def begin(self):
        """Take the write lock now (waits up to the busy timeout)."""
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self):
        self.db.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self, dry_run=False):
        """Hold the write lock for the block; commit at the end, or roll back on an error or
        when dry_run (check mode)."""
        self.begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        if dry_run:
            self.rollback()
        else:
            self.commit()

    def rollback(self):
        self.db.execute("ROLLBACK")

    # --- queries -------------------------------------------------------------
    def hosts_for_key(self, public_key_sha256):
        rows = self.db.execute(
            "SELECT DISTINCT host FROM certificates WHERE public_key_sha256 = ?",
            (public_key_sha256,))
        return sorted(row[0] for row in rows)

    def record(self, entry):
        """Insert one issued certificate; earlier valid certificates of the host become superseded."""
        self.db.execute(
            "UPDATE certificates SET status = 'superseded' WHERE host = ? AND status = 'valid'",
            (entry["host"],))
        values = dict(entry)
        values["sans"] = json.dumps(values["sans"])
        values.setdefault("status", "valid")
        values.setdefault("revoked_at", None)
        values.setdefault("revocation_reason", None)
        self.db.execute(
            "INSERT INTO certificates (%s) VALUES (%s)" % (
                ", ".join(COLUMNS), ", ".join(":" + c for c in COLUMNS)), values)

    def entries(self, host=None, status=None):
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

    def find(self, serial):
        row = self.db.execute("SELECT %s FROM certificates WHERE serial = ?" % ", ".join(COLUMNS),
                              (serial,)).fetchone()
        return dict((c, row[c]) for c in COLUMNS) if row else None

    def known_host(self, host):
        return self.db.execute("SELECT 1 FROM certificates WHERE host = ? LIMIT 1",
                               (host,)).fetchone() is not None

    def revoke(self, serials, reason, when):
        """Mark the given serials revoked (those not revoked yet); return the serials changed."""
        changed = []
        for serial in serials:
            cur = self.db.execute(
                "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? "
                "WHERE serial = ? AND status != 'revoked'", (when, reason, serial))
            if cur.rowcount:
                changed.append(serial)
        return changed

    def crl_state(self):
        row = self.db.execute("SELECT number, this_update, next_update, content FROM crl").fetchone()
        return dict(row) if row else None

    def save_crl(self, number, this_update, next_update, content):
        self.db.execute("INSERT OR REPLACE INTO crl (id, number, this_update, next_update, content) "
                        "VALUES (1, ?, ?, ?, ?)", (number, this_update, next_update, content))

    def check(self):
        """Run SQLite's integrity check; return its answer ('ok' when sound)."""
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]
