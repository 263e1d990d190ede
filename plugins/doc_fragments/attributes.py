# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    DOCUMENTATION = r"""
options: {}
requirements:
  - cryptography >= 38.0 (python3-cryptography on Debian 12 and 13)
"""
