"""Bad input on a real fleet: a clear error naming host and check, and every file left as it was.

Each case runs the provision playbook against the scenario's devices with one thing wrong, in a
way that makes every device need a certificate (a different key type), and compares a snapshot
of each device's identity directory and the controller's CA directory before and after.
"""

import os
import subprocess

import pytest
import testinfra

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
CA_DIR = os.path.join(EPHEMERAL, "ca")
DEVICES = ("broker1", "device1", "device2")
SNAPSHOT = ("find /etc/iotsec-tls -printf '%p %y %m %u %l\\n' | sort;"
            " find /etc/iotsec-tls -type f -exec sha256sum {} + | sort")


def _snapshot():
    state = {}
    for name in DEVICES:
        state[name] = testinfra.get_host("podman://" + name).check_output(SNAPSHOT)
    for root, _dirs, files in os.walk(CA_DIR):
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                state[path] = handle.read()
    return state


def _provision(*extra):
    cmd = ["ansible-playbook", "-i", os.path.join(EPHEMERAL, "inventory"), "iotsec.tls.provision",
           "-e", "device_identity_key_type=ecdsa-p384"]
    for item in extra:
        cmd += ["-e", item]
    env = dict(os.environ, ANSIBLE_LOG_PATH=os.path.join(EPHEMERAL, "errors.log"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("extra, check", [
    (["iotsec_tls_ca_passphrase=not-the-passphrase"], "ca_passphrase"),
    (["iotsec_tls_ca_dir=/nonexistent/ca"], "ca_missing"),
    (["device_identity_lifetime=90d"], "lifetime"),
], ids=["wrong-passphrase", "missing-ca", "lifetime-above-maximum"])
def test_bad_input_names_host_and_check_and_changes_nothing(extra, check):
    before = _snapshot()
    result = _provision(*extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for name in DEVICES:
        failures = [line for line in output.splitlines()
                    if line.startswith("fatal: [%s]" % name)]
        assert failures, "no failure reported for %s:\n%s" % (name, output)
        assert any(name + ":" in line or name + " needs" in line for line in failures), failures
        assert any("check: %s" % check in line for line in failures), failures
    assert "PRIVATE KEY" not in output
    assert _snapshot() == before


def test_a_run_after_the_errors_changes_nothing():
    before = _snapshot()
    result = _provision("device_identity_key_type=ecdsa-p256")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed=0" in result.stdout
    assert "changed=1" not in result.stdout
    assert _snapshot() == before
