"""The PKI core on real hosts: keys born on the devices, certificates from the controller's CA.

Runs after converge and idempotence, against every device instance (testinfra), with the
controller's view (CA directory, ledger, Ansible log) read from the scenario's ephemeral dir.
"""

import datetime
import json
import os
import sqlite3
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

IDENTITY = "/etc/iotsec-tls/identity"
EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
CA_DIR = os.path.join(EPHEMERAL, "ca")


def _name(host):
    return host.check_output("hostname")


def _cert(host):
    return x509.load_pem_x509_certificate(host.file(IDENTITY + "/cert.pem").content_string.encode())


def _root():
    with open(os.path.join(CA_DIR, "root.pem"), "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def _key_body(host):
    """The base64 lines of the device's private key (read on the device, for comparison only)."""
    pem = host.file(IDENTITY + "/key.pem").content_string
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def _broker(host):
    return _name(host).startswith("broker")


def test_key_is_private_and_owned_by_root(host):
    key = host.file(IDENTITY + "/current/key.pem")
    assert key.exists and key.is_file
    if _broker(host):  # the broker reloads as the mosquitto user
        assert key.mode == 0o640
        assert key.user == "root" and key.group == "mosquitto"
    else:
        assert key.mode == 0o600
        assert key.user == "root" and key.group == "root"
    assert host.file(IDENTITY + "/pending").mode == (0o750 if _broker(host) else 0o700)
    assert host.check_output("readlink -f %s/key.pem" % IDENTITY) == \
        host.check_output("readlink -f %s/current/key.pem" % IDENTITY)


def test_no_pending_key_left(host):
    assert not host.file(IDENTITY + "/pending/key.pem").exists


def test_key_matches_certificate(host):
    key_pub = host.check_output("openssl pkey -in %s/key.pem -pubout" % IDENTITY)
    cert_pub = host.check_output("openssl x509 -in %s/cert.pem -noout -pubkey" % IDENTITY)
    assert key_pub == cert_pub


def test_key_is_ecdsa_p256(host):
    cert = _cert(host)
    assert cert.public_key().curve.name == "secp256r1"


def test_chain_validates_to_the_controllers_root(host):
    cert = _cert(host)
    chain = x509.load_pem_x509_certificates(host.file(IDENTITY + "/chain.pem").content_string.encode())
    policy = PolicyBuilder().store(Store([_root()])).time(datetime.datetime.now(datetime.timezone.utc))
    if _broker(host):
        verified = policy.build_server_verifier(x509.DNSName(_name(host))).verify(cert, chain[:-1])
        assert verified[-1] == _root()
    else:
        # A single-label device has no SAN (docs/pki.md, How a host is named). cryptography's
        # verifier follows the Web PKI's rules, which want one, and says so; RFC 5280 does not.
        with pytest.raises(VerificationError, match="2.5.29.17"):
            policy.build_client_verifier().verify(cert, chain[:-1])
    # the host's own OpenSSL verifies the chain and the purpose
    purpose = "sslserver" if _broker(host) else "sslclient"
    host.run_expect([0], "openssl verify -purpose %s -CAfile %s/chain.pem %s/cert.pem"
                    % (purpose, IDENTITY, IDENTITY))


def test_subject_sans_and_eku_come_from_inventory(host):
    cert = _cert(host)
    name = _name(host)
    assert cert.subject.rfc4514_string() == "CN=%s,O=iotsec.tls fleet" % name
    if _broker(host):  # a single-label broker: the name its devices dial (no iotsec_tls_domain)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [name]
        assert san.get_values_for_type(x509.IPAddress) == []
    else:  # a single-label device: identified by its CN, no dNSName that RFC 5280 would refuse
        with pytest.raises(x509.ExtensionNotFound):
            cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH if _broker(host)
                         else ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == datetime.timedelta(minutes=20, seconds=60)  # 20m + 60 s backdate


def test_serial_is_on_the_ledger(host):
    cert = _cert(host)
    serial = "%X" % cert.serial_number
    serial = ("0" + serial) if len(serial) % 2 else serial
    db = sqlite3.connect(os.path.join(CA_DIR, "ledger.sqlite3"))
    rows = db.execute("SELECT host, status, not_after FROM certificates WHERE serial = ?",
                      (serial,)).fetchall()
    assert rows == [(_name(host), "valid", cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    # one valid certificate per host
    valid = db.execute("SELECT count(*) FROM certificates WHERE host = ? AND status = 'valid'",
                       (_name(host),)).fetchone()[0]
    assert valid == 1


def test_ca_files_are_protected():
    assert os.stat(CA_DIR).st_mode & 0o777 == 0o700
    for name in ("root.key", "issuing.key", "ledger.sqlite3"):
        assert os.stat(os.path.join(CA_DIR, name)).st_mode & 0o777 == 0o600, name
    for name in ("root.key", "issuing.key"):
        with open(os.path.join(CA_DIR, name), "rb") as handle:
            data = handle.read()
        assert b"ENCRYPTED PRIVATE KEY" in data
        with pytest.raises(TypeError):
            serialization.load_pem_private_key(data, password=None)


def test_no_private_key_in_ansible_output_or_on_the_controller(host):
    body = _key_body(host)
    assert len(body) >= 2
    with open(os.path.join(EPHEMERAL, "ansible.log"), encoding="utf-8", errors="replace") as handle:
        log = handle.read()
    assert "Devices" in log and "MQTT brokers" in log  # the log did capture the converge run
    assert "PRIVATE KEY" not in log
    passphrase = os.environ["IOTSEC_TLS_TEST_CA_PASSPHRASE"]
    assert len(passphrase) >= 12
    assert passphrase not in log
    for line in body:
        assert line not in log
    # the device key exists nowhere on the controller's side of the scenario
    for root, _dirs, files in os.walk(EPHEMERAL):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or os.path.getsize(path) > 50_000_000:
                continue
            with open(path, "rb") as handle:
                data = handle.read()
            assert body[0].encode() not in data, path


def test_rfc5280_lint_of_the_certificate_in_service(host, tmp_path):
    """pkilint's RFC 5280 linter, as a user runs it, on the certificate each host serves: clean on
    devices; on the single-label broker only the finding that the CA warned about in the run."""
    pem = tmp_path / "cert.pem"
    pem.write_text(host.file(IDENTITY + "/cert.pem").content_string)
    lint = subprocess.run(["lint_pkix_cert", "lint", "-s", "ERROR", "-f", "JSON", str(pem)],
                          capture_output=True, text=True, check=False)
    codes = sorted({finding["code"] for result in json.loads(lint.stdout)["results"]
                    for finding in result.get("finding_descriptions", [])})
    if _broker(host):
        assert codes == ["pkix.invalid_domain_name_syntax"], lint.stdout
        with open(os.path.join(EPHEMERAL, "ansible.log"), encoding="utf-8") as log:
            assert "%s: the DNS name '%s' is a single label" % (_name(host), _name(host)) in " ".join(log.read().split())
    else:
        assert codes == [], lint.stdout
