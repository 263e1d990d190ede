#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: certificate_status
short_description: Tell in one call whether a host needs a new certificate
version_added: 0.1.0
description:
  - Reads the key and certificate in service in the identity directory O(path) and compares them
    with what inventory and the CA expect. Changes nothing, unless O(prepare_key) is set and a
    new certificate is needed.
  - A new certificate is needed when the certificate or key is missing or unreadable, the key does
    not match, the chain or issuer differs from the fleet CA, the common name, SANs or extended key
    usage differ from inventory, the key type differs from the configured one, the certificate has
    expired, or less than O(renew_before) of its lifetime is left.
  - For a host whose certificate is fresh this is the only remote module call of the
    P(iotsec.tls.device_identity#role) role.
  - With the V(file) key backend, what the check finds out about a certificate, its chain and
    its key is kept in the generation directory beside them (C(status.json), mode 0600), under the
    SHA-256 of each of the three files, by this module and by M(iotsec.tls.certificate_install).
    A later check that finds the three files unchanged takes those facts from there instead of
    loading cryptography and the private key; any change to any of the files makes it read them
    again. The dates, names, extended key usage, key type and issuer are still compared with the
    expected values and the clock on every run. Writing that record is not reported as a change,
    and nothing is written in check mode.
  - With O(key_backend=tpm) the public key of the key in service is read from its TSS2 blob by the TPM
    itself (a blob the TPM cannot load reads as C(key_unreadable)), and the host is held to the
    V(modern) profile's certificate constraints, since a TPM key can only do TLS 1.3 with the
    tpm2-openssl provider of Debian 12. The O(key_type) must be V(ecdsa-p256) and the O(lifetime)
    at most 90 days, or the module fails (check C(tpm_profile)) before anything is changed.
author: iotsec.tls contributors (@iotsec)
extends_documentation_fragment:
  - iotsec.tls.attributes
  - iotsec.tls.key_backend
attributes:
  check_mode:
    support: full
    description: The status is read as usual; with O(prepare_key), reports whether a key would be made, and returns no CSR when it would.
  diff_mode:
    support: none
    description: Nothing to diff; private keys are never diffed.
options:
  path:
    description: The identity directory on the host.
    type: path
    required: true
  host:
    description:
      - Inventory name of the host, the C(host) of RV(request). Defaults to O(common_name).
    type: str
  common_name:
    description: Expected common name (the device id).
    type: str
  dns_names:
    description: Expected DNS SANs. Names that are IP addresses count as IP SANs.
    type: list
    elements: str
    default: []
  ip_addresses:
    description: Expected IP SANs.
    type: list
    elements: str
    default: []
  profile:
    description:
      - Role of the host; its certificate must carry exactly this role's extended key usage
        (V(device) clientAuth, V(broker) serverAuth). Omit to accept any.
    type: str
    choices: [device, broker]
  ca_chain:
    description: The fleet CA chain (PEM, issuing CA first). When given, the installed chain and issuer must match it.
    type: str
  renew_before:
    description:
      - Renew when less than this fraction of the lifetime is left (0 < x < 1).
      - To renew now whatever is left, use O(force).
    type: float
    default: 0.3333
  force:
    description:
      - Report that a new certificate is needed (reason C(forced)) whatever the state of the one
        in service, and with O(prepare_key) make the key and CSR for it.
      - Limit the play (C(--limit)) to renew only some hosts.
    type: bool
    default: false
  lifetime:
    description:
      - Configured certificate lifetime (V(7d), V(12h), V(300s)). A certificate whose own lifetime
        is longer than this by more than 300 seconds or a tenth (the CA backdates notBefore) is
        renewed, so a shortened lifetime takes effect on the next run.
    type: str
  key_type:
    description:
      - Expected key type; a different key type needs a new key and certificate.
      - With O(prepare_key), the type of a new key (default V(ecdsa-p256)).
    type: str
    choices: [ecdsa-p256, ecdsa-p384, ed25519, rsa-3072, rsa-4096]
  prepare_key:
    description:
      - When the host needs a certificate, also make sure there is a key for it and return its
        CSR in RV(key), in the same call, exactly as M(iotsec.tls.identity_key) does (a new key
        goes to C(<path>/pending/) and only enters service with its certificate). A fresh host
        is left untouched.
      - This saves one remote module call per host that needs a certificate.
      - Requires O(common_name).
    type: bool
    default: false
  rekey:
    description: With O(prepare_key), make a new key even when the key in service could be kept (see M(iotsec.tls.identity_key)).
    type: bool
    default: false
  owner:
    description: With O(prepare_key), owner of a new key and of the identity directory.
    type: str
    default: root
  group:
    description: With O(prepare_key), group of a new key, for a service user that must read it.
    type: str
  key_mode:
    description:
      - With O(prepare_key), mode of the key. Default V(0600), or V(0640) when O(group) is set. A mode
        that gives other users any access is refused.
      - The alias O(mode) is deprecated and will be removed in version 1.0.0.
    type: raw
    aliases: [mode]
  dir_mode:
    description: With O(prepare_key), mode of the identity directory.
    type: raw
    default: "0755"
"""

EXAMPLES = r"""
- name: Does this device need a certificate?
  iotsec.tls.certificate_status:
    path: /etc/iotsec-tls/identity
    common_name: "{{ inventory_hostname }}"
    dns_names: ["{{ inventory_hostname }}"]
    profile: device
    ca_chain: "{{ fleet_ca.chain }}"
  register: identity_status

- name: Status, and key and CSR when a certificate is needed, in one call
  iotsec.tls.certificate_status:
    path: /etc/iotsec-tls/identity
    common_name: "{{ inventory_hostname }}"
    dns_names: ["{{ inventory_hostname }}"]
    profile: device
    ca_chain: "{{ fleet_ca.chain }}"
    prepare_key: true
    rekey: true
  register: identity_status
"""

RETURN = r"""
needs_certificate:
  description: Whether the host needs a new certificate.
  type: bool
  returned: always
reasons:
  description: Why, as C(code) and C(message) pairs. Empty when the certificate is fresh.
  type: list
  elements: dict
  returned: always
  sample: [{"code": "renew", "message": "3600 seconds left, less than 0.3333 of the lifetime"}]
certificate:
  description: Public facts of the installed certificate (serial, subject, SANs, EKU, validity, fingerprints), or null.
  type: dict
  returned: always
remaining_seconds:
  description: Seconds until the installed certificate expires (negative when expired), or null.
  type: int
  returned: always
lifetime_seconds:
  description: Total lifetime of the installed certificate, or null.
  type: int
  returned: always
key:
  description:
    - The key for the next certificate, as M(iotsec.tls.identity_key) returns it (C(csr),
      C(public_key_sha256), C(key_type), C(key_source), C(key_created)). Never key material.
    - In check mode no C(csr) when a key would have to be made.
  type: dict
  returned: when O(prepare_key) is true and RV(needs_certificate) is true
request:
  description:
    - The whole entry to give M(iotsec.tls.certificate_issue) in
      O(iotsec.tls.certificate_issue#module:requests) for this host, built from the same declaration
      of a request. It holds C(host) (O(host), or O(common_name)), C(csr), C(common_name), C(dns_names),
      C(ip_addresses), and C(profile) and C(lifetime) when given.
    - Not returned in check mode when a key would have to be made (there is no CSR yet).
  type: dict
  returned: when O(prepare_key) is true and RV(needs_certificate) is true
  sample:
    host: device1
    csr: "-----BEGIN CERTIFICATE REQUEST-----\n..."
    common_name: device1
    dns_names: [device1.fleet.example]
    ip_addresses: []
    profile: device
    lifetime: 7d
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki
from ansible_collections.iotsec.tls.plugins.module_utils.duration import parse_duration
from ansible_collections.iotsec.tls.plugins.module_utils.freshness import (
    pem_certificates_sha256,
    status_from_memo,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import key_settings
from ansible_collections.iotsec.tls.plugins.module_utils.hostspec import KEY_BACKEND, KEY_OWNER, host_spec
from ansible_collections.iotsec.tls.plugins.module_utils.request import make_request, status_expectation_spec
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import (
    KEY_TYPES,
    PROFILES,
    PKIError,
    tpm_profile_problem,
)


def full_check(module, expected, settings):
    """Read the identity with cryptography (and make the key and CSR when asked): everything the
    memo cannot answer. Imported here, so that a fresh host's check never loads cryptography."""
    from ansible_collections.iotsec.tls.plugins.module_utils.common import require_cryptography
    from ansible_collections.iotsec.tls.plugins.module_utils.crypto import load_certificates
    from ansible_collections.iotsec.tls.plugins.module_utils.keys import get_backend
    from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore

    require_cryptography(module)
    p = module.params
    changed = False
    try:
        expected["ca_chain"] = load_certificates(p["ca_chain"], "ca_chain") if p["ca_chain"] else None
        store = IdentityStore(p["path"], get_backend(p["key_backend"], tcti=p["tpm_tcti"]))
        result = store.status(expected, check_mode=module.check_mode)
        if p["prepare_key"] and result["needs_certificate"]:
            result["key"] = store.next_key(p["key_type"] or "ecdsa-p256", p["rekey"], p["common_name"],
                                           settings, module.check_mode)
            changed = result["key"].pop("changed")
            if "csr" in result["key"]:
                result["request"] = make_request(p["host"], result["key"]["csr"], p)
    except PKIError as exc:
        fail_pki(module, exc)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot write the key in %s: %s; nothing was changed"
                         % (p["path"], exc), check="key_write")
    module.exit_json(changed=changed, **result)


def main():
    module = AnsibleModule(
        argument_spec=host_spec(
            KEY_BACKEND, KEY_OWNER, status_expectation_spec(),
            path=dict(type="path", required=True),
            host=dict(type="str"),
            ca_chain=dict(type="str"),
            renew_before=dict(type="float", default=0.3333),
            force=dict(type="bool", default=False),
            key_type=dict(type="str", choices=list(KEY_TYPES)),
            prepare_key=dict(type="bool", default=False),
            rekey=dict(type="bool", default=False),
            dir_mode=dict(type="raw", default="0755"),
        ),
        required_if=[("prepare_key", True, ["common_name"])],
        supports_check_mode=True,
    )
    p = module.params
    if not 0 < p["renew_before"] < 1:
        module.fail_json(msg="renew_before must be a fraction between 0 and 1, got %s"
                         % p["renew_before"], check="parameters",
                         hint="to renew now whatever is left, set force: true "
                              "(device_identity_force=true in the role), with --limit for some hosts")
    try:
        lifetime = parse_duration(p["lifetime"], "lifetime") if p["lifetime"] else None
    except ValueError as exc:
        module.fail_json(msg=str(exc), check="parameters")
    if p["key_backend"] == "tpm":
        problem = tpm_profile_problem(p["key_type"], lifetime)
        if problem:
            module.fail_json(msg=problem, check="tpm_profile",
                             hint="hosts with key backend tpm use the modern profile: ecdsa-p256 keys "
                                  "and certificates of at most 90 days")
    try:
        settings = key_settings(p["owner"], p["group"], p["key_mode"], p["dir_mode"]) if p["prepare_key"] else None
    except PKIError as exc:
        fail_pki(module, exc)
    expected = dict(p, lifetime=lifetime)
    expected["extended_key_usage"] = PROFILES[p["profile"]] if p["profile"] else None
    if p["key_backend"] == "file":
        # A fresh host whose files match their memo is judged without cryptography.
        want_chain = pem_certificates_sha256(p["ca_chain"]) if p["ca_chain"] else None
        if want_chain or not p["ca_chain"]:
            result = status_from_memo(p["path"], dict(expected, ca_chain_sha256=want_chain))
            if result is not None and not (p["prepare_key"] and result["needs_certificate"]):
                module.exit_json(changed=False, **result)
    full_check(module, expected, settings)


if __name__ == "__main__":
    main()
