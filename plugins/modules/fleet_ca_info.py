#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fleet_ca_info
short_description: Read the fleet CA's public facts on the CA host, and optionally test its passphrase
version_added: 0.1.0
description:
  - Returns the root and issuing CA certificates, the chain hosts install, their fingerprints and
    expiry, and the issuance policy. Fails when there is no CA (check C(ca_missing)) or the CA
    directory is incomplete (C(ca_partial)).
  - With O(passphrase), also proves that the passphrase opens the issuing CA key, so that a wrong
    passphrase is found before any host changes. The key is never returned.
author: iotsec.tls contributors (@iotsec)
extends_documentation_fragment:
  - iotsec.tls.attributes
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  ca_dir:
    description: Directory of the CA on the CA host.
    type: path
    required: true
  passphrase:
    description: When given, the passphrase must open the issuing CA key.
    type: str
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.ca import IssuingCA
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki, require_cryptography
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import PKIError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ca_dir=dict(type="path", required=True),
            passphrase=dict(type="str", no_log=True),
        ),
        supports_check_mode=True,
    )
    require_cryptography(module)
    p = module.params
    try:
        info = IssuingCA(p["ca_dir"], p["passphrase"], load_key=bool(p["passphrase"])).info()
    except PKIError as exc:
        fail_pki(module, exc)
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
