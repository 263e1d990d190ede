#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: identity_key
short_description: Generate a host's private key on the host and return its CSR
version_added: 0.1.0
description:
  - Creates the host's private key where it will be used, in the identity directory O(path), and
    returns a certificate signing request for it. Only public data is returned, the CSR and the
    SHA-256 fingerprint of the public key. Key material never appears in a return value, a diff or
    a log.
  - A new key is written as C(<path>/pending/key.pem), atomically and with its final mode from the
    first byte. It only becomes the key that services use when
    M(iotsec.tls.certificate_install) installs a certificate for it, together with that certificate.
  - Without O(rekey), the current key is kept when it has the requested O(key_type) and only a new
    CSR is made; with O(rekey) a new key is made (a pending key left by an interrupted run is
    reused, since it was never in service).
  - With O(key_backend=tpm) the key is made inside the TPM (ECDSA P-256 only) and signs the CSR there;
    C(key.pem) is then the TSS2 key blob, and a new key on rotation is a new TPM key.
author: iotsec.tls contributors (@iotsec)
extends_documentation_fragment:
  - iotsec.tls.attributes
  - iotsec.tls.key_backend
attributes:
  check_mode:
    support: full
    description: Reports whether a key would be generated; no CSR is returned then.
  diff_mode:
    support: none
    description: Private keys are never diffed.
options:
  path:
    description: The identity directory on the host (see M(iotsec.tls.certificate_install)).
    type: path
    required: true
  state:
    description:
      - V(present) makes sure there is a key for the CSR and returns the CSR.
      - V(discarded) removes the pending key (never the key in service), and the identity
        directory if that leaves it empty. The P(iotsec.tls.device_identity#role) role does this when
        the CA refuses a CSR, so that a refused run leaves the host as it was.
    type: str
    default: present
    choices: [present, discarded]
  key_type:
    description: Type of a new key. RSA below 3072 bits is not offered.
    type: str
    default: ecdsa-p256
    choices: [ecdsa-p256, ecdsa-p384, ed25519, rsa-3072, rsa-4096]
  rekey:
    description: Make a new key even when a current key of the right type exists.
    type: bool
    default: false
  common_name:
    description:
      - Common name written into the CSR. The CA ignores it and takes names from inventory.
      - Required with O(state=present).
    type: str
  owner:
    description: Owner of the key file and the identity directory (name or uid).
    type: str
    default: root
  group:
    description: Group of the key file, for a service user that must read the key (for example V(mosquitto)).
    type: str
  key_mode:
    description:
      - Mode of the key file. Default V(0600), or V(0640) when O(group) is set. A mode that gives
        other users any access is refused.
      - The alias O(mode) is deprecated and will be removed in version 1.0.0.
    type: raw
    aliases: [mode]
  dir_mode:
    description: Mode of the identity directory.
    type: raw
    default: "0755"
"""

EXAMPLES = r"""
- name: Key and CSR for a device
  iotsec.tls.identity_key:
    path: /etc/iotsec-tls/identity
    common_name: "{{ inventory_hostname }}"
  register: key

- name: Throw away a pending key whose CSR the CA refused
  iotsec.tls.identity_key:
    path: /etc/iotsec-tls/identity
    state: discarded

- name: Key inside the TPM (host prepared by iotsec.tls.tpm)
  iotsec.tls.identity_key:
    path: /etc/iotsec-tls/identity
    common_name: "{{ inventory_hostname }}"
    key_backend: tpm
    tpm_tcti: "{{ tpm_client_tcti }}"

- name: Broker key readable by the mosquitto user, fresh on every renewal
  iotsec.tls.identity_key:
    path: /etc/iotsec-tls/identity
    common_name: broker1
    key_type: ecdsa-p384
    group: mosquitto
    rekey: true
"""

RETURN = r"""
csr:
  description: The certificate signing request (PEM). Not returned in check mode when a key would be made.
  type: str
  returned: success
public_key_sha256:
  description: SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo.
  type: str
  returned: success
key_type:
  description: Type of the key the CSR carries.
  type: str
  returned: success
  sample: ecdsa-p256
key_source:
  description: V(pending) for a key waiting for its certificate, V(current) for the key in service.
  type: str
  returned: success
key_created:
  description: Whether this run generated a new key.
  type: bool
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki, require_cryptography
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import key_settings
from ansible_collections.iotsec.tls.plugins.module_utils.hostspec import KEY_BACKEND, KEY_OWNER, host_spec
from ansible_collections.iotsec.tls.plugins.module_utils.keys import get_backend
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import KEY_TYPES, PKIError


def main():
    module = AnsibleModule(
        argument_spec=host_spec(
            KEY_BACKEND, KEY_OWNER,
            path=dict(type="path", required=True),
            key_type=dict(type="str", default="ecdsa-p256", choices=list(KEY_TYPES)),
            rekey=dict(type="bool", default=False),
            state=dict(type="str", default="present", choices=["present", "discarded"]),
            common_name=dict(type="str"),
            dir_mode=dict(type="raw", default="0755"),
        ),
        required_if=[("state", "present", ["common_name"])],
        supports_check_mode=True,
    )
    require_cryptography(module)
    p = module.params
    try:
        store = IdentityStore(p["path"], get_backend(p["key_backend"], tcti=p["tpm_tcti"]))
        if p["state"] == "discarded":
            module.exit_json(changed=store.discard_pending(module.check_mode), key_created=False)
        settings = key_settings(p["owner"], p["group"], p["key_mode"], p["dir_mode"])
        result = store.next_key(p["key_type"], p["rekey"], p["common_name"], settings, module.check_mode)
    except PKIError as exc:
        fail_pki(module, exc)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot write the key in %s: %s; nothing was changed"
                         % (p["path"], exc), check="key_write")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
