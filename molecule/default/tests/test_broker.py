"""The hardened broker with real clients: mutual TLS, per-device ACL, refusals proven by what the
server sends, Mozilla profiles checked by sslyze, validation before replacement, and restart on
listener changes versus reload (keeping connections) on a new certificate.

Runs once per scenario run (no `host` fixture): it drives the containers itself. The tests run in
file order; the last one switches the broker to the modern profile and leaves it there.
Clients on the controller talk only to the broker container's address on the podman network.
"""

import datetime
import json
import os
import re
import ssl
import subprocess
import time
import uuid

import mozilla_scan
import mqtt_raw
import pytest
import scenario_tools
import testinfra
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
CA_DIR = os.path.join(EPHEMERAL, "ca")
INVENTORY = os.path.join(EPHEMERAL, "inventory")
NO_CONFIG = "env HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent "
IDENTITY = "/etc/iotsec-tls/identity"
BROKER_CONFIG = "/etc/mosquitto/conf.d/iotsec-tls.conf"
PROFILES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "tls_profile",
                        "defaults", "main.yml")


def _host(name):
    return testinfra.get_host("podman://" + name)


def _broker_ip():
    out = subprocess.check_output(
        ["podman", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
         "broker1"], text=True).strip()
    assert out
    return out


def _main_pid():
    pid = _host("broker1").check_output("systemctl show -p MainPID --value mosquitto")
    assert pid != "0", "mosquitto is not running"
    return pid


def _config_sum():
    return _host("broker1").check_output("sha256sum %s /etc/mosquitto/iotsec-tls-openssl.cnf "
                                         "/etc/mosquitto/iotsec-tls.acl" % BROKER_CONFIG)


def _run_playbook(playbook, *extra, limit="broker1,localhost", check=False):
    cmd = ["ansible-playbook", "-i", INVENTORY, playbook, "-l", limit]
    if check:
        cmd += ["--check", "--diff"]
    for item in extra:
        cmd += ["-e", item]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    return result.returncode, re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def _playbook(playbook, *extra, **kwargs):
    returncode, output = _run_playbook(playbook, *extra, **kwargs)
    assert returncode == 0, output[-6000:]
    return output


def _recap(output, host):
    match = re.search(r"^%s\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % host,
                      output, re.M)
    assert match, output[-3000:]
    return {"changed": int(match.group(1)), "unreachable": int(match.group(2)),
            "failed": int(match.group(3))}


# --- test identities, signed here (never a device's own key) -------------------------------------

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
    return scenario_tools.fleet_ca(CA_DIR)


def _write(directory, name, key, cert, chain=b""):
    key_file = directory / (name + ".key")
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_file = directory / (name + ".pem")
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + chain)
    return str(cert_file), str(key_file)


def _to_device(files, device):
    """Copy test-only client material into a device container."""
    out = []
    for path in files:
        dest = "/tmp/" + os.path.basename(path)
        subprocess.run(["podman", "cp", path, "%s:%s" % (device, dest)], check=True)
        out.append(dest)
    return out


@pytest.fixture(scope="module")
def identities(tmp_path_factory):
    """Client identities made for the tests: fleet-CA ones (scanner, backend), an expired one of
    the fleet CA, one of another CA; plus the fleet CA file."""
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key, chain = _fleet_ca()
    tmp = tmp_path_factory.mktemp("identities")
    out = {}
    for name in ("scanner", "backend"):
        ikey, icert = _sign(name, cert, key, now - datetime.timedelta(minutes=1),
                            now + datetime.timedelta(hours=1))
        out[name] = _write(tmp, name, ikey, icert, chain)
    ekey, ecert = _sign("expired", cert, key, now - datetime.timedelta(hours=2),
                        now - datetime.timedelta(hours=1))
    out["expired"] = _write(tmp, "expired", ekey, ecert, chain)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other CA")])
    other_ca = (x509.CertificateBuilder().subject_name(other_name).issuer_name(other_name)
                .public_key(other_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(other_key, hashes.SHA256()))
    # named like a fleet device, so only the issuer differs
    ikey, icert = _sign("device1", other_ca, other_key, now - datetime.timedelta(minutes=1),
                        now + datetime.timedelta(hours=1))
    out["other_ca"] = _write(tmp, "other-ca-device1", ikey, icert,
                             other_ca.public_bytes(serialization.Encoding.PEM))
    ca_file = tmp / "fleet-ca.pem"
    ca_file.write_bytes(chain)
    out["ca"] = str(ca_file)
    return out


def _session(identities, name, expect_refusal=False, client_id=None, clean=True, **tls):
    cert, key = identities[name] if name else (None, None)
    ctx = mqtt_raw.context(identities["ca"], cert, key, **tls)
    return mqtt_raw.open_session(_broker_ip(), 8883, ctx, "broker1",
                                 client_id or "test-%s-%s" % (name, uuid.uuid4().hex[:8]),
                                 expect_refusal=expect_refusal, clean=clean)


def _refusal(identities, name, **tls):
    with pytest.raises(mqtt_raw.Refused) as refused:
        _session(identities, name, expect_refusal=True, **tls)
    return refused.value.reason


# --- mosquitto clients on the devices, with the options device_tls wrote ------------------------

def _publish(device, topic, payload, qos=0):
    return _host(device).run("mosquitto_pub -q %d -t %s -m %s" % (qos, topic, payload))


def _round_trip(device, topic, payload):
    """The device subscribes to topic and publishes payload to it on one connection (the broker
    allows one per identity): mosquitto_rr with the device's ready options. Returns the result."""
    return _host(device).run("mosquitto_rr -t %s -e %s -m %s -W 5" % (topic, topic, payload))


# --- the tests ------------------------------------------------------------------------------------

def test_device_publishes_over_mutual_tls_and_subscriber_gets_exactly_that(identities):
    payload = "t-" + uuid.uuid4().hex
    backend = _session(identities, "backend")
    try:
        mqtt_raw.subscribe(backend, "devices/device1/#")
        assert _publish("device1", "devices/device1/temperature", payload).rc == 0
        got = mqtt_raw.messages(backend, 2)
    finally:
        mqtt_raw.disconnect(backend)
    assert got == [("devices/device1/temperature", payload)], got


def test_a_device_subscribes_and_publishes_on_its_one_connection():
    payload = "rr-" + uuid.uuid4().hex
    result = _round_trip("device1", "devices/device1/echo", payload)
    assert result.rc == 0 and result.stdout.strip() == payload, (result.stdout, result.stderr)


def test_device_cannot_publish_to_another_devices_topic(identities):
    backend = _session(identities, "backend")
    try:
        mqtt_raw.subscribe(backend, "devices/#")
        payload = "x-" + uuid.uuid4().hex
        _publish("device1", "devices/device2/temperature", payload)  # MQTT 3.1.1: silently dropped
        # the control: device2's own publication does arrive, on the same subscription
        _publish("device2", "devices/device2/temperature", "own-" + payload)
        got = mqtt_raw.messages(backend, 2)
    finally:
        mqtt_raw.disconnect(backend)
    assert ("devices/device2/temperature", "own-" + payload) in got, got
    assert not [m for m in got if m[1] == payload], got


def test_the_broker_verifies_client_certificates(identities):
    """Each refusal is the alert the broker sent; the control is the fleet identity that works."""
    mqtt_raw.disconnect(_session(identities, "scanner"))
    assert _refusal(identities, None) == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert _refusal(identities, "other_ca") == "TLSV1_ALERT_UNKNOWN_CA"
    assert _refusal(identities, "expired") == "SSLV3_ALERT_CERTIFICATE_EXPIRED"
    # the same refusals under TLS 1.2, where the certificate is checked inside the handshake
    tls12 = dict(maximum=ssl.TLSVersion.TLSv1_2)
    mqtt_raw.disconnect(_session(identities, "scanner", **tls12))
    assert _refusal(identities, None, **tls12) == "SSLV3_ALERT_HANDSHAKE_FAILURE"
    assert _refusal(identities, "other_ca", **tls12) == "TLSV1_ALERT_UNKNOWN_CA"
    assert _refusal(identities, "expired", **tls12) == "SSLV3_ALERT_CERTIFICATE_EXPIRED"


def test_refused_identities_deliver_nothing(identities, tmp_path):
    """mosquitto_pub on device1 with the refused identities: nothing reaches a subscriber."""
    backend = _session(identities, "backend")
    try:
        mqtt_raw.subscribe(backend, "#")
        marker = uuid.uuid4().hex
        results = {}
        for name in ("other_ca", "expired"):
            cert, key = _to_device(identities[name], "device1")
            results[name] = _host("device1").run(
                NO_CONFIG + "mosquitto_pub -h broker1 -p 8883 --cafile /etc/iotsec-tls/fleet-ca.pem "
                "--cert %s --key %s -t devices/device1/x -m %s-%s" % (cert, key, name, marker))
        results["no-cert"] = _host("device1").run(
            NO_CONFIG + "mosquitto_pub -h broker1 -p 8883 --cafile /etc/iotsec-tls/fleet-ca.pem "
            "-t devices/device1/x -m no-cert-" + marker)
        results["plaintext"] = _host("device1").run(
            NO_CONFIG + "mosquitto_pub -h broker1 -p 8883 -t devices/device1/x -m plain-" + marker)
        # the control: device1's own identity on the same subscription
        assert _publish("device1", "devices/device1/x", "own-" + marker).rc == 0
        got = mqtt_raw.messages(backend, 2)
    finally:
        mqtt_raw.disconnect(backend)
    for name, result in results.items():
        assert result.rc != 0, (name, result.stdout, result.stderr)
    assert ("devices/device1/x", "own-" + marker) in got, got
    assert [m for m in got if marker in m[1]] == [("devices/device1/x", "own-" + marker)], got


def test_the_broker_serves_leaf_and_issuing_ca_not_the_root(identities):
    """The chain the broker sends (openssl s_client -showcerts from a device) holds the broker's
    certificate and the issuing CA; the root, a trust anchor the peer has, is left out."""
    out = _host("device1").check_output(
        "openssl s_client -connect broker1:8883 -servername broker1 -showcerts "
        "-CAfile /etc/iotsec-tls/fleet-ca.pem -cert %s/fullchain.pem -key %s/key.pem "
        "</dev/null 2>/dev/null" % (IDENTITY, IDENTITY))
    served = x509.load_pem_x509_certificates(
        "".join(re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", out, re.S))
        .encode())
    issuing = _fleet_ca()[0]
    assert [c.issuer for c in served] == [issuing.subject, issuing.issuer], out
    assert served[1] == issuing
    assert all(c.issuer != c.subject for c in served)


def test_another_identitys_client_id_cannot_end_its_connection(identities):
    """The client id is the certificate's CN: scanner sending backend's client id gets a session
    of its own, and backend's live connection stays open."""
    victim = _session(identities, "backend", client_id="backend")
    try:
        attacker = _session(identities, "scanner", client_id="backend")
        try:
            assert mqtt_raw.ping(attacker)
            assert mqtt_raw.ping(victim)  # without the binding, the broker closed it here
        finally:
            mqtt_raw.disconnect(attacker)
        assert mqtt_raw.ping(victim)
    finally:
        mqtt_raw.disconnect(victim)


def test_another_identitys_client_id_cannot_take_its_saved_session(identities):
    """backend's persistent session with queued QoS 1 messages survives scanner connecting with
    backend's client id and clean_session=0: backend gets all of them afterwards."""
    victim = _session(identities, "backend", client_id="backend", clean=False)
    mqtt_raw.subscribe(victim, "devices/device1/queued", qos=1)
    mqtt_raw.disconnect(victim)
    payloads = ["q%d-%s" % (i, uuid.uuid4().hex[:8]) for i in range(3)]
    for payload in payloads:
        assert _publish("device1", "devices/device1/queued", payload, qos=1).rc == 0
    attacker = _session(identities, "scanner", client_id="backend", clean=False)
    try:
        stolen = mqtt_raw.messages(attacker, 2)
    finally:
        mqtt_raw.disconnect(attacker)
    assert stolen == []
    victim = _session(identities, "backend", client_id="anything", clean=False)
    try:
        got = mqtt_raw.messages(victim, 3)
    finally:
        mqtt_raw.disconnect(victim)
        # leave no persistent session behind: a clean session of the same identity ends it
        mqtt_raw.disconnect(_session(identities, "backend"))
    assert got == [("devices/device1/queued", p) for p in payloads], got


def test_one_connection_per_identity_the_documented_cost(identities):
    """A second connection with the same certificate replaces the first, whatever client ids
    both sent (docs/broker.md, Client ids)."""
    first = _session(identities, "scanner", client_id="scanner-a")
    second = _session(identities, "scanner", client_id="scanner-b")
    try:
        assert mqtt_raw.ping(second)
        with pytest.raises(OSError) as closed:  # the broker closed it: EOF, not a silence
            mqtt_raw.ping(first)
        assert not isinstance(closed.value, TimeoutError), closed.value
    finally:
        mqtt_raw.disconnect(second)
        first.close()


def test_plaintext_mqtt_to_the_tls_port_gets_no_connack():
    import socket
    sock = socket.create_connection((_broker_ip(), 8883), timeout=5)
    try:
        sock.sendall(mqtt_raw.connect_packet("plaintext"))
        reply = b""
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        sock.close()
    # a TLS alert record (0x15) or nothing, never an MQTT CONNACK (0x20)
    assert not reply.startswith(b"\x20"), reply
    assert reply == b"" or reply[0] == 0x15, reply


def test_the_broker_refuses_tls10_and_tls11(identities):
    """The client offers TLS 1.0 / 1.1 with every cipher (SECLEVEL 0): the broker answers with a
    protocol_version alert, so it is the server that refuses."""
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        reason = _refusal(identities, "scanner", minimum=version, maximum=version,
                          ciphers="ALL:@SECLEVEL=0")
        assert reason == "TLSV1_ALERT_PROTOCOL_VERSION", (version, reason)


def test_only_the_tls_listener_is_open():
    listening = _host("broker1").check_output("ss -Hltn")
    addresses = [line.split()[3] for line in listening.splitlines()]
    assert addresses, listening
    assert all(address.endswith(":8883") for address in addresses), listening


def test_broker_key_is_readable_by_mosquitto_only():
    broker = _host("broker1")
    key = broker.file(IDENTITY + "/current/key.pem")
    assert (key.mode, key.user, key.group) == (0o640, "root", "mosquitto")
    acl = broker.file("/etc/mosquitto/iotsec-tls.acl")
    assert (acl.mode, acl.user, acl.group) == (0o600, "mosquitto", "mosquitto")
    assert "pattern readwrite devices/%u/#" in acl.content_string
    unit = broker.check_output("systemctl show -p Environment --value mosquitto")
    assert "OPENSSL_CONF=/etc/mosquitto/iotsec-tls-openssl.cnf" in unit
    assert broker.check_output("systemctl is-enabled mosquitto") == "enabled"


def _scan(identities):
    cert, key = identities["scanner"]
    return mozilla_scan.scan("broker1", _broker_ip(), 8883, cert, key, identities["ca"])


def test_listener_is_mozilla_intermediate(identities):
    result = _scan(identities)
    assert mozilla_scan.check(result, "intermediate") == {}
    # the checker is not a no-op: the same listener is not "modern" (it offers TLS 1.2)
    assert "tls_versions" in mozilla_scan.check(result, "modern")
    for field in ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites",
                  "tls_1_1_cipher_suites"):
        assert mozilla_scan.accepted(result, field) == [], field
    assert mozilla_scan.accepted(result, "tls_1_2_cipher_suites")
    assert mozilla_scan.accepted(result, "tls_1_3_cipher_suites")
    # groups come from the service's OPENSSL_CONF: exactly X25519, P-256, P-384
    assert mozilla_scan.groups(result) == {"X25519", "secp256r1", "secp384r1"}


def _profiles_with(profile, **changes):
    with open(PROFILES) as handle:
        profiles = yaml.safe_load(handle)["tls_profile_profiles"]
    profiles[profile].update(changes)
    return json.dumps({"tls_profile_profiles": profiles})


def _check_failures(output):
    """The role's own failure message for broker1 (Ansible also prints the failed task's result)."""
    fatal = [line for line in output.splitlines()
             if line.startswith("fatal: [broker1]") and "(check: " in line]
    assert len(fatal) == 1, output[-4000:]
    return fatal


def _assert_broker_as_it_was(identities, pid, config):
    assert _config_sum() == config
    assert _main_pid() == pid
    mqtt_raw.disconnect(_session(identities, "scanner"))


def test_broken_template_value_is_refused_and_the_broker_keeps_running(identities):
    pid, config = _main_pid(), _config_sum()
    returncode, output = _run_playbook("iotsec.tls.site",
                                       _profiles_with("intermediate", ciphers_tls12="NO-SUCH-CIPHER"))
    assert returncode != 0
    fatal = _check_failures(output)
    assert "broker1: write the tls listener failed (check: mosquitto_config)" in fatal[0]
    assert "Unable to set TLS ciphers" in fatal[0]  # Mosquitto's own words
    assert "was neither restarted nor reloaded" in fatal[0]
    assert "RUNNING HANDLER" not in output
    _assert_broker_as_it_was(identities, pid, config)


def test_unreadable_certificate_is_refused_and_the_broker_keeps_running(identities):
    """The broker's certificate made unreadable for the mosquitto user, then a listener change:
    the trial broker cannot load it, so the new listener is refused and the broker untouched."""
    broker = _host("broker1")
    pid, config = _main_pid(), _config_sum()
    cert = broker.check_output("readlink -f %s/cert.pem" % IDENTITY).replace("/cert.pem", "/fullchain.pem")
    mode = broker.check_output("stat -c %%a %s" % cert)
    broker.run_expect([0], "chmod 0600 %s" % cert)
    try:
        returncode, output = _run_playbook("iotsec.tls.site", "iotsec_tls_profile=modern")
    finally:
        broker.run_expect([0], "chmod %s %s" % (mode, cert))
    assert returncode != 0
    fatal = _check_failures(output)
    assert "broker1: write the tls listener failed (check: mosquitto_config)" in fatal[0]
    assert "Unable to load server certificate" in fatal[0], fatal[0]
    assert "readable by the mosquitto user" in fatal[0]
    _assert_broker_as_it_was(identities, pid, config)


def test_check_mode_reports_a_profile_change_and_changes_nothing(identities):
    pid, config = _main_pid(), _config_sum()
    output = _playbook("iotsec.tls.site", "iotsec_tls_profile=modern", check=True)
    assert _recap(output, "broker1")["changed"] >= 1
    assert "+tls_version tlsv1.3" in output  # the diff of the listener
    _assert_broker_as_it_was(identities, pid, config)


def test_new_certificate_reloads_and_keeps_connected_clients(identities):
    """site.yml with a renewal forced: the broker gets a new certificate; the handler reloads it
    (same MainPID) and a subscriber connected before is still on the same connection after."""
    broker = _host("broker1")
    pid = _main_pid()
    before_cert = broker.check_output("sha256sum %s/cert.pem" % IDENTITY)
    subscriber = _session(identities, "backend")
    try:
        mqtt_raw.subscribe(subscriber, "devices/#")
        output = _playbook("iotsec.tls.site", "device_identity_force=true")
        assert "RUNNING HANDLER [iotsec.tls.mosquitto : Reload mosquitto]" in output
        assert "RUNNING HANDLER [iotsec.tls.mosquitto : Restart mosquitto]" not in output
        assert broker.check_output("sha256sum %s/cert.pem" % IDENTITY) != before_cert
        assert _main_pid() == pid  # reloaded, not restarted
        payload = "r-" + uuid.uuid4().hex
        assert _publish("device1", "devices/device1/t", payload).rc == 0
        got = mqtt_raw.messages(subscriber, 2)
        assert ("devices/device1/t", payload) in got, got
        assert mqtt_raw.ping(subscriber)
    finally:
        mqtt_raw.disconnect(subscriber)
    # new connections get the new certificate
    fresh = _session(identities, "scanner")
    try:
        served = x509.load_der_x509_certificate(fresh.getpeercert(binary_form=True))
    finally:
        mqtt_raw.disconnect(fresh)
    installed = x509.load_pem_x509_certificate(
        broker.file(IDENTITY + "/cert.pem").content_string.encode())
    assert served == installed


def test_profile_change_restarts_and_modern_is_compliant(identities):
    """The last test: the broker stays on modern, with the local plaintext listener enabled."""
    broker = _host("broker1")
    password = uuid.uuid4().hex
    broker.run_expect([0], "mosquitto_passwd -c -b /etc/mosquitto/local.passwd monitor %s && "
                           "chown mosquitto:mosquitto /etc/mosquitto/local.passwd && "
                           "chmod 0600 /etc/mosquitto/local.passwd" % password)
    acl = [{"user": "backend", "topics": [{"access": "read", "topic": "devices/#"}]},
           {"user": "monitor", "topics": [{"access": "read", "topic": "devices/#"}]}]
    before = _main_pid()
    output = _playbook("iotsec.tls.site", "iotsec_tls_profile=modern",
                       json.dumps({"mosquitto_local_plaintext_port": 1883,
                                   "mosquitto_password_file": "/etc/mosquitto/local.passwd",
                                   "mosquitto_acl_extra": acl}))
    assert "RUNNING HANDLER [iotsec.tls.mosquitto : Restart mosquitto]" in output
    assert _main_pid() != before  # listener change: restarted
    result = _scan(identities)
    assert mozilla_scan.check(result, "modern") == {}
    assert mozilla_scan.accepted(result, "tls_1_2_cipher_suites") == []
    assert mozilla_scan.accepted(result, "tls_1_3_cipher_suites")
    assert mozilla_scan.groups(result) == {"X25519", "secp256r1", "secp384r1"}
    # TLS 1.2 is refused by the server now
    reason = _refusal(identities, "scanner", maximum=ssl.TLSVersion.TLSv1_2)
    assert reason == "TLSV1_ALERT_PROTOCOL_VERSION", reason
    # the local plaintext listener: loopback only, password required, ACL applies
    listening = broker.check_output("ss -Hltn")
    assert "127.0.0.1:1883" in listening
    assert not re.search(r"(0\.0\.0\.0|\*|\[::\]):1883\b", listening), listening
    assert _host("device1").run(NO_CONFIG + "mosquitto_pub -h broker1 -p 1883 -t x -m y").rc != 0
    assert broker.run("mosquitto_pub -h 127.0.0.1 -p 1883 -t devices/x -m anonymous").rc != 0
    payload = "local-" + uuid.uuid4().hex
    marker = "/tmp/local-" + uuid.uuid4().hex
    broker.run_expect([0], "(mosquitto_sub -h 127.0.0.1 -p 1883 -u monitor -P %s -t 'devices/#' -C 1 -W 5 "
                           "> %s 2>&1 &)" % (password, marker))
    time.sleep(1.0)
    assert _publish("device1", "devices/device1/local", payload).rc == 0
    for _attempt in range(50):
        if payload in broker.file(marker).content_string:
            break
        time.sleep(0.1)
    assert broker.file(marker).content_string.strip() == payload
    # devices (TLS 1.2 minimum in their options) still publish: they negotiate TLS 1.3
    result = _round_trip("device1", "devices/device1/t", payload)
    assert result.rc == 0 and result.stdout.strip() == payload, (result.stdout, result.stderr)
