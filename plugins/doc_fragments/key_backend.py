# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  key_backend:
    description:
      - Where the host's private key lives.
      - The alias O(backend) is deprecated and will be removed in version 1.0.0.
      - V(file) keeps an unencrypted PEM file protected by owner and mode.
      - V(tpm) keeps the key inside a TPM 2.0; the host has only its TSS2 key blob
        (C(-----BEGIN TSS2 PRIVATE KEY-----)), which no other TPM can load. The key is used through
        C(openssl) with the tpm2-openssl provider (C(-provider tpm2 -provider default)); only ECDSA
        P-256 keys are made. Prepare the host with the P(iotsec.tls.tpm#role) role first.
    type: str
    default: file
    choices: [file, tpm]
    aliases: [backend]
  tpm_tcti:
    description:
      - With O(key_backend=tpm), the TCTI through which the tpm2 provider reaches the TPM (it is given to
        C(openssl) as C(TPM2OPENSSL_TCTI)), for example V(device:/dev/tpmrm0) (the kernel's resource
        manager) or V(tabrmd:bus_type=system) (tpm2-abrmd). The P(iotsec.tls.tpm#role) role sets the fact
        C(tpm_client_tcti) to the right one.
      - Empty for the one in C(/etc/iotsec-tls/tpm.env) (written by P(iotsec.tls.tpm#role)), or else the TSS
        default search order.
    type: str
requirements:
  - With O(key_backend=tpm), C(openssl) 3 and the tpm2-openssl provider on the host (the P(iotsec.tls.tpm#role) role installs them).
"""
