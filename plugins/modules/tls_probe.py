#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: tls_probe
short_description: Make a TLS handshake with this host's identity and check the peer
version_added: 0.1.0
description:
  - Connects from the host it runs on to O(address):O(port), verifies that the peer's certificate
    chains to the fleet CA and carries O(server_name), optionally that it is exactly O(expect_sha256),
    and, with a client identity, that the server accepts it (for TLS 1.3 the module waits
    O(settle) seconds for a rejection alert after the handshake).
  - Rotation runs it after a new certificate is installed and the service reloaded. A failure
    names the check (C(probe_connect), C(probe_verify), C(probe_handshake), C(probe_peer),
    C(probe_rejected)) and leads to a rollback.
  - The private key is read by the TLS library on this host only.
  - With O(key_backend=tpm) the client key is a TSS2 key blob whose private part is in the
    TPM. Python's ssl cannot use it, so the handshake is made by C(openssl s_client) with the
    tpm2-openssl provider (C(-provider tpm2 -provider default)), TLS 1.3 only (the provider of
    Debian 12 cannot sign TLS 1.2 handshakes); the same checks apply and fail with the same names.
author: iotsec.tls contributors (@iotsec)
attributes:
  check_mode:
    support: full
    description: Changes nothing; probes the same in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  address:
    description: Address to connect to.
    type: str
    required: true
  port:
    description: TCP port.
    type: int
    default: 8883
  server_name:
    description: Name the peer's certificate must carry (SNI and verification). Defaults to O(address).
    type: str
  ca_chain:
    description: The fleet CA chain (PEM) the peer must chain to.
    type: str
    required: true
  client_cert:
    description: Path of this host's certificate (full chain) to present, for mutual TLS.
    type: path
  client_key:
    description: Path of this host's private key.
    type: path
  expect_sha256:
    description: SHA-256 fingerprint (hex) the peer's certificate must have.
    type: str
  key_backend:
    description:
      - Where O(client_key) lives, as in M(iotsec.tls.identity_key). V(tpm) makes the handshake with
        C(openssl s_client) and the TPM; O(client_cert) and O(client_key) are then required.
      - The alias O(client_key_backend) is deprecated and will be removed in version 1.0.0.
    type: str
    default: file
    choices: [file, tpm]
    aliases: [client_key_backend]
  tpm_tcti:
    description:
      - With O(key_backend=tpm), the TCTI of the TPM (C(TPM2OPENSSL_TCTI)); see P(iotsec.tls.tpm#role).
      - Empty for the one in C(/etc/iotsec-tls/tpm.env), or else the TSS default search order.
    type: str
  tls13_only:
    description: Offer only TLS 1.3. Always so with O(key_backend=tpm).
    type: bool
    default: false
  timeout:
    description: Seconds to wait for the connection and handshake.
    type: float
    default: 10
  settle:
    description: Seconds to wait after the handshake for the server to reject the client certificate.
    type: float
    default: 1.5
"""

EXAMPLES = r"""
- name: Handshake with the broker using the device's new identity
  iotsec.tls.tls_probe:
    address: broker1.example.net
    port: 8883
    ca_chain: "{{ fleet_ca.chain }}"
    client_cert: /etc/iotsec-tls/identity/fullchain.pem
    client_key: /etc/iotsec-tls/identity/key.pem

- name: The same with a key inside the TPM (TLS 1.3 through openssl s_client)
  iotsec.tls.tls_probe:
    address: broker1.example.net
    ca_chain: "{{ fleet_ca.chain }}"
    client_cert: /etc/iotsec-tls/identity/fullchain.pem
    client_key: /etc/iotsec-tls/identity/key.pem
    key_backend: tpm
    tpm_tcti: "{{ tpm_client_tcti }}"
"""

RETURN = r"""
peer_sha256:
  description: SHA-256 fingerprint (hex) of the certificate the peer presented.
  type: str
  returned: success
protocol:
  description: Negotiated TLS version.
  type: str
  returned: success
  sample: TLSv1.3
cipher:
  description: Negotiated cipher suite.
  type: str
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.iotsec.tls.plugins.module_utils.common import fail_pki
from ansible_collections.iotsec.tls.plugins.module_utils.hostspec import renamed
from ansible_collections.iotsec.tls.plugins.module_utils.probe import probe, probe_tpm
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import KEY_BACKENDS, PKIError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type="str", required=True),
            port=dict(type="int", default=8883),
            server_name=dict(type="str"),
            ca_chain=dict(type="str", required=True),
            client_cert=dict(type="path"),
            client_key=dict(type="path", no_log=False),
            expect_sha256=dict(type="str"),
            key_backend=dict(type="str", default="file", choices=list(KEY_BACKENDS), **renamed("client_key_backend")),
            tpm_tcti=dict(type="str"),
            tls13_only=dict(type="bool", default=False),
            timeout=dict(type="float", default=10.0),
            settle=dict(type="float", default=1.5),
        ),
        required_together=[("client_cert", "client_key")],
        required_if=[("key_backend", "tpm", ["client_cert", "client_key"])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["key_backend"] == "tpm":
            result = probe_tpm(p["address"], p["port"], p["server_name"] or p["address"], p["ca_chain"],
                               p["client_cert"], p["client_key"], p["expect_sha256"], p["tpm_tcti"],
                               p["timeout"], p["settle"])
            module.exit_json(changed=False, **result)
        result = probe(p["address"], p["port"], p["server_name"] or p["address"], p["ca_chain"],
                       p["client_cert"], p["client_key"], p["expect_sha256"], p["tls13_only"],
                       p["timeout"], p["settle"])
    except PKIError as exc:
        fail_pki(module, exc)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
