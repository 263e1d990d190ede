# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A TLS handshake with a host's own identity, as a service's peers will make it.

Used after a rotation: the peer must present the expected certificate, chain to the fleet
root and carry the expected name, and the server must accept the client's certificate. With
TLS 1.3 a server checks the client certificate after the client considers the handshake done,
so the probe then waits briefly for a rejection alert before it calls the handshake good.
"""

import hashlib
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import tempfile

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import cert_sha256, load_certificates
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError
from ansible_collections.iotsec.tls.plugins.module_utils.keys import openssl_tpm_args, tpm_env


def probe(address, port, server_name, ca_pem, cert_file=None, key_file=None,
          expect_sha256=None, tls13_only=False, timeout=10.0, settle=1.5):
    """Return {peer_sha256, protocol, cipher}; raise PKIError naming what failed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if tls13_only else ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=ca_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise PKIError("probe_ca", "the fleet CA chain cannot be loaded: %s" % exc,
                       "give the PEM chain of the fleet CA")
    if cert_file:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, IOError, OSError) as exc:
            raise PKIError("probe_identity", "the identity %s / %s cannot be loaded: %s"
                           % (cert_file, key_file, exc),
                           "check that key and certificate exist and match")
    where = "%s:%s (as %s)" % (address, port, server_name)
    try:
        sock = socket.create_connection((address, int(port)), timeout=timeout)
    except (IOError, OSError) as exc:
        raise PKIError("probe_connect", "cannot connect to %s: %s" % (where, exc),
                       "check that the service is running and listening")
    try:
        try:
            tls = context.wrap_socket(sock, server_hostname=server_name)
        except ssl.SSLCertVerificationError as exc:
            raise PKIError("probe_verify", "%s presents a certificate that does not verify: %s"
                           % (where, exc.verify_message or exc),
                           "the service must use a certificate of the fleet CA for this name")
        except (ssl.SSLError, IOError, OSError) as exc:
            raise PKIError("probe_handshake", "the TLS handshake with %s failed: %s" % (where, exc),
                           "check the service's TLS settings and this host's certificate")
        try:
            peer = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
            if expect_sha256 and peer != expect_sha256.replace(":", "").lower():
                raise PKIError("probe_peer", "%s presents certificate %s, not the new %s"
                               % (where, peer, expect_sha256),
                               "the service did not load the new certificate: reload it")
            if cert_file:
                tls.settimeout(settle)
                try:
                    data = tls.recv(1)
                except socket.timeout:
                    data = None  # no rejection: the server waits for the client to talk
                except (ssl.SSLError, IOError, OSError) as exc:
                    raise PKIError("probe_rejected", "%s rejected this host's certificate: %s"
                                   % (where, exc), "check the chain and EKU the server trusts")
                if data == b"":
                    raise PKIError("probe_rejected", "%s closed the connection after the handshake"
                                   % where, "check the chain and EKU the server trusts")
            return {"peer_sha256": peer, "protocol": tls.version(), "cipher": tls.cipher()[0]}
        finally:
            tls.close()
    finally:
        sock.close()


# Seconds the handshake itself may take with a key in a TPM, before the settle time starts.
TPM_HANDSHAKE_BUDGET = 1.0


def s_client_args(address, port, server_name, ca_file, cert_file, key_file, openssl="openssl"):
    """openssl s_client with the tpm2 provider, TLS 1.3 only (the provider cannot sign for TLS 1.2)."""
    host = "[%s]" % address if ":" in address else address
    args = openssl_tpm_args(openssl, "s_client") + [
        "-connect", "%s:%s" % (host, port), "-CAfile", ca_file, "-verify_return_error", "-tls1_3",
        "-cert", cert_file, "-key", key_file]
    try:
        ipaddress.ip_address(server_name)
        args += ["-verify_ip", server_name]
    except ValueError:
        args += ["-servername", server_name, "-verify_hostname", server_name]
    return args


def parse_s_client(rc, out, err, where, expect_sha256=None):
    """Judge one s_client run (see probe_tpm); return {peer_sha256, protocol, cipher}."""
    done = re.search(r"^New, (TLSv1\.3), Cipher is (\S+)", out, re.M)
    verify = re.search(r"Verify return code: (\d+) \(([^)]*)\)", out)
    detail = " ".join(line.strip() for line in err.strip().splitlines()
                      if "error" in line or "alert" in line or "errno" in line)[-500:] or "exit code %d" % rc
    if verify and verify.group(1) != "0":
        raise PKIError("probe_verify", "%s presents a certificate that does not verify: %s"
                       % (where, verify.group(2)),
                       "the service must use a certificate of the fleet CA for this name")
    if not done:
        if "connect:errno" in err or "Connection refused" in err or "gethostbyname" in err \
                or "BIO_lookup" in err or "connect error" in err:
            raise PKIError("probe_connect", "cannot connect to %s: %s" % (where, detail),
                           "check that the service is running and listening")
        raise PKIError("probe_handshake", "the TLS 1.3 handshake with %s using the TPM key failed: %s"
                       % (where, detail),
                       "check that the TPM answers, that the key blob belongs to it and that the "
                       "service accepts TLS 1.3")
    try:
        peer_cert = load_certificates(out, "the peer's certificate")[0]
    except PKIError:
        raise PKIError("probe_handshake", "%s sent no certificate that openssl printed" % where,
                       "check the service's TLS settings")
    peer = cert_sha256(peer_cert)
    if expect_sha256 and peer != expect_sha256.replace(":", "").lower():
        raise PKIError("probe_peer", "%s presents certificate %s, not the new %s"
                       % (where, peer, expect_sha256),
                       "the service did not load the new certificate: reload it")
    if rc != 0 or "alert" in err:
        raise PKIError("probe_rejected", "%s rejected this host's certificate: %s" % (where, detail),
                       "check the chain and EKU the server trusts")
    return {"peer_sha256": peer, "protocol": done.group(1), "cipher": done.group(2)}


def probe_tpm(address, port, server_name, ca_pem, cert_file, key_file, expect_sha256=None,
              tcti=None, timeout=10.0, settle=1.5, popen=None, openssl="openssl"):
    """The handshake of probe() for a client key inside a TPM.

    Python's ssl cannot use a TSS2 key blob, so OpenSSL's s_client does the handshake with the
    tpm2 provider, TLS 1.3 only. It stays connected for settle seconds after the handshake budget
    (a TLS 1.3 server rejects a client certificate after the client's Finished) and then closes;
    a rejection alert makes it fail and print the alert.
    """
    popen = popen or subprocess.Popen
    where = "%s:%s (as %s)" % (address, port, server_name)
    handle, ca_file = tempfile.mkstemp(prefix="iotsec-tls-probe-", suffix=".pem")
    try:
        with os.fdopen(handle, "w") as ca_out:
            ca_out.write(ca_pem)
        args = s_client_args(address, port, server_name, ca_file, cert_file, key_file, openssl)
        try:
            proc = popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=tpm_env(tcti))
        except (IOError, OSError) as exc:
            raise PKIError("probe_handshake", "cannot run %s s_client: %s" % (openssl, exc),
                           "install openssl and tpm2-openssl (the iotsec.tls.tpm role does)")
        try:
            # stdin stays open meanwhile (s_client's output is far below a pipe's buffer)
            proc.wait(timeout=TPM_HANDSHAKE_BUDGET + settle)
        except subprocess.TimeoutExpired:
            pass  # still connected and not rejected: communicate closes stdin and s_client quits
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise PKIError("probe_connect", "no answer from %s within %s seconds" % (where, timeout),
                           "check that the service is running and listening")
        return parse_s_client(proc.returncode, out.decode("utf-8", "replace"),
                              err.decode("utf-8", "replace"), where, expect_sha256)
    finally:
        os.unlink(ca_file)
