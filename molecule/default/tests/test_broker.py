"""The hardened broker with real clients: mutual TLS, per-device ACL, refusals, Mozilla profiles,
restart on listener changes and reload (keeping connections) on a new certificate.

Runs once per scenario run (no `host` fixture): it drives the containers itself.
"""

import datetime
import os
import re
import subprocess
import time
import uuid

import mozilla_scan
import pytest
import testinfra
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
CA_DIR = os.path.join(EPHEMERAL, "ca")
INVENTORY = os.path.join(EPHEMERAL, "inventory")
NO_CONFIG = "env HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent "


def _host(name):
    return testinfra.get_host("podman://" + name)


def _broker_ip():
    out = subprocess.check_output(
        ["podman", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
         "broker1"], text=True).strip()
    assert out
    return out


def _main_pid():
    return _host("broker1").check_output("systemctl show -p MainPID --value mosquitto")


def _playbook(playbook, *extra, limit="broker1,localhost"):
    cmd = ["ansible-playbook", "-i", INVENTORY, playbook, "-l", limit]
    for item in extra:
        cmd += ["-e", item]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def _sign(common_name, ca_cert, ca_key, not_before, not_after, eku=ExtendedKeyUsageOID.CLIENT_AUTH):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def _fleet_ca():
    with open(os.path.join(CA_DIR, "issuing.pem"), "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(os.path.join(CA_DIR, "issuing.key"), "rb") as handle:
        key = serialization.load_pem_private_key(
            handle.read(), os.environ["IOTSEC_TLS_TEST_CA_PASSPHRASE"].encode())
    with open(os.path.join(CA_DIR, "chain.pem"), "rb") as handle:
        chain = handle.read()
    return cert, key, chain


def _write(tmp_path, name, key, cert, chain=b""):
    key_file = tmp_path / (name + ".key")
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_file = tmp_path / (name + ".pem")
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + chain)
    return str(cert_file), str(key_file)


def _to_device(files, device="device1"):
    """Copy test-only client material (never a device's own key) into a device container."""
    out = []
    for path in files:
        dest = "/tmp/" + os.path.basename(path)
        subprocess.run(["podman", "cp", path, "%s:%s" % (device, dest)], check=True)
        out.append(dest)
    return out


@pytest.fixture(scope="module")
def now():
    return datetime.datetime.now(datetime.timezone.utc)


@pytest.fixture(scope="module")
def scanner(tmp_path_factory, now):
    """A client identity of the fleet CA for the controller's scans (test-only, made here)."""
    cert, key, chain = _fleet_ca()
    tmp = tmp_path_factory.mktemp("scanner")
    client_key, client_cert = _sign("scanner", cert, key, now - datetime.timedelta(minutes=1),
                                    now + datetime.timedelta(hours=1))
    files = _write(tmp, "scanner", client_key, client_cert, chain)
    ca_file = tmp / "fleet-ca.pem"
    ca_file.write_bytes(chain)
    return files + (str(ca_file),)


def _publish(device, topic, payload):
    return _host(device).run("mosquitto_pub -t %s -m %s" % (topic, payload))


def _receive(device, topic, seconds, args=""):
    """Start a subscriber in the background; return a function that collects what it got.
    Without args it uses the device's own ready options (~/.config/mosquitto_sub)."""
    marker = "/tmp/sub-" + uuid.uuid4().hex
    command = (NO_CONFIG + "mosquitto_sub " + args) if args else "mosquitto_sub"
    _host(device).run_expect([0], "(%s -t '%s' -W %d -v > %s 2>&1; echo rc=$? >> %s) "
                                  "> /dev/null 2>&1 &" % (command, topic, seconds, marker, marker))
    time.sleep(1.0)

    def collect():
        for _attempt in range(int(seconds * 10) + 50):
            out = _host(device).run("cat %s" % marker).stdout
            if "rc=" in out:
                return out
            time.sleep(0.1)
        raise AssertionError("subscriber on %s did not finish" % device)
    return collect


def test_device_publishes_over_mutual_tls_and_subscriber_gets_exactly_that():
    payload = "t-" + uuid.uuid4().hex
    collect = _receive("device1", "devices/device1/#", 4)
    assert _publish("device1", "devices/device1/temperature", payload).rc == 0
    got = collect()
    assert got.splitlines()[0] == "devices/device1/temperature %s" % payload, got


def test_device_cannot_publish_to_another_devices_topic():
    payload = "x-" + uuid.uuid4().hex
    collect = _receive("device2", "devices/device2/#", 3)
    _publish("device1", "devices/device2/temperature", payload)  # MQTT 3.1.1: silently dropped
    got = collect()
    assert payload not in got
    # the control: device2's own publication does arrive
    collect = _receive("device2", "devices/device2/#", 3)
    assert _publish("device2", "devices/device2/temperature", payload).rc == 0
    assert payload in collect()


def test_refused_without_client_certificate():
    result = _host("device1").run(NO_CONFIG + "mosquitto_pub -h broker1 -p 8883 --cafile "
                                  "/etc/iotsec-tls/fleet-ca.pem -t devices/device1/x -m nocert")
    assert result.rc != 0, result.stdout + result.stderr


def test_refused_plaintext_to_the_tls_port():
    result = _host("device1").run(NO_CONFIG + "mosquitto_pub -h broker1 -p 8883 -t devices/device1/x "
                                  "-m plain")
    assert result.rc != 0


def _refused_identity(tmp_path, name, key, cert, chain):
    files = _to_device(_write(tmp_path, name, key, cert, chain))
    payload = name + "-" + uuid.uuid4().hex
    collect = _receive("device2", "devices/#", 3, args=_backend_options(tmp_path))
    result = _host("device1").run(
        NO_CONFIG + "mosquitto_pub -h broker1 -p 8883 --cafile /etc/iotsec-tls/fleet-ca.pem "
        "--cert %s --key %s -t devices/%s/x -m %s" % (files[0], files[1], name, payload))
    got = collect()
    assert result.rc != 0, result.stdout + result.stderr
    assert payload not in got


_BACKEND = {}


def _backend_options(tmp_path):
    """A backend consumer (ACL: read devices/#) on device2, with a fleet certificate made here."""
    if not _BACKEND:
        cert, key, chain = _fleet_ca()
        now = datetime.datetime.now(datetime.timezone.utc)
        bkey, bcert = _sign("backend", cert, key, now - datetime.timedelta(minutes=1),
                            now + datetime.timedelta(hours=1))
        files = _to_device(_write(tmp_path, "backend", bkey, bcert, chain), device="device2")
        _BACKEND["opts"] = ("-h broker1 -p 8883 --cafile /etc/iotsec-tls/fleet-ca.pem "
                            "--cert %s --key %s" % tuple(files))
    return _BACKEND["opts"]


def test_refused_certificate_of_another_ca(tmp_path, now):
    other_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other CA")])
    other_ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(other_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(other_key, hashes.SHA256()))
    key, cert = _sign("intruder", other_ca, other_key, now - datetime.timedelta(minutes=1),
                      now + datetime.timedelta(hours=1))
    _refused_identity(tmp_path, "intruder", key, cert,
                      other_ca.public_bytes(serialization.Encoding.PEM))


def test_refused_expired_certificate_of_the_fleet_ca(tmp_path, now):
    cert, key, chain = _fleet_ca()
    ekey, ecert = _sign("expired", cert, key, now - datetime.timedelta(hours=2),
                        now - datetime.timedelta(hours=1))
    _refused_identity(tmp_path, "expired", ekey, ecert, chain)


def test_the_backend_consumer_reads_every_device(tmp_path):
    payload = "b-" + uuid.uuid4().hex
    collect = _receive("device2", "devices/#", 3, args=_backend_options(tmp_path))
    assert _publish("device1", "devices/device1/temperature", payload).rc == 0
    assert "devices/device1/temperature %s" % payload in collect()


def _scan(scanner):
    cert, key, ca_file = scanner
    return mozilla_scan.scan("broker1", _broker_ip(), 8883, cert, key, ca_file)


def test_listener_is_mozilla_intermediate_and_refuses_tls10_tls11(scanner):
    result = _scan(scanner)
    assert mozilla_scan.check(result, "intermediate") == {}
    # the checker is not a no-op: the same listener is not "modern" (it offers TLS 1.2)
    assert "tls_versions" in mozilla_scan.check(result, "modern")
    for field in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites",
                  "tls_1_1_cipher_suites"):
        assert mozilla_scan.accepted(result, field) == [], field
    assert mozilla_scan.accepted(result, "tls_1_2_cipher_suites")
    assert mozilla_scan.accepted(result, "tls_1_3_cipher_suites")


def test_profile_change_restarts_and_modern_is_compliant(scanner):
    before = _main_pid()
    try:
        _playbook("iotsec.tls.site", "mosquitto_profile=modern")
        assert _main_pid() != before  # listener change: restarted
        result = _scan(scanner)
        assert mozilla_scan.check(result, "modern") == {}
        assert mozilla_scan.accepted(result, "tls_1_2_cipher_suites") == []
        assert mozilla_scan.accepted(result, "tls_1_3_cipher_suites")
    finally:
        _playbook("iotsec.tls.site")
    assert mozilla_scan.check(_scan(scanner), "intermediate") == {}


def test_broken_template_value_is_refused_and_the_broker_keeps_running():
    before = _main_pid()
    config = _host("broker1").check_output("sha256sum /etc/mosquitto/conf.d/iotsec-tls.conf")
    cmd = ["ansible-playbook", "-i", INVENTORY, "iotsec.tls.site", "-l", "broker1,localhost",
           "-e", "{\"tls_profile_profiles\": {\"intermediate\": {\"min_protocol\": \"TLSv1.2\", "
                 "\"mosquitto_tls_version\": \"tlsv1.2\", \"ciphers_tls12\": \"NO-SUCH-CIPHER\", "
                 "\"ciphersuites_tls13\": \"TLS_AES_128_GCM_SHA256\", \"groups\": \"X25519\"}, "
                 "\"modern\": {}}}"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    assert result.returncode != 0
    assert "fatal: [broker1]" in output
    assert "mosquitto refused the configuration" in output
    assert "Unable to set TLS ciphers" in output  # the broker's own words, naming the value
    assert _host("broker1").check_output("sha256sum /etc/mosquitto/conf.d/iotsec-tls.conf") == config
    assert _main_pid() == before
    assert _host("broker1").run("systemctl is-active mosquitto").stdout.strip() == "active"
    # still serving: a device publishes and reads back
    payload = "after-" + uuid.uuid4().hex
    collect = _receive("device1", "devices/device1/#", 3)
    assert _publish("device1", "devices/device1/t", payload).rc == 0
    assert payload in collect()


def test_new_certificate_reloads_and_keeps_connected_subscribers(tmp_path):
    broker = _host("broker1")
    before_pid = _main_pid()
    before_cert = broker.check_output("sha256sum /etc/iotsec-tls/identity/cert.pem")
    # -C 1: the subscriber stays connected across the rotation until one message arrives
    collect = _receive("device2", "devices/#", 300, args=_backend_options(tmp_path) + " -C 1")
    out = _playbook("iotsec.tls.rotate", "device_identity_renew_before=0.99999")
    assert "rotated (1): broker1" in out, out[-3000:]
    assert broker.check_output("sha256sum /etc/iotsec-tls/identity/cert.pem") != before_cert
    assert _main_pid() == before_pid  # reloaded, not restarted
    # the broker serves its new certificate
    served = _host("device1").check_output(
        "openssl s_client -connect broker1:8883 -servername broker1 -CAfile /etc/iotsec-tls/fleet-ca.pem "
        "-cert /etc/iotsec-tls/identity/fullchain.pem -key /etc/iotsec-tls/identity/key.pem "
        "</dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256")
    installed = broker.check_output("openssl x509 -in /etc/iotsec-tls/identity/cert.pem -noout "
                                    "-fingerprint -sha256")
    assert served == installed
    payload = "r-" + uuid.uuid4().hex
    assert _publish("device1", "devices/device1/t", payload).rc == 0
    got = collect()
    assert "devices/device1/t %s" % payload in got, got  # the subscriber from before the reload
