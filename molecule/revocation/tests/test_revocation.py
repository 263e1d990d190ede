"""Revocation and decommissioning on a real fleet: the broker refuses a revoked device at once,
the others carry on, the CRL verifies, revoking twice changes nothing, a decommissioned device
keeps no key. Runs once per scenario run (no `host` fixture)."""

import os
import re
import sqlite3
import subprocess
import time

import scenario_tools
import testinfra
from cryptography import x509

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
CA_DIR = os.path.join(EPHEMERAL, "ca")
INVENTORY = os.path.join(EPHEMERAL, "inventory")
# mosquitto_pub without the device's ready options (~/.config/mosquitto_pub)
NO_CONFIG = "XDG_CONFIG_HOME=/nonexistent HOME=/nonexistent "
MQTT_RAW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "default", "tests",
                        "mqtt_raw.py")


def _host(name):
    return testinfra.get_host("podman://" + name)


def _playbook(playbook, *extra, expect_rc=0):
    return scenario_tools.run_playbook(INVENTORY, playbook, *extra, expect_rc=expect_rc)


def _ledger(host):
    db = sqlite3.connect(os.path.join(CA_DIR, "ledger.sqlite3"))
    return db.execute("SELECT serial, status, revocation_reason FROM certificates WHERE host = ? "
                      "ORDER BY issued_at", (host,)).fetchall()


def _publish_received(device, payload):
    """The device subscribes to its own topic and publishes there, on its one connection (the
    broker keeps one per identity): mosquitto_rr with the ready options. Returns (rc, output)."""
    result = _host(device).run("mosquitto_rr -t devices/%s/t -e devices/%s/t -m %s -W 4 -v"
                               % (device, device, payload))
    return result.rc, result.stdout + result.stderr


def _ledger_snapshot():
    db = sqlite3.connect(os.path.join(CA_DIR, "ledger.sqlite3"))
    return db.execute("SELECT * FROM certificates ORDER BY serial").fetchall()


def _dns_names(host, path):
    pem = _host(host).file(path).content_string.encode()
    cert = x509.load_pem_x509_certificate(pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName), pem


def test_0_single_label_hosts_are_certified_under_the_fleet_domain(tmp_path):
    """iotsec_tls_domain=dns.podman: every host under <name>.dns.podman, lint clean, and the
    devices dial and verify the broker by that name."""
    for host in ("rev-broker", "rev-device1", "rev-device2"):
        names, pem = _dns_names(host, "/etc/iotsec-tls/identity/cert.pem")
        assert names == [host + ".dns.podman"]
        path = tmp_path / (host + ".pem")
        path.write_bytes(pem)
        lint = subprocess.run(["lint_pkix_cert", "lint", "-s", "ERROR", str(path)],
                              capture_output=True, text=True, check=False)
        assert lint.returncode == 0 and lint.stdout.strip() == "", lint.stdout + lint.stderr
    env = _host("rev-device1").file("/etc/iotsec-tls/mqtt.env").content_string
    assert "MQTT_HOST=rev-broker.dns.podman\n" in env


def test_1_unknown_host_or_serial_is_refused_and_changes_nothing():
    before = _ledger_snapshot()
    out = _playbook("iotsec.tls.revoke", '{"revoke_hosts": ["no-such-device"]}', expect_rc=2)
    assert "check: unknown_host" in out and "no-such-device" in out
    out = _playbook("iotsec.tls.revoke", '{"revoke_serials": ["0123456789ABCDEF"]}', expect_rc=2)
    assert "check: unknown_serial" in out
    assert _ledger_snapshot() == before


def test_2_revoked_device_is_refused_at_once_and_the_others_carry_on():
    rc, got = _publish_received("rev-device2", "before")
    assert rc == 0 and "before" in got  # the control: it worked until now
    out = _playbook("iotsec.tls.revoke", '{"revoke_hosts": ["rev-device2"]}',
                    "revoke_reason=keyCompromise")
    rows = _ledger("rev-device2")
    assert rows and all(status == "revoked" and reason == "keyCompromise"
                        for _serial, status, reason in rows)
    assert "revoked %d" % len(rows) in out
    # still inside its validity period, and refused
    assert _host("rev-device2").run("openssl x509 -checkend 60 -noout -in "
                                    "/etc/iotsec-tls/identity/cert.pem").rc == 0
    rc, got = _publish_received("rev-device2", "after")
    assert rc != 0 and "after" not in got
    rc, got = _publish_received("rev-device1", "still")
    assert rc == 0 and "devices/rev-device1/t still" in got


def _start_echo_loop(device):
    """mqtt_raw.py's echo loop on the device, in the background: one connection with the
    device's identity (mqtt.env), a message every 0.2 s, each read back; see mqtt_raw.echo_loop."""
    subprocess.run(["podman", "cp", MQTT_RAW, device + ":/tmp/mqtt_raw.py"], check=True)
    _host(device).run_expect([0], "rm -f /tmp/echo.log /tmp/echo.log.stop")
    subprocess.run(["podman", "exec", "-d", device, "python3", "/tmp/mqtt_raw.py",
                    "/etc/iotsec-tls/mqtt.env", "--echo-loop", "120", "/tmp/echo.log"], check=True)


def _echo_log(device, stop=False):
    if stop:  # the loop looks for the stop file at least every 0.5 s
        _host(device).run_expect([0], "touch /tmp/echo.log.stop")
        time.sleep(1.5)
    return [line.split(" ", 2) for line in _host(device).run("cat /tmp/echo.log").stdout.splitlines()]


def test_2b_a_connected_device_is_cut_off_when_revoked_and_the_others_stay_connected():
    """rev-device3 and rev-device1 each hold one connection, publishing and reading back every
    0.2 s. The broker already enforces a CRL (test 2), so this revocation only reloads it. Then
    rev-device3's connection ends and every reconnection is refused, while rev-device1's
    connection carries on untouched."""
    for device in ("rev-device3", "rev-device1"):
        _start_echo_loop(device)
    time.sleep(3)
    assert [entry[0] for entry in _echo_log("rev-device3")].count("echo") >= 5  # the control: it works
    start = time.time()
    out = _playbook("iotsec.tls.revoke", '{"revoke_hosts": ["rev-device3"]}')
    end = time.time()
    assert "RUNNING HANDLER [iotsec.tls.mosquitto : Restart mosquitto]" not in out  # a reload only
    time.sleep(3)
    victim = _echo_log("rev-device3", stop=True)
    bystander = _echo_log("rev-device1", stop=True)
    kinds = [entry[0] for entry in victim]
    assert "closed" in kinds, victim[-5:]
    closed_at = float(victim[kinds.index("closed")][1])
    last_echo = max(float(entry[2]) for entry in victim if entry[0] == "echo")
    after = victim[kinds.index("closed") + 1:]
    assert after and all(entry[0] == "refused" for entry in after), after
    # refused by the broker in the handshake: the CRL's alert, or under TLS 1.3 the connection
    # closed before the client read it (EOF); never a broker that was not listening
    reasons = [entry[2] for entry in after]
    assert any("CERTIFICATE_REVOKED" in reason for reason in reasons), reasons[:3]
    assert all("CERTIFICATE_REVOKED" in reason or "EOF occurred" in reason for reason in reasons), \
        [reason for reason in reasons if "CERTIFICATE_REVOKED" not in reason][:3]
    assert start < closed_at <= end, (start, closed_at, end)
    assert last_echo <= closed_at
    # the bystander: one connection from before the revocation to after it, never closed
    assert [entry[0] for entry in bystander if entry[0] != "echo"] == ["open"], bystander[-5:]
    echoes = [float(entry[2]) for entry in bystander if entry[0] == "echo"]
    assert echoes[0] < start and echoes[-1] > end + 2
    gaps = max(b - a for a, b in zip(echoes, echoes[1:]))
    assert gaps < 2.0, gaps
    report = ("revoke.yml took %.1f s; the revoked device's last message came back %.1f s after it "
              "started, its connection closed at %.1f s, its first reconnection was refused at %.1f s; "
              "the other device's longest gap was %.2f s\n"
              % (end - start, last_echo - start, closed_at - start, float(after[0][1]) - start, gaps))
    reports = os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "build", "reports")
    os.makedirs(reports, exist_ok=True)
    with open(os.path.join(reports, "revocation-disconnect.txt"), "a", encoding="utf-8") as handle:
        handle.write(report)


def test_3_crl_verifies_and_lists_the_revoked_serials(tmp_path):
    crl = os.path.join(CA_DIR, "crl.pem")
    issuing = os.path.join(CA_DIR, "issuing.pem")
    result = subprocess.run(["openssl", "crl", "-in", crl, "-CAfile", issuing, "-noout", "-verify"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "verify OK" in result.stdout + result.stderr
    text = subprocess.check_output(["openssl", "crl", "-in", crl, "-noout", "-text"], text=True)
    for serial, _status, _reason in _ledger("rev-device2"):
        assert "Serial Number: %s" % serial in text
    assert "Key Compromise" in text
    # the broker enforces the same CRL
    assert _host("rev-broker").file("/etc/mosquitto/iotsec-tls-crl.pem").content_string == \
        open(crl).read()
    assert "crlfile /etc/mosquitto/iotsec-tls-crl.pem" in \
        _host("rev-broker").file("/etc/mosquitto/conf.d/iotsec-tls.conf").content_string


def test_4_revoking_twice_changes_nothing():
    before = _ledger_snapshot()
    crl = open(os.path.join(CA_DIR, "crl.pem")).read()
    out = _playbook("iotsec.tls.revoke", '{"revoke_hosts": ["rev-device2"]}',
                    "revoke_reason=keyCompromise")
    assert "revoked 0" in out
    for line in out.splitlines():
        if re.match(r"^\S+\s+: ok=", line):
            assert "changed=0" in line, line
    assert _ledger_snapshot() == before
    assert open(os.path.join(CA_DIR, "crl.pem")).read() == crl


def test_5_decommissioned_device_keeps_no_key():
    assert _host("rev-device2").file("/etc/iotsec-tls/identity").exists
    _playbook("iotsec.tls.decommission", '{"decommission_hosts": ["rev-device2"]}')
    device = _host("rev-device2")
    assert not device.file("/etc/iotsec-tls/identity").exists
    assert device.run("grep -rl 'PRIVATE KEY' /etc /root /var/tmp /tmp 2>/dev/null").stdout == ""
    assert {status for _s, status, _r in _ledger("rev-device2")} == {"revoked"}
    rc, got = _publish_received("rev-device1", "after-decommission")
    assert rc == 0 and "after-decommission" in got


def test_6_after_a_rotation_the_replaced_pair_is_refused():
    """rotate.yml renews rev-device1 (forced); the certificate it replaced goes on the CRL as
    superseded once the new pair is proven, and the broker (which enforces a CRL) refuses the
    previous pair while the new one works."""
    device = _host("rev-device1")
    identity = "/etc/iotsec-tls/identity"
    before = device.check_output("readlink -f %s/current" % identity)
    _playbook("iotsec.tls.rotate", '{"iotsec_tls_identity_hosts": "rev-device1"}', "device_identity_force=true")
    assert device.check_output("readlink -f %s/previous" % identity) == before
    old_serial = device.check_output("openssl x509 -in %s/cert.pem -noout -serial" % before).split("=")[1]
    assert ("revoked", "superseded") in [(status, reason) for serial, status, reason in _ledger("rev-device1")
                                         if serial.upper() == old_serial.upper()]
    base = ("mosquitto_pub -h rev-broker.dns.podman -p 8883 --cafile /etc/iotsec-tls/fleet-ca.pem "
            "-t devices/rev-device1/t -m %s --cert {0}/fullchain.pem --key {0}/key.pem")
    current = device.check_output("readlink -f %s/current" % identity)
    control = device.run(NO_CONFIG + (base % "control").format(current))
    assert control.rc == 0, control.stdout + control.stderr  # the same command, with the new pair
    old = device.run(NO_CONFIG + (base % "old-pair").format(before))
    assert old.rc != 0, old.stdout + old.stderr
    rc, got = _publish_received("rev-device1", "new-pair")
    assert rc == 0 and "new-pair" in got
