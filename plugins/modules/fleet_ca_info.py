#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: fleet_ca_info
short_description: Read the fleet CA's public facts on the CA host, and optionally test its passphrase
version_added: 0.1.0
description:
  - Returns the root and issuing CA certificates, the chain hosts install, their fingerprints and
    expiry, and the issuance policy. Fails when there is no CA (check C(ca_missing)) or the CA
    directory is incomplete (C(ca_partial)).
  - Also tells whether M(iotsec.tls.fleet_crl), with its default options, would publish a new CRL
    now (RV(crl_due)), from the ledger and the CRL file, without the CA key. A scheduled rotation
    uses it to leave the CA key closed when there is nothing to sign.
  - With O(passphrase), also proves that the passphrase opens the issuing CA key, so that a wrong
    passphrase is found before any host changes. The key is never returned.
author: iotsec.tls contributors (@iotsec)
extends_documentation_fragment:
  - iotsec.tls.attributes
  - iotsec.tls.ca.info
  - iotsec.tls.ca
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
options: {}
seealso:
  - module: iotsec.tls.fleet_ca
"""

EXAMPLES = r"""
- name: Read the fleet CA
  iotsec.tls.fleet_ca_info:
    ca_dir: /var/lib/iotsec-tls/ca
  delegate_to: localhost
  run_once: true
  register: fleet_ca
"""

RETURN = r"""
crl_due:
  description:
    - Whether M(iotsec.tls.fleet_crl) with its default options would publish a new CRL now, because
      the revocations on the ledger differ from the published CRL, half of its validity has passed,
      or there is no CRL file.
    - V(null) when the ledger cannot be read (the CRL module then reports why).
  type: bool
  returned: success
  sample: false
root_certificate:
  description: Root CA certificate (PEM).
  type: str
  returned: success
issuing_certificate:
  description: Issuing CA certificate (PEM).
  type: str
  returned: success
chain:
  description: Issuing CA followed by the root CA (PEM).
  type: str
  returned: success
root_sha256:
  description: SHA-256 fingerprint (hex) of the root CA certificate.
  type: str
  returned: success
issuing_sha256:
  description: SHA-256 fingerprint (hex) of the issuing CA certificate.
  type: str
  returned: success
issuing_not_after:
  description: Expiry of the issuing CA (ISO 8601, UTC).
  type: str
  returned: success
root_not_after:
  description: Expiry of the root CA (ISO 8601, UTC).
  type: str
  returned: success
policy:
  description: The issuance policy in force.
  type: dict
  returned: success
ca_dir:
  description: The CA directory.
  type: str
  returned: success
"""

import sqlite3

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.cadir import CADirectory, ca_argument_spec
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki, require_cryptography
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import LedgerError
from ansible_collections.iotsec.tls.plugins.module_utils.revocation import crl_due
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError


def main():
    module = AnsibleModule(
        argument_spec=ca_argument_spec(passphrase_required=False),
        supports_check_mode=True,
    )
    require_cryptography(module)
    p = module.params
    cadir = CADirectory(p["ca_dir"])
    try:
        info = cadir.load(p["passphrase"], load_key=bool(p["passphrase"])).info()
    except PKIError as exc:
        fail_pki(module, exc)
    info["crl_due"] = None
    try:
        with cadir.open_ledger(read_only=True, timeout=10.0) as ledger:
            info["crl_due"] = crl_due(ledger, cadir.crl_path)[0]
    except (LedgerError, sqlite3.Error, PKIError, ValueError, KeyError):
        pass  # unknown: iotsec.tls.fleet_crl reads the ledger itself and reports what is wrong
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
