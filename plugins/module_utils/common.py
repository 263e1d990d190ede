# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Glue shared by the collection's modules: dependency check and uniform errors.

Imports no cryptography until require_cryptography() is called: certificate_status reports its
errors through fail_pki() on the path that never loads it."""

import socket

from ansible.module_utils.basic import missing_required_lib


def require_cryptography(module):
    from ansible_collections.iotsec.tls.plugins.module_utils.crypto import CRYPTOGRAPHY_IMPORT_ERROR

    if CRYPTOGRAPHY_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("cryptography (python3-cryptography on Debian)"),
                         exception=CRYPTOGRAPHY_IMPORT_ERROR)


def fail_pki(module, exc, **extra):
    """Fail with a message naming the host, the check and the fix; nothing was changed."""
    module.fail_json(msg="%s: %s" % (socket.gethostname(), exc), check=exc.check,
                     hint=exc.hint, **extra)
