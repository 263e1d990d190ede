#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: fleet_ca
short_description: Create, import and check the fleet's root and issuing CA on the CA host
version_added: 0.1.0
description:
  - Keeps the fleet CA in one directory on the CA host (inventory group C(iot_ca), by default the
    control node). The directory holds a root CA and an issuing CA (pathLenConstraint 0), their
    private keys encrypted at rest with O(passphrase) (files 0600, directory 0700), the issuance
    policy and the ledger.
  - When the directory is empty the CA is created (or imported, see O(import_root_cert)).
    When it exists it is never replaced; the module only proves that O(passphrase) opens the
    issuing key, repairs file modes, updates the policy and returns the public CA facts.
  - An incomplete CA directory, or an import that differs from the CA in place, is an error that
    changes nothing.
author: iotsec.tls contributors (@iotsec)
extends_documentation_fragment:
  - iotsec.tls.attributes
  - iotsec.tls.ca
attributes:
  check_mode:
    support: full
    description: Reports what would be created without writing anything.
  diff_mode:
    support: none
    description: Private keys are never diffed.
options:
  name:
    description: Name used in the CA subjects (C(<name> Root CA), C(<name> Issuing CA)).
    type: str
    default: iotsec.tls fleet
  root_key_type:
    description: Key type of a newly created root CA.
    type: str
    default: ecdsa-p384
    choices: [ecdsa-p256, ecdsa-p384, ed25519, rsa-3072, rsa-4096]
  issuing_key_type:
    description: Key type of a newly created issuing CA.
    type: str
    default: ecdsa-p256
    choices: [ecdsa-p256, ecdsa-p384, ed25519, rsa-3072, rsa-4096]
  root_lifetime:
    description: Lifetime of a newly created root CA (for example V(3650d)).
    type: str
    default: 3650d
  issuing_lifetime:
    description: Lifetime of a newly created issuing CA; must end before the root does.
    type: str
    default: 1825d
  import_root_cert:
    description:
      - Path on the CA host of an existing root CA certificate (PEM) to import instead of creating one.
      - With O(import_root_key), an issuing CA is created under it. With O(import_issuing_cert) and
        O(import_issuing_key), that issuing CA is used as it is and the root key is not needed.
    type: path
  import_root_key:
    description: Path of the imported root CA's private key (PEM).
    type: path
  import_issuing_cert:
    description: Path of an existing issuing CA certificate (PEM) signed by O(import_root_cert).
    type: path
  import_issuing_key:
    description: Path of the imported issuing CA's private key (PEM).
    type: path
  import_passphrase:
    description: Passphrase of the imported private keys, if they are encrypted.
    type: str
  policy:
    description: Issuance policy stored beside the CA and applied by M(iotsec.tls.certificate_issue).
    type: dict
    default: {}
    suboptions:
      max_lifetime:
        description: Longest certificate lifetime the CA signs; longer requests are refused.
        type: str
        default: 30d
      min_lifetime:
        description: Shortest lifetime the CA signs.
        type: str
        default: 60s
      allowed_key_types:
        description: Key types the CA accepts in CSRs.
        type: list
        elements: str
        default: [ecdsa-p256, ecdsa-p384, ed25519, rsa-3072, rsa-4096]
      min_rsa_bits:
        description: Smallest RSA key accepted (at least 3072).
        type: int
        default: 3072
      organization:
        description: Organization (O) in issued certificate subjects.
        type: str
        default: iotsec.tls fleet
      backdate:
        description: How far notBefore is set before the time of issuance, for clock skew.
        type: str
        default: 60s
notes:
  - The private keys never leave the CA host and are never returned.
seealso:
  - module: iotsec.tls.fleet_ca_info
  - module: iotsec.tls.certificate_issue
"""

EXAMPLES = r"""
- name: Set the CA directory and passphrase once for every CA module of the play
  module_defaults:
    group/iotsec.tls.ca:
      ca_dir: /var/lib/iotsec-tls/ca
      passphrase: "{{ iotsec_tls_ca_passphrase }}"
  block:
    - name: Create the fleet CA (or prove the passphrase opens it)
      iotsec.tls.fleet_ca:
      no_log: true
    - name: Keep its CRL fresh
      iotsec.tls.fleet_crl:
      no_log: true

- name: Create the fleet CA on the control node
  iotsec.tls.fleet_ca:
    ca_dir: /var/lib/iotsec-tls/ca
    passphrase: "{{ iotsec_tls_ca_passphrase }}"
    policy:
      max_lifetime: 30d
  no_log: true

- name: Use an existing root CA (its key is re-encrypted with the CA passphrase)
  iotsec.tls.fleet_ca:
    ca_dir: /var/lib/iotsec-tls/ca
    passphrase: "{{ iotsec_tls_ca_passphrase }}"
    import_root_cert: /root/pki/root.pem
    import_root_key: /root/pki/root.key
    import_passphrase: "{{ vault_old_root_passphrase }}"
  no_log: true
"""

RETURN = r"""
created:
  description: Whether a CA was created or imported by this run.
  type: bool
  returned: always
root_certificate:
  description: Root CA certificate (PEM).
  type: str
  returned: success
issuing_certificate:
  description: Issuing CA certificate (PEM).
  type: str
  returned: success
chain:
  description: Issuing CA followed by the root CA (PEM), which hosts install beside their certificate.
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
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.cadir import CADirectory, ca_argument_spec
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki, require_cryptography
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import read_file
from ansible_collections.iotsec.tls.plugins.module_utils.policy import check_policy
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import KEY_TYPES, PKIError


def _read(module, path, what):
    data = read_file(path) if path else None
    if path and data is None:
        module.fail_json(msg="%s %s does not exist on the CA host" % (what, path), check="ca_import",
                         hint="give the path of a PEM file on the CA host")
    return data


def main():
    argument_spec = ca_argument_spec()
    argument_spec.update(
        name=dict(type="str", default="iotsec.tls fleet"),
        root_key_type=dict(type="str", default="ecdsa-p384", choices=list(KEY_TYPES)),
        issuing_key_type=dict(type="str", default="ecdsa-p256", choices=list(KEY_TYPES)),
        root_lifetime=dict(type="str", default="3650d"),
        issuing_lifetime=dict(type="str", default="1825d"),
        import_root_cert=dict(type="path"),
        import_root_key=dict(type="path"),
        import_issuing_cert=dict(type="path"),
        import_issuing_key=dict(type="path"),
        import_passphrase=dict(type="str", no_log=True),
        policy=dict(type="dict", default={}, options=dict(
            max_lifetime=dict(type="str", default="30d"),
            min_lifetime=dict(type="str", default="60s"),
            allowed_key_types=dict(type="list", elements="str", default=list(KEY_TYPES),
                                   no_log=False),
            min_rsa_bits=dict(type="int", default=3072),
            organization=dict(type="str", default="iotsec.tls fleet"),
            backdate=dict(type="str", default="60s"),
        )),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_by=dict(import_root_key=["import_root_cert"],
                         import_issuing_cert=["import_root_cert", "import_issuing_key"]),
        supports_check_mode=True,
    )
    require_cryptography(module)
    p = module.params
    ca_dir = p["ca_dir"]
    cadir = CADirectory(ca_dir)
    try:
        policy = check_policy(p["policy"])
        state = cadir.state()
        importing = p["import_root_cert"] is not None
        root_pem = _read(module, p["import_root_cert"], "import_root_cert")
        issuing_pem = _read(module, p["import_issuing_cert"], "import_issuing_cert")
        if state == "partial":
            raise PKIError("ca_partial", "the CA directory %s is incomplete" % ca_dir,
                           "restore it from backup, or move it away deliberately; "
                           "an existing CA is never recreated over")
        created = False
        if state == "absent":
            if module.check_mode:
                module.exit_json(changed=True, created=True, ca_dir=ca_dir)
            if importing:
                cadir.import_ca(p["passphrase"], p["name"], policy["organization"], root_pem,
                                root_key_pem=_read(module, p["import_root_key"], "import_root_key"),
                                issuing_cert_pem=issuing_pem,
                                issuing_key_pem=_read(module, p["import_issuing_key"], "import_issuing_key"),
                                import_passphrase=p["import_passphrase"],
                                issuing_key_type=p["issuing_key_type"],
                                issuing_lifetime=p["issuing_lifetime"])
            else:
                cadir.create(p["passphrase"], p["name"], policy["organization"],
                             root_key_type=p["root_key_type"], issuing_key_type=p["issuing_key_type"],
                             root_lifetime=p["root_lifetime"], issuing_lifetime=p["issuing_lifetime"])
            created = True
        elif importing and not cadir.same_as_imported(root_pem, issuing_pem):
            raise PKIError("ca_exists", "a different CA already exists in %s" % ca_dir,
                           "the CA in place is never replaced silently: move %s away yourself "
                           "(and re-issue every certificate) to import another one" % ca_dir)
        ca = cadir.load(p["passphrase"])  # proves the passphrase opens the key
        changed = created
        if module.check_mode:
            changed = changed or cadir.modes_drift() or cadir.write_policy(p["policy"], True)
        else:
            changed = cadir.fix_modes() or changed
            changed = cadir.write_policy(p["policy"]) or changed
            ca = cadir.load(p["passphrase"])
    except PKIError as exc:
        fail_pki(module, exc)
    result = ca.info()
    module.exit_json(changed=changed, created=created, **result)


if __name__ == "__main__":
    main()
