# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A TLS handshake with a host's own identity, as a service's peers will make it.

Used after a rotation: the peer must present the expected certificate, chain to the fleet
root and carry the expected name, and the server must accept the client's certificate. With
TLS 1.3 a server checks the client certificate after the client considers the handshake done,
so the probe then waits briefly for a rejection alert before it calls the handshake good.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import socket
import ssl

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import PKIError


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
