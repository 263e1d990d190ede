# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The TLS probe against a real TLS server on loopback that requires client certificates."""

import os
import socket
import ssl
import threading

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import PKIError, cert_sha256, cert_to_pem
from ansible_collections.iotsec.tls.plugins.module_utils.probe import probe


def _write_identity(tmp_path, name, key, cert, chain):
    key_file = tmp_path / (name + ".key")
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_file = tmp_path / (name + ".pem")
    cert_file.write_text(cert_to_pem(cert) + "".join(cert_to_pem(c) for c in chain))
    return str(cert_file), str(key_file)


class Server:
    """A TLS 1.2/1.3 server on 127.0.0.1 requiring a client certificate of the fleet CA."""

    def __init__(self, cert_file, key_file, ca_pem, max_version=None):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.context.load_verify_locations(cadata=ca_pem)
        self.context.verify_mode = ssl.CERT_REQUIRED
        if max_version:
            self.context.maximum_version = max_version
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve)
        self.thread.daemon = True
        self.running = True
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._handle, args=(conn,))
            worker.daemon = True
            worker.start()

    def _handle(self, conn):
        conn.settimeout(5)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
            try:
                tls.recv(1)  # like a broker: wait for the client to talk
            except (socket.timeout, ssl.SSLError, OSError):
                pass
            tls.close()
        except (ssl.SSLError, OSError):
            conn.close()

    def stop(self):
        self.running = False
        self.thread.join(10)
        self.sock.close()


@pytest.fixture
def fleet(tmp_path, ca, pki):
    server_key = pki.new_key()
    server_cert = pki.sign(ca, server_key.public_key(), common_name="broker1",
                           dns_names=["broker1"], ip_addresses=["127.0.0.1"], profile="broker")
    server_files = _write_identity(tmp_path, "server", server_key, server_cert, ca.chain)
    client_key = pki.new_key()
    client_cert = pki.sign(ca, client_key.public_key(), common_name="dev1", dns_names=["dev1"])
    client_files = _write_identity(tmp_path, "client", client_key, client_cert, ca.chain)
    server = Server(server_files[0], server_files[1], ca.chain_pem)
    yield {"server": server, "server_cert": server_cert, "client": client_files}
    server.stop()


def test_good_handshake_with_expected_certificate(fleet, ca):
    result = probe("127.0.0.1", fleet["server"].port, "broker1", ca.chain_pem,
                   *fleet["client"], expect_sha256=cert_sha256(fleet["server_cert"]))
    assert result["peer_sha256"] == cert_sha256(fleet["server_cert"])
    assert result["protocol"] == "TLSv1.3"


def test_ip_san_verifies(fleet, ca):
    assert probe("127.0.0.1", fleet["server"].port, "127.0.0.1", ca.chain_pem, *fleet["client"])


def test_old_certificate_still_served_is_reported(fleet, ca):
    with pytest.raises(PKIError) as err:
        probe("127.0.0.1", fleet["server"].port, "broker1", ca.chain_pem, *fleet["client"],
              expect_sha256="00" * 32)
    assert err.value.check == "probe_peer"


def test_wrong_name_fails_verification(fleet, ca):
    with pytest.raises(PKIError) as err:
        probe("127.0.0.1", fleet["server"].port, "broker2", ca.chain_pem, *fleet["client"])
    assert err.value.check == "probe_verify"


def test_server_of_another_ca_fails_verification(fleet, other_ca):
    with pytest.raises(PKIError) as err:
        probe("127.0.0.1", fleet["server"].port, "broker1", other_ca.chain_pem, *fleet["client"])
    assert err.value.check == "probe_verify"


def test_client_of_another_ca_is_rejected_after_a_tls13_handshake(fleet, ca, other_ca, pki, tmp_path):
    key = pki.new_key()
    cert = pki.sign(other_ca, key.public_key(), common_name="intruder", dns_names=["intruder"])
    files = _write_identity(tmp_path, "intruder", key, cert, other_ca.chain)
    with pytest.raises(PKIError) as err:
        probe("127.0.0.1", fleet["server"].port, "broker1", ca.chain_pem, *files)
    assert err.value.check == "probe_rejected"


def test_client_rejected_during_a_tls12_handshake(tmp_path, ca, other_ca, pki):
    server_key = pki.new_key()
    server_cert = pki.sign(ca, server_key.public_key(), common_name="broker1",
                           dns_names=["broker1"], profile="broker")
    server = Server(*_write_identity(tmp_path, "s12", server_key, server_cert, ca.chain),
                    ca_pem=ca.chain_pem, max_version=ssl.TLSVersion.TLSv1_2)
    try:
        key = pki.new_key()
        cert = pki.sign(other_ca, key.public_key(), common_name="intruder", dns_names=["x"])
        with pytest.raises(PKIError) as err:
            probe("127.0.0.1", server.port, "broker1", ca.chain_pem,
                  *_write_identity(tmp_path, "intruder12", key, cert, other_ca.chain))
        assert err.value.check in ("probe_handshake", "probe_rejected")
        with pytest.raises(PKIError) as err:
            probe("127.0.0.1", server.port, "broker1", ca.chain_pem,
                  *_write_identity(tmp_path, "intruder12", key, cert, other_ca.chain),
                  tls13_only=True)
        assert err.value.check == "probe_handshake"
    finally:
        server.stop()


def test_nothing_listening():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(PKIError) as err:
        probe("127.0.0.1", port, "broker1", "", timeout=2)
    assert err.value.check in ("probe_ca", "probe_connect")


def test_missing_identity_files(fleet, ca, tmp_path):
    with pytest.raises(PKIError) as err:
        probe("127.0.0.1", fleet["server"].port, "broker1", ca.chain_pem,
              str(tmp_path / "none.pem"), str(tmp_path / "none.key"))
    assert err.value.check == "probe_identity"
    assert not os.path.exists(str(tmp_path / "none.pem"))
