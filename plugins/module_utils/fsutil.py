# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Atomic file operations with explicit ownership and modes.

Files are created with their final mode from the first byte (never world-readable
for a moment), flushed to disk, then renamed into place.

No mode here depends on the process umask: a mode given to mkdir() or open() is only ever
narrowed by it, so every directory and file made here gets its mode set explicitly afterwards
(chmod, fchmod). Parent directories that ensure_dir() has to make above the one asked for get
PARENT_DIR_MODE, owned by the user the module runs as (root).
"""

from __future__ import annotations

import collections
import errno
import grp
import os
import pwd
import tempfile
from typing import Optional, Tuple, Union

from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError

# Directories made above the one asked for (/etc/iotsec-tls above the identity directory,
# /var/lib/iotsec-tls above the CA directory): readable and searchable by everyone, writable by
# their owner only, so that nobody else can rename or replace what is below them.
PARENT_DIR_MODE = 0o755


def resolve_owner(owner: Optional[str] = None, group: Optional[str] = None) -> Tuple[int, int]:
    """Return (uid, gid) for names or numbers; -1 keeps the current value."""
    uid = gid = -1
    if owner not in (None, ""):
        try:
            uid = int(owner)
        except ValueError:
            try:
                uid = pwd.getpwnam(owner).pw_uid
            except KeyError:
                raise ValueError("user %r does not exist on this host" % owner)
    if group not in (None, ""):
        try:
            gid = int(group)
        except ValueError:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise ValueError("group %r does not exist on this host" % group)
    return uid, gid


def parse_mode(mode: Union[None, str, int], default: int) -> int:
    if mode in (None, ""):
        return default
    if isinstance(mode, int):
        return mode
    return int(str(mode), 8)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str, data: Union[str, bytes], mode: int = 0o644, uid: int = -1, gid: int = -1) -> None:
    """Write data to path atomically with the given mode and ownership."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        os.fchmod(fd, mode)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    fsync_dir(directory)


def make_dirs(path: str, mode: int, parent_mode: int = PARENT_DIR_MODE) -> None:
    """Create path with mode, and each missing parent with parent_mode, whatever the umask.

    Existing directories are left as they are. A directory that another process creates
    meanwhile is left to that process."""
    path = os.path.abspath(path)
    missing = []
    current = path
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        wanted = mode if directory == path else parent_mode
        try:
            os.mkdir(directory, wanted)  # the umask can only take bits away: never wider than wanted
        except OSError as exc:
            if exc.errno == errno.EEXIST and os.path.isdir(directory):
                continue
            raise
        os.chmod(directory, wanted)


def fix_file(path: str, mode: int, uid: int = -1, gid: int = -1) -> bool:
    """Give an existing file or directory mode and ownership (-1: keep). Return True if changed."""
    changed = False
    st = os.stat(path)
    if (st.st_mode & 0o7777) != mode:
        os.chmod(path, mode)
        changed = True
    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        os.chown(path, uid, gid)
        changed = True
    return changed


def ensure_dir(path: str, mode: int, uid: int = -1, gid: int = -1) -> bool:
    """Create path (and parents, PARENT_DIR_MODE) if missing; set mode and ownership.
    Return True if changed."""
    changed = False
    if not os.path.isdir(path):
        make_dirs(path, mode)
        changed = True
    return fix_file(path, mode, uid, gid) or changed


def symlink_atomic(target: str, link: str) -> None:
    """Point link at target, replacing an existing link atomically."""
    tmp = "%s.tmp-%d" % (link, os.getpid())
    try:
        os.unlink(tmp)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
    os.symlink(target, tmp)
    os.rename(tmp, link)
    fsync_dir(os.path.dirname(link) or ".")


def read_file(path: str) -> Optional[bytes]:
    """Return the bytes of path, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


# Owner, group and modes of a host's key and identity directory, resolved on the host.
KeySettings = collections.namedtuple("KeySettings", ["uid", "gid", "key_mode", "dir_mode"])
KeySettings.__new__.__defaults__ = (-1, -1, 0o600, 0o755)


def check_key_mode(key_mode: int) -> None:
    """Refuse a private key mode that gives other users any access."""
    if key_mode & 0o007:
        raise PKIError("key_mode", "key mode %04o gives other users access to the private key; nothing was changed"
                       % key_mode, "use 0600, or 0640 with a service group")


def key_settings(owner: Optional[str], group: Optional[str], key_mode: Union[None, str, int],
                 dir_mode: Union[None, str, int] = None) -> KeySettings:
    """KeySettings from module parameters; PKIError for a user or group that does not exist, a
    mode that is no octal number, or a key mode that other users could read."""
    try:
        uid, gid = resolve_owner(owner, group)
        mode = parse_mode(key_mode, 0o640 if group else 0o600)
        dmode = parse_mode(dir_mode, 0o755)
    except ValueError as exc:
        raise PKIError("parameters", "%s; nothing was changed" % exc,
                       "give an existing user and group, and modes as octal numbers (0600)")
    check_key_mode(mode)
    return KeySettings(uid, gid if group else -1, mode, dmode)
