# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:
    """The options every CA module takes (module_utils/cadir.py ca_argument_spec()), and the
    action group that sets them once."""

    DOCUMENTATION = r"""
options:
  ca_dir:
    description:
      - Directory of the fleet CA on the CA host (see M(iotsec.tls.fleet_ca)), which holds the CA
        certificates and keys, the policy, the ledger and the CRL.
      - Set it once for every CA module with C(module_defaults) and C(group/iotsec.tls.ca).
    type: path
    required: true
  passphrase:
    description:
      - Passphrase that encrypts the CA private keys at rest (at least 12 characters). The CRL and
        the certificates are signed with the issuing CA key it opens.
      - Keep it in Ansible Vault or an AWX credential; it can be set once for every CA module with
        C(module_defaults) and C(group/iotsec.tls.ca).
    type: str
    required: true
attributes:
  action_group:
    description: Use C(group/iotsec.tls.ca) in C(module_defaults) to set O(ca_dir) and O(passphrase) of
      every CA module once.
    support: full
    membership:
      - iotsec.tls.ca
"""

    # For modules that read the CA without its key unless a passphrase is given.
    INFO = r"""
options:
  passphrase:
    description:
      - When given, the passphrase must open the issuing CA key (at least 12 characters).
      - Keep it in Ansible Vault or an AWX credential; it can be set once for every CA module with
        C(module_defaults) and C(group/iotsec.tls.ca).
    type: str
    required: false
"""
