#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: certificate_issue
short_description: Sign many hosts' CSRs in one call on the CA host, under the CA's policy
version_added: 0.1.0
description:
  - Runs on the CA host (C(delegate_to) the CA, C(run_once)). Loads the issuing CA once, checks
    every request against the policy stored with the CA, signs the valid ones and records them on
    the ledger in one transaction.
  - The CA decides, not the CSR. Subject common name and SANs come from the request (inventory),
    extended key usage from the profile (V(device) clientAuth, V(broker) serverAuth), lifetime from
    the request, which must lie between the CA's C(min_lifetime) and C(max_lifetime) (a request
    outside them is refused, not shortened). Serial numbers are random (159 bits). Nothing
    else from the CSR is copied.
  - A request is refused, for its host only, when its CSR is not exactly one well-formed PEM
    C(CERTIFICATE REQUEST), is signed with a hash weaker than SHA-256, its key is of a type or size
    the policy does not allow or is not a sound key of its type (degenerate RSA exponent or
    modulus, EC point off the curve, Ed25519 point of small order, a non-canonical encoding), its
    self-signature does not verify, its key is one of the fleet CA's, its lifetime is outside the
    policy, its host name or names are not valid, or its public key is already on the ledger for
    another host. docs/pki.md lists every check. Refusals are returned in RV(refused); the other
    requests are still issued. The module itself fails only when the CA cannot be used (missing CA,
    wrong passphrase, unreadable ledger).
  - The ledger is opened only when a request passed every check, so a batch refused entirely
    changes nothing in the CA directory (and creates no ledger). In check mode the ledger is only
    read.
  - Certificates issued earlier to the same host are marked C(superseded) on the ledger.
author: iotsec.tls contributors (@iotsec)
extends_documentation_fragment:
  - iotsec.tls.attributes
  - iotsec.tls.ca
attributes:
  check_mode:
    support: full
    description: Checks every request and reports which would be issued; signs nothing, writes nothing.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  ledger:
    description:
      - Deprecated, and removed in 1.0.0; leave it unset. The ledger is always the CA directory's own,
        C(<ca_dir>/ledger.sqlite3), the one M(iotsec.tls.certificate_revoke), M(iotsec.tls.fleet_crl) and
        M(iotsec.tls.fleet_ca_info) read.
      - Any other path is refused (check C(ledger_option)) and nothing is issued, since certificates
        recorded elsewhere could not be revoked, listed on the CRL or reported.
    type: path
  requests:
    description:
      - One entry per host. M(iotsec.tls.certificate_status) with O(iotsec.tls.certificate_status#module:prepare_key)
        returns a whole entry as RV(iotsec.tls.certificate_status#module:request); both modules take the
        fields below from one declaration.
    type: list
    elements: dict
    required: true
    suboptions:
      host:
        description: Inventory name of the host.
        type: str
        required: true
      csr:
        description: The host's CSR (PEM), from M(iotsec.tls.identity_key).
        type: str
        required: true
      common_name:
        description: Device id used as the subject common name. Defaults to O(requests[].host).
        type: str
      dns_names:
        description: DNS SANs (names that are IP addresses become IP SANs).
        type: list
        elements: str
        default: []
      ip_addresses:
        description: IP SANs.
        type: list
        elements: str
        default: []
      profile:
        description: Role of the host, which decides the extended key usage.
        type: str
        default: device
        choices: [device, broker]
      lifetime:
        description: Requested lifetime (for example V(7d), V(12h), V(300s)).
        type: str
        default: 7d
"""

EXAMPLES = r"""
- name: Sign every CSR of the play on the CA host in one call
  iotsec.tls.certificate_issue:
    ca_dir: /var/lib/iotsec-tls/ca
    passphrase: "{{ iotsec_tls_ca_passphrase }}"
    requests:
      - host: device1
        csr: "{{ hostvars['device1'].key.csr }}"
        dns_names: [device1.fleet.example]
        profile: device
        lifetime: 7d
  delegate_to: localhost
  run_once: true
  register: issued
"""

RETURN = r"""
certificates:
  description: Per host that was issued (or would be, in check mode) its certificate facts.
  type: dict
  returned: always
  contains:
    certificate:
      description: The certificate (PEM).
      type: str
    chain:
      description: Issuing CA and root (PEM).
      type: str
    serial:
      description: Serial number (hex).
      type: str
    not_after:
      description: Expiry (ISO 8601, UTC).
      type: str
    sha256:
      description: Certificate fingerprint (hex).
      type: str
    warnings:
      description:
        - What was issued all the same but deserves a change, each also shown as a warning of the task. Today
          a DNS name of a single label (a broker named V(broker1) with no C(iotsec_tls_domain)), which RFC 5280
          does not allow in a dNSName.
      type: list
      elements: str
refused:
  description:
    - Per refused host, C(check) (which check failed), C(message) (what is wrong, in words) and
      C(hint) (the fix); C(detail) holds the library's own error text where there is one.
  type: dict
  returned: always
  sample: {"device9": {"check": "csr_signature", "message": "the CSR's signature does not verify", "hint": "regenerate the CSR"}}
issued:
  description: Hosts that got a certificate.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.cadir import CADirectory, ca_argument_spec
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki, require_cryptography
from ansible_collections.iotsec.tls.plugins.module_utils.issue import issue_batch
from ansible_collections.iotsec.tls.plugins.module_utils.request import issue_request_spec
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import LedgerError
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ca_argument_spec(),
            ledger=dict(type="path", removed_in_version="1.0.0", removed_from_collection="iotsec.tls"),
            requests=dict(type="list", elements="dict", required=True, options=issue_request_spec()),
        ),
        supports_check_mode=True,
    )
    require_cryptography(module)
    p = module.params
    cadir = CADirectory(p["ca_dir"])
    ledger_path = cadir.ledger_path

    def open_ledger():  # only once a request has passed every check
        return cadir.open_ledger(check_mode=module.check_mode)

    try:
        if p["ledger"] is not None and not cadir.is_ledger(p["ledger"]):
            raise PKIError(
                "ledger_option", "the ledger option names %s, not the CA directory's ledger %s: certificates "
                "recorded there could not be revoked, listed on the CRL or reported; nothing was issued"
                % (p["ledger"], ledger_path),
                "remove the ledger option (deprecated, removed in 1.0.0): the CA always records on %s"
                % ledger_path)
        ca = cadir.load(p["passphrase"])
        results = issue_batch(ca, open_ledger, p["requests"], check_mode=module.check_mode)
    except PKIError as exc:
        fail_pki(module, exc)
    except (LedgerError, IOError, OSError) as exc:
        module.fail_json(msg="the ledger %s cannot be used: %s; nothing was issued"
                         % (ledger_path, exc), check="ledger")
    except Exception as exc:  # sqlite3 errors: locked too long, corrupt file
        module.fail_json(msg="the ledger %s failed: %s; nothing was issued" % (ledger_path, exc),
                         check="ledger")
    for host in sorted(results):
        for warning in results[host].get("warnings") or []:
            module.warn(warning)
    certificates = dict((h, r) for h, r in results.items() if r["ok"])
    refused = dict((h, r["error"]) for h, r in results.items() if not r["ok"])
    issued = sorted(h for h, r in certificates.items() if r.get("issued"))
    module.exit_json(changed=bool(certificates), certificates=certificates, refused=refused,
                     issued=issued)


if __name__ == "__main__":
    main()
