#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: certificate_install
short_description: Install a certificate and chain beside the host's key, atomically
version_added: 0.1.0
description:
  - Checks that O(certificate) chains through O(ca_chain) to a self-signed root (optionally a pinned
    one) and that its public key matches the pending key made by M(iotsec.tls.identity_key) or the
    key in service. Then writes key, certificate, chain and full chain into a new generation
    directory and makes it current with one atomic rename of the C(current) symlink. The pair in
    service before is kept as C(previous).
  - Services read C(<path>/key.pem), C(<path>/cert.pem), C(<path>/chain.pem) and
    C(<path>/fullchain.pem), which point into C(current); they always see a matching pair.
  - Any failed check leaves every file as it was.
  - With O(state=rolled_back), makes the previous pair current again, provided the certificate
    O(failed_sha256) is the one in service (so that repeating the call changes nothing). Rotation
    does this when the service that uses the new pair fails to reload or to complete a handshake.
  - With O(state=absent) (decommissioning), every private key in the identity directory is
    overwritten, then the directory is removed. For O(key_backend=tpm) the files are TSS2 key blobs;
    the collection never makes TPM keys persistent, so overwriting the blobs destroys the keys
    (there is nothing to evict from the TPM).
  - With O(key_backend=tpm), the certificate is matched against the key's public key as the TPM reads it
    from the blob.
  - Overlapping runs on one host take turns on a lock in the identity directory.
author: iotsec.tls contributors (@iotsec)
extends_documentation_fragment:
  - iotsec.tls.attributes
  - iotsec.tls.key_backend
attributes:
  check_mode:
    support: full
    description: Runs all checks and reports whether the certificate would be installed.
  diff_mode:
    support: full
    description: Shows serial, fingerprint, subject and expiry before and after; never key material.
options:
  path:
    description: The identity directory on the host.
    type: path
    required: true
  state:
    description:
      - V(present) installs O(certificate); V(rolled_back) restores the previous pair; V(absent)
        destroys the identity (keys overwritten, then the directory removed).
    type: str
    default: present
    choices: [present, rolled_back, absent]
  certificate:
    description: The certificate to install (PEM). Required with O(state=present).
    type: str
  ca_chain:
    description:
      - The CA chain (PEM), issuing CA first, root last. Required with O(state=present).
      - The alias O(chain) is deprecated and will be removed in version 1.0.0.
    type: str
    aliases: [chain]
  failed_sha256:
    description: With O(state=rolled_back), the SHA-256 fingerprint of the certificate to take out of service.
    type: str
  root_sha256:
    description: SHA-256 fingerprint (hex) the root of O(ca_chain) must have (pins the fleet CA).
    type: str
  owner:
    description: Owner of the installed files.
    type: str
    default: root
  group:
    description: Group of the installed files (the key becomes readable by this group).
    type: str
  key_mode:
    description:
      - Mode of the key file. Default V(0600), or V(0640) when O(group) is set. A mode that gives
        other users any access is refused, and nothing is changed.
      - The alias O(mode) is deprecated and will be removed in version 1.0.0.
    type: raw
    aliases: [mode]
"""

EXAMPLES = r"""
- name: Install the issued certificate
  iotsec.tls.certificate_install:
    path: /etc/iotsec-tls/identity
    certificate: "{{ issued.certificate }}"
    ca_chain: "{{ issued.chain }}"
    root_sha256: "{{ fleet_ca.root_sha256 }}"
  notify: iotsec.tls identity changed

- name: Put the previous pair back after a failed handshake
  iotsec.tls.certificate_install:
    path: /etc/iotsec-tls/identity
    state: rolled_back
    failed_sha256: "{{ install.sha256 }}"
"""

RETURN = r"""
sha256:
  description: SHA-256 fingerprint (hex) of the installed certificate.
  type: str
  returned: success
serial:
  description: Serial number (hex) of the installed certificate.
  type: str
  returned: success
subject:
  description: Subject of the installed certificate (RFC 4514).
  type: str
  returned: success
  sample: CN=device1,O=iotsec.tls fleet
not_after:
  description: Expiry of the installed certificate (ISO 8601, UTC).
  type: str
  returned: success
generation:
  description: Name of the generation directory now current.
  type: str
  returned: changed and not check mode
removed:
  description: With O(state=absent), whether an identity was removed.
  type: bool
  returned: state is absent
rolled_back:
  description: With O(state=rolled_back), whether the previous pair was restored.
  type: bool
  returned: state is rolled_back
previous_generation:
  description: Name of the generation kept as previous, or null.
  type: str
  returned: changed and not check mode
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki, require_cryptography
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import cert_summary, load_certificate, load_certificates
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import key_settings
from ansible_collections.iotsec.tls.plugins.module_utils.hostspec import KEY_BACKEND, KEY_OWNER, host_spec, renamed
from ansible_collections.iotsec.tls.plugins.module_utils.keys import get_backend
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError

DESCRIBED = ("subject", "serial", "sha256", "not_before", "not_after", "dns_names", "ip_addresses",
             "extended_key_usage", "public_key_sha256")


def _describe(summary):
    if summary is None:
        return "(no certificate)\n"
    return "".join("%s: %s\n" % (k, summary[k]) for k in DESCRIBED)


def _present(module, store):
    p = module.params
    settings = key_settings(p["owner"], p["group"], p["key_mode"])
    cert = load_certificate(p["certificate"], "certificate")
    outcome = store.install(cert, load_certificates(p["ca_chain"], "ca_chain"), settings,
                            root_sha256=p["root_sha256"], check_mode=module.check_mode)
    summary = cert_summary(cert)
    result = dict(changed=outcome["changed"], sha256=summary["sha256"], serial=summary["serial"],
                  subject=summary["subject"], not_after=summary["not_after"])
    if outcome["changed"] and module._diff:
        result["diff"] = dict(before=_describe(outcome["before"]), after=_describe(summary),
                              before_header="%s/current" % p["path"], after_header="%s/current" % p["path"])
    if outcome["changed"] and not module.check_mode:
        result.update(generation=outcome["generation"], previous_generation=outcome["previous_generation"])
    return result


def main():
    module = AnsibleModule(
        argument_spec=host_spec(
            KEY_BACKEND, KEY_OWNER,
            path=dict(type="path", required=True),
            state=dict(type="str", default="present", choices=["present", "rolled_back", "absent"]),
            certificate=dict(type="str"),
            ca_chain=dict(type="str", **renamed("chain")),
            failed_sha256=dict(type="str"),
            root_sha256=dict(type="str"),
        ),
        required_if=[("state", "present", ["certificate", "ca_chain"]),
                     ("state", "rolled_back", ["failed_sha256"])],
        supports_check_mode=True,
    )
    require_cryptography(module)
    p = module.params
    store = IdentityStore(p["path"], get_backend(p["key_backend"], tcti=p["tpm_tcti"]))
    failure = {"present": ("install_write", "cannot install into %s: %s; the pair in service is unchanged"),
               "rolled_back": ("rollback", "cannot roll back in %s: %s"),
               "absent": ("remove", "cannot remove %s: %s")}[p["state"]]
    try:
        if p["state"] == "absent":
            removed = store.destroy(module.check_mode)
            result = dict(changed=removed, removed=removed)
        elif p["state"] == "rolled_back":
            generation = store.rollback(p["failed_sha256"], module.check_mode)
            result = dict(changed=generation is not None, rolled_back=generation is not None)
            if generation is not None and not module.check_mode:
                result["generation"] = generation
        else:
            result = _present(module, store)
    except PKIError as exc:
        fail_pki(module, exc)
    except (IOError, OSError) as exc:
        module.fail_json(msg=failure[1] % (p["path"], exc), check=failure[0])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
