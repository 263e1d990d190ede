"""Revocation and decommissioning on a real fleet: the broker refuses a revoked device at once,
the others carry on, the CRL verifies, revoking twice changes nothing, a decommissioned device
keeps no key. Runs once per scenario run (no `host` fixture)."""

import os
import re
import sqlite3
import subprocess

import scenario_tools
import testinfra
from cryptography import x509

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
CA_DIR = os.path.join(EPHEMERAL, "ca")
INVENTORY = os.path.join(EPHEMERAL, "inventory")


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
