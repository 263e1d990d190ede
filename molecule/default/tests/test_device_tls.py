"""The device side (iotsec.tls.device_tls) on the scenario's devices: fleet CA, the system-wide
OpenSSL profile as other software sees it, the ready MQTT client settings, and taking the
system-wide profile back.
"""

import os
import re
import subprocess
import uuid

import pytest
import testinfra
import yaml

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
INVENTORY = os.path.join(EPHEMERAL, "inventory")
HERE = os.path.dirname(__file__)
PROFILES = os.path.join(HERE, "..", "..", "..", "roles", "tls_profile", "defaults", "main.yml")
NO_CONFIG = "env HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent "
OPENSSL_CNF = "/etc/ssl/openssl.cnf"


def _host(name):
    return testinfra.get_host("podman://" + name)


@pytest.fixture(scope="module")
def intermediate():
    with open(PROFILES) as handle:
        return yaml.safe_load(handle)["tls_profile_profiles"]["intermediate"]


@pytest.mark.parametrize("device", ["device1", "device2"])
def test_fleet_ca_is_the_identity_chain_and_not_in_the_system_store(device):
    host = _host(device)
    ca = host.file("/etc/iotsec-tls/fleet-ca.pem")
    assert (ca.mode, ca.user) == (0o644, "root")
    assert ca.content_string == host.file("/etc/iotsec-tls/identity/chain.pem").content_string
    # clients that are given the fleet CA verify the device's own certificate with it ...
    host.run_expect([0], "openssl verify -CAfile /etc/iotsec-tls/fleet-ca.pem /etc/iotsec-tls/identity/cert.pem")
    # ... but the system store does not trust the fleet CA: it is for the fleet's connections only
    result = host.run("openssl verify -CApath /etc/ssl/certs -untrusted /etc/iotsec-tls/fleet-ca.pem "
                      "/etc/iotsec-tls/identity/cert.pem")
    assert result.rc != 0
    assert "self-signed certificate in certificate chain" in result.stdout + result.stderr


@pytest.mark.parametrize("device", ["device1", "device2"])
def test_system_wide_profile_is_what_openssl_and_python_use(device, intermediate):
    host = _host(device)
    cnf = host.file(OPENSSL_CNF).content_string
    assert ".include /etc/iotsec-tls/openssl-policy.cnf" in cnf
    assert re.search(r"^\[openssl_init\]\n(.*\n)*?ssl_conf = iotsec_tls_ssl_sect$", cnf, re.M)
    # openssl loads the configuration without a word, and its default ciphers are the profile's
    result = host.run("openssl ciphers -s")
    assert result.rc == 0 and result.stderr == "", result.stderr
    expected = set(intermediate["ciphersuites_tls13"].split(":")) | set(intermediate["ciphers_tls12"].split(":"))
    assert set(result.stdout.strip().split(":")) == expected
    # Python's ssl (as any program using OpenSSL's defaults) gets the minimum and the ciphers
    script = ("import ssl; c = ssl.create_default_context(); "
              "print(c.minimum_version.name, ':'.join(sorted(x['name'] for x in c.get_ciphers())))")
    minimum, ciphers = host.check_output("python3 -c \"%s\"" % script).split()
    assert minimum == "TLSv1_2"
    assert set(ciphers.split(":")) == expected


def test_mqtt_options_verify_the_brokers_name():
    """The ready options work with the broker's name; the same identity towards the broker's
    address (not in its certificate) is refused by the client itself."""
    device = _host("device1")
    options = device.file("/root/.config/mosquitto_pub")
    assert options.is_symlink and options.linked_to == "/etc/iotsec-tls/mosquitto-client.conf"
    text = device.file("/etc/iotsec-tls/mosquitto-client.conf").content_string
    assert "-h broker1\n" in text and "--key /etc/iotsec-tls/identity/key.pem\n" in text
    args = " ".join(line for line in text.splitlines()
                    if line.startswith("-") and not line.startswith("-h "))
    ok = device.run(NO_CONFIG + "mosquitto_pub %s -h broker1 -t devices/device1/name -m ok" % args)
    assert ok.rc == 0, ok.stderr
    address = device.check_output("getent hosts broker1 | cut -d' ' -f1")
    wrong = device.run(NO_CONFIG + "mosquitto_pub %s -h %s -t devices/device1/name -m wrong"
                       % (args, address))
    assert wrong.rc != 0


def test_environment_file_works_for_other_clients():
    """A client that reads only mqtt.env (Python's ssl with the system policy, the broker's name
    verified) connects as device1, publishes under MQTT_TOPIC_PREFIX and gets its message back."""
    device = _host("device1")
    subprocess.run(["podman", "cp", os.path.join(HERE, "mqtt_raw.py"), "device1:/tmp/mqtt_raw.py"],
                   check=True)
    env = device.file("/etc/iotsec-tls/mqtt.env").content_string
    assert "MQTT_HOST=broker1\n" in env and "MQTT_TOPIC_PREFIX=devices/device1\n" in env
    payload = "env-" + uuid.uuid4().hex
    # the client subscribes, publishes and reads its message back on its one connection: a
    # second subscriber of device1's identity would replace it (one connection per identity)
    version = device.check_output("python3 /tmp/mqtt_raw.py /etc/iotsec-tls/mqtt.env %s" % payload)
    assert version in ("TLSv1.2", "TLSv1.3")


def test_system_policy_can_be_taken_back(tmp_path):
    """device_tls_system_policy=false restores openssl.cnf exactly as Debian ships it (the broker,
    which does not run device_tls, has the pristine file). The last test of this file: device2
    stays without the system-wide policy (a converge puts it back)."""
    device, broker = _host("device2"), _host("broker1")
    pristine = broker.check_output("sha256sum %s" % OPENSSL_CNF)
    assert device.check_output("sha256sum %s" % OPENSSL_CNF) != pristine
    playbook = tmp_path / "take-back.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Device TLS without the system-wide policy", "hosts": "device2",
                                         "gather_facts": False, "roles": ["iotsec.tls.device_tls"]}]))
    result = subprocess.run(["ansible-playbook", "-i", INVENTORY, str(playbook), "-e", "device_tls_system_policy=false"],
                            capture_output=True, text=True, timeout=600, check=False,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert device.check_output("sha256sum %s" % OPENSSL_CNF) == pristine
    # openssl's defaults are Debian's again
    assert len(device.check_output("openssl ciphers -s").split(":")) > 20
