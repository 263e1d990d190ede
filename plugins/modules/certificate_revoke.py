#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: certificate_revoke
short_description: Revoke certificates on the ledger and publish the issuing CA's CRL
version_added: 0.1.0
description:
  - Runs on the CA host. Revokes every unexpired certificate of each host in O(hosts) and each
    certificate in O(serials), with an RFC 5280 O(reason), recording time and reason on the ledger,
    then publishes the CRL (see M(iotsec.tls.fleet_crl)) in the same ledger transaction.
  - An unknown host, or a serial that is not on this CA's ledger (for example one of another CA),
    is an error that changes nothing. Revoking what is already revoked changes nothing.
author: iotsec.tls contributors (@iotsec)
extends_documentation_fragment:
  - iotsec.tls.attributes
  - iotsec.tls.ca
attributes:
  check_mode:
    support: full
    description: Reports what would be revoked; changes nothing.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  hosts:
    description: Hosts whose certificates are revoked.
    type: list
    elements: str
    default: []
  serials:
    description: Serial numbers (hex, colons allowed) to revoke.
    type: list
    elements: str
    default: []
  reason:
    description: RFC 5280 revocation reason.
    type: str
    default: unspecified
    choices: [unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
              cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise]
  crl_next_update:
    description:
      - Validity of the published CRL (nextUpdate - thisUpdate); the same option as
        O(iotsec.tls.fleet_crl#module:crl_next_update).
    type: str
    default: 1d
  include_superseded:
    description: Also list on the CRL the unexpired certificates that rotation superseded.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Lock out a stolen device now
  iotsec.tls.certificate_revoke:
    ca_dir: /var/lib/iotsec-tls/ca
    passphrase: "{{ iotsec_tls_ca_passphrase }}"
    hosts: [sensor-0042]
    reason: keyCompromise
  delegate_to: localhost
  run_once: true
  no_log: true
"""

RETURN = r"""
revoked:
  description: Serial numbers revoked by this call.
  type: list
  elements: str
  returned: always
common_names:
  description:
    - The identities (subject CNs, which brokers use as MQTT user names and client ids) of the certificates this
      call selected (for O(hosts), their unexpired certificates not revoked before; for O(serials), those). C(revoke.yml)
      ends their live connections on the brokers.
  type: list
  elements: str
  returned: success
  sample: [sensor-0042]
crl:
  description: The CRL now published (PEM), or null in check mode when it would change.
  type: str
  returned: success
crl_number:
  description: CRL number of the published CRL.
  type: int
  returned: success
crl_next_update:
  description: nextUpdate of the published CRL (ISO 8601, UTC).
  type: str
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.cadir import CADirectory, ca_argument_spec
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki, require_cryptography
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import isoformat, utcnow
from ansible_collections.iotsec.tls.plugins.module_utils.duration import parse_duration
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import REASONS
from ansible_collections.iotsec.tls.plugins.module_utils.revocation import common_names, publish, select_serials
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError


def main():
    argument_spec = ca_argument_spec()
    argument_spec.update(
        hosts=dict(type="list", elements="str", default=[]),
        serials=dict(type="list", elements="str", default=[]),
        reason=dict(type="str", default="unspecified", choices=list(REASONS)),
        crl_next_update=dict(type="str", default="1d"),
        include_superseded=dict(type="bool", default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[("hosts", "serials")],
        supports_check_mode=True,
    )
    require_cryptography(module)
    p = module.params
    try:
        next_update = parse_duration(p["crl_next_update"], "crl_next_update")
    except ValueError as exc:
        module.fail_json(msg=str(exc), check="parameters")
    now = utcnow()
    cadir = CADirectory(p["ca_dir"])
    try:
        ca = cadir.load(p["passphrase"])
        with cadir.open_ledger(check_mode=module.check_mode) as ledger:
            with ledger.transaction(dry_run=module.check_mode):
                serials = select_serials(ledger, p["hosts"], p["serials"], now)
                revoked = [s for s in serials if ledger.find(s)["status"] != "revoked"]
                if not module.check_mode:
                    revoked = ledger.revoke(serials, p["reason"], isoformat(now))
                identities = common_names(ledger, serials)
                changed, crl = publish(ca, ledger, cadir.crl_path, next_update,
                                       p["include_superseded"], now, module.check_mode)
    except PKIError as exc:
        fail_pki(module, exc)
    module.exit_json(changed=bool(revoked) or changed, revoked=revoked, common_names=identities, crl=crl["crl"],
                     crl_number=crl["number"], crl_next_update=crl["next_update"])


if __name__ == "__main__":
    main()
