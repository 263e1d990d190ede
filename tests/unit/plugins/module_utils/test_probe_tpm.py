# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""probe_tpm: the handshake proof for a client key inside a TPM, through openssl s_client.

s_client is faked here with outputs of the real one (OpenSSL 3.0, Debian 12); the real
handshake with a TPM key runs in Molecule `tpm`.
"""

import os
import subprocess

import pytest

from ansible_collections.iotsec.tls.plugins.module_utils import probe as probe_mod
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import PKIError, cert_sha256, cert_to_pem

DONE = "---\nNew, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384\nVerify return code: 0 (ok)\n---\n"


def _out(cert, verify="0 (ok)"):
    return ("CONNECTED(00000003)\n---\nServer certificate\n%s---\nNew, TLSv1.3, Cipher is "
            "TLS_AES_256_GCM_SHA384\nVerify return code: %s\n---\n" % (cert_to_pem(cert), verify))


class FakeProc:
    def __init__(self, rc, out, err, runs_until_stdin_closes=True):
        self.returncode = rc
        self.out, self.err = out.encode(), err.encode()
        self.alive = runs_until_stdin_closes
        self.waited = None

    def wait(self, timeout=None):
        self.waited = timeout
        if self.alive:
            raise subprocess.TimeoutExpired("openssl", timeout)
        return self.returncode

    def communicate(self, timeout=None):
        return self.out, self.err


@pytest.fixture
def server(ca, pki):
    from cryptography.hazmat.primitives.asymmetric import ec
    return pki.sign(ca, ec.generate_private_key(ec.SECP256R1()).public_key())


def _run(proc, ca, expect=None, server_name="broker1", calls=None):
    def popen(args, **kwargs):
        if calls is not None:
            calls.append((args, kwargs))
            with open(args[args.index("-CAfile") + 1]) as handle:
                calls.append(handle.read())
        return proc
    return probe_mod.probe_tpm("broker1", 8883, server_name, "".join(cert_to_pem(c) for c in ca.chain),
                               "/id/fullchain.pem", "/id/key.pem", expect, "tabrmd:bus_type=system",
                               timeout=5, settle=1.5, popen=popen)


def test_good_handshake(ca, server):
    calls = []
    proc = FakeProc(0, _out(server), "depth=0 CN = broker1\nverify return:1\n")
    result = _run(proc, ca, expect=cert_sha256(server), calls=calls)
    assert result == {"peer_sha256": cert_sha256(server), "protocol": "TLSv1.3",
                      "cipher": "TLS_AES_256_GCM_SHA384"}
    args, kwargs = calls[0]
    assert args[:8] == ["openssl", "s_client", "-provider", "tpm2", "-provider", "default",
                        "-propquery", "?provider=tpm2,tpm2.digest!=yes"]
    for flag in ("-tls1_3", "-verify_return_error"):
        assert flag in args
    assert args[args.index("-key") + 1] == "/id/key.pem"
    assert args[args.index("-verify_hostname") + 1] == "broker1"
    assert kwargs["env"]["TPM2OPENSSL_TCTI"] == "tabrmd:bus_type=system"
    assert "BEGIN CERTIFICATE" in calls[1]
    assert proc.waited == probe_mod.TPM_HANDSHAKE_BUDGET + 1.5  # stayed for the settle time
    assert not os.path.exists(args[args.index("-CAfile") + 1])  # temporary CA file removed


def test_ip_server_name_is_verified_as_ip():
    args = probe_mod.s_client_args("10.0.0.1", 8883, "10.0.0.1", "/ca", "/c", "/k")
    assert args[args.index("-verify_ip") + 1] == "10.0.0.1" and "-servername" not in args
    assert "[::1]:8883" in probe_mod.s_client_args("::1", 8883, "::1", "/ca", "/c", "/k")


@pytest.mark.parametrize("rc,out_kind,err,check", [
    (1, "none", "BIO_connect:Connection refused\nconnect:errno=111\n", "probe_connect"),
    (1, "mismatch", "verify error:num=62:hostname mismatch\n", "probe_verify"),
    (1, "good", "error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:SSL alert number 48\n",
     "probe_rejected"),
    (1, "none", "error:4000000F:tpm2::cannot sign::-1:303 tpm:error(2.0)\n", "probe_handshake"),
])
def test_failures_are_named(ca, server, rc, out_kind, err, check):
    out = {"none": "CONNECTED(00000003)\n", "good": _out(server),
           "mismatch": _out(server, "62 (hostname mismatch)")}[out_kind]
    with pytest.raises(PKIError) as exc:
        _run(FakeProc(rc, out, err, runs_until_stdin_closes=False), ca)
    assert exc.value.check == check


def test_old_certificate_is_probe_peer(ca, server):
    with pytest.raises(PKIError) as exc:
        _run(FakeProc(0, _out(server), ""), ca, expect="00" * 32)
    assert exc.value.check == "probe_peer"
