#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: certificate_install
short_description: Install a certificate and chain beside the host's key, atomically
version_added: 0.1.0
description:
  - Checks that O(certificate) chains through O(chain) to a self-signed root (optionally a pinned
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
    overwritten, then the directory is removed. For O(backend=tpm) the files are TSS2 key blobs;
    the collection never makes TPM keys persistent, so overwriting the blobs destroys the keys
    (there is nothing to evict from the TPM).
  - With O(backend=tpm), the certificate is matched against the key's public key as the TPM reads it
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
  chain:
    description: The CA chain (PEM), issuing CA first, root last. Required with O(state=present).
    type: str
  failed_sha256:
    description: With O(state=rolled_back), the SHA-256 fingerprint of the certificate to take out of service.
    type: str
  root_sha256:
    description: SHA-256 fingerprint (hex) the root of O(chain) must have (pins the fleet CA).
    type: str
  owner:
    description: Owner of the installed files.
    type: str
    default: root
  group:
    description: Group of the installed files (the key becomes readable by this group).
    type: str
  key_mode:
    description: Mode of the key file. Default V(0600), or V(0640) when O(group) is set.
    type: raw
"""

EXAMPLES = r"""
- name: Install the issued certificate
  iotsec.tls.certificate_install:
    path: /etc/iotsec-tls/identity
    certificate: "{{ issued.certificate }}"
    chain: "{{ issued.chain }}"
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

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki, require_cryptography
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import (
    PKIError,
    cert_sha256,
    cert_summary,
    load_certificate,
    load_certificates,
    verify_chain,
)
from ansible_collections.iotsec.tls.plugins.module_utils.fsutil import parse_mode, resolve_owner
from ansible_collections.iotsec.tls.plugins.module_utils.keys import get_backend
from ansible_collections.iotsec.tls.plugins.module_utils.status import pair_facts
from ansible_collections.iotsec.tls.plugins.module_utils.store import IdentityStore, generation_name


def _describe(summary):
    if summary is None:
        return "(no certificate)\n"
    return "".join("%s: %s\n" % (k, summary[k]) for k in (
        "subject", "serial", "sha256", "not_before", "not_after", "dns_names", "ip_addresses",
        "extended_key_usage", "public_key_sha256"))


def rollback(module, store, failed_sha256):
    try:
        with store.lock():
            if store.link_target("current") != generation_name(failed_sha256):
                module.exit_json(changed=False, rolled_back=False)
            if module.check_mode:
                module.exit_json(changed=True, rolled_back=True)
            generation = store.rollback(failed_sha256)
    except PKIError as exc:
        fail_pki(module, exc)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot roll back in %s: %s" % (store.path, exc), check="rollback")
    module.exit_json(changed=True, rolled_back=True, generation=generation)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", default="present", choices=["present", "rolled_back", "absent"]),
            certificate=dict(type="str"),
            chain=dict(type="str"),
            failed_sha256=dict(type="str"),
            root_sha256=dict(type="str"),
            backend=dict(type="str", default="file", choices=["file", "tpm"]),
            tpm_tcti=dict(type="str"),
            owner=dict(type="str", default="root"),
            group=dict(type="str"),
            key_mode=dict(type="raw", no_log=False),
        ),
        required_if=[("state", "present", ["certificate", "chain"]),
                     ("state", "rolled_back", ["failed_sha256"])],
        supports_check_mode=True,
    )
    require_cryptography(module)
    p = module.params
    if p["state"] == "absent":
        store = IdentityStore(p["path"])
        exists = os.path.lexists(p["path"])
        if module.check_mode or not exists:
            module.exit_json(changed=exists, removed=exists)
        try:
            module.exit_json(changed=store.remove(), removed=True)
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot remove %s: %s" % (p["path"], exc), check="remove")
    if p["state"] == "rolled_back":
        rollback(module, IdentityStore(p["path"]), p["failed_sha256"].replace(":", "").lower())
    try:
        uid, gid = resolve_owner(p["owner"], p["group"])
        key_mode = parse_mode(p["key_mode"], 0o640 if p["group"] else 0o600)
    except ValueError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc, check="parameters")
    store = IdentityStore(p["path"])
    try:
        cert = load_certificate(p["certificate"], "certificate")
        chain = load_certificates(p["chain"], "chain")
        verify_chain(cert, chain)
        if p["root_sha256"] and cert_sha256(chain[-1]) != p["root_sha256"].replace(":", "").lower():
            raise PKIError("chain", "the chain's root is not the fleet root CA (pinned %s)"
                           % p["root_sha256"], "install certificates from the fleet CA only")
        backend = get_backend(p["backend"], tcti=p["tpm_tcti"])
        key_path = store.find_key_for(cert, backend)
        summary = cert_summary(cert)
        current, _chain, _problems = store.read_current()
        before = cert_summary(current) if current is not None else None
        result = dict(sha256=summary["sha256"], serial=summary["serial"],
                      subject=summary["subject"], not_after=summary["not_after"])
        if store.is_current(cert, chain):
            module.exit_json(changed=False, **result)
        if module._diff:
            result["diff"] = dict(before=_describe(before), after=_describe(summary),
                                  before_header="%s/current" % p["path"],
                                  after_header="%s/current" % p["path"])
        if module.check_mode:
            module.exit_json(changed=True, **result)
        with store.lock():
            if store.is_current(cert, chain):  # another run installed it meanwhile
                module.exit_json(changed=False, **result)
            key_path = store.find_key_for(cert, backend)
            previous = store.link_target("current")
            # The status check of a file key reads the new pair's facts from this memo next time.
            memo = (pair_facts(cert, chain), backend.name) if backend.name == "file" else None
            generation = store.install(cert, chain, key_path, key_mode, uid, gid, memo=memo)
    except PKIError as exc:
        fail_pki(module, exc)
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot install into %s: %s; the pair in service is unchanged"
                         % (p["path"], exc), check="install_write")
    module.exit_json(changed=True, generation=generation, previous_generation=previous, **result)


if __name__ == "__main__":
    main()
