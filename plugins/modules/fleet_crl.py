#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: fleet_crl
short_description: Keep the issuing CA's CRL published and fresh
version_added: 0.1.0
description:
  - Runs on the CA host. Publishes C(<ca_dir>/crl.pem), signed by the issuing CA, listing every
    unexpired revoked certificate on the ledger with its reason (and, with O(include_superseded),
    those superseded by rotation). The CRL number only grows; an empty CRL is valid.
  - A new CRL is published when its content changed, when less than half of its validity is left,
    or when the file is missing; otherwise nothing changes, so rotation runs can call it every time.
author: iotsec.tls contributors (@iotsec)
extends_documentation_fragment:
  - iotsec.tls.attributes
  - iotsec.tls.ca
attributes:
  check_mode:
    support: full
    description: Reports whether a new CRL would be published.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  crl_next_update:
    description:
      - Validity of a newly published CRL (nextUpdate - thisUpdate). Twice the rotation interval is
        a good value.
      - The same option as O(iotsec.tls.certificate_revoke#module:crl_next_update). Its former name
        O(next_update) is deprecated and will be removed in 1.0.0.
    type: str
    default: 1d
    aliases: [next_update]
  include_superseded:
    description: Also list unexpired certificates superseded by rotation.
    type: bool
    default: false
  force:
    description: Publish a new CRL even if the current one is still fresh.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Keep the CRL fresh on every rotation run
  iotsec.tls.fleet_crl:
    ca_dir: /var/lib/iotsec-tls/ca
    passphrase: "{{ iotsec_tls_ca_passphrase }}"
    crl_next_update: 1d
  delegate_to: localhost
  run_once: true
  no_log: true
"""

RETURN = r"""
crl:
  description: The published CRL (PEM), or null in check mode when it would change.
  type: str
  returned: success
crl_number:
  description: Its CRL number.
  type: int
  returned: success
crl_next_update:
  description: Its nextUpdate (ISO 8601, UTC).
  type: str
  returned: success
revoked_count:
  description: How many certificates it lists.
  type: int
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.cadir import CADirectory, ca_argument_spec
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki, require_cryptography
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import utcnow
from ansible_collections.iotsec.tls.plugins.module_utils.duration import parse_duration
from ansible_collections.iotsec.tls.plugins.module_utils.hostspec import renamed
from ansible_collections.iotsec.tls.plugins.module_utils.revocation import publish
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError


def main():
    argument_spec = ca_argument_spec()
    argument_spec.update(
        crl_next_update=dict(type="str", default="1d", **renamed("next_update")),
        include_superseded=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_cryptography(module)
    p = module.params
    try:
        next_update = parse_duration(p["crl_next_update"], "crl_next_update")
    except ValueError as exc:
        module.fail_json(msg=str(exc), check="parameters")
    cadir = CADirectory(p["ca_dir"])
    try:
        ca = cadir.load(p["passphrase"])
        with cadir.open_ledger(check_mode=module.check_mode) as ledger:
            with ledger.transaction(dry_run=module.check_mode):
                changed, crl = publish(ca, ledger, cadir.crl_path, next_update,
                                       p["include_superseded"], utcnow(), module.check_mode,
                                       p["force"])
    except PKIError as exc:
        fail_pki(module, exc)
    module.exit_json(changed=changed, crl=crl["crl"], crl_number=crl["number"],
                     crl_next_update=crl["next_update"], revoked_count=crl["revoked"])


if __name__ == "__main__":
    main()
