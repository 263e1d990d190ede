"""Test tooling shared by the Molecule scenarios (each scenario's tests/conftest.py puts this
directory on sys.path).

- `ansible_host` and `host` fixtures. Molecule runs testinfra with its Ansible inventory, where
  the instances use Ansible's podman connection. Testinfra has no native mapping for that
  connection and would run every command through a full Ansible run (about 2 s each). `host`
  gives the tests a testinfra host on testinfra's own podman backend (`podman exec`, about 0.1 s)
  for those instances; `ansible_host` is still the Ansible-backed host, for the few tests that
  need `host.ansible(...)` or inventory variables.
- `run_playbook`: ansible-playbook against the scenario's inventory, output without colours.
- `fleet_ca`: the scenario's issuing CA (certificate, key, chain), for test-only identities.
"""

import os
import re
import subprocess

import pytest
import testinfra
from cryptography import x509
from cryptography.hazmat.primitives import serialization

PODMAN_CONNECTIONS = ("podman", "containers.podman.podman", "iotsec_podman")


@pytest.fixture(scope="module")
def ansible_host(_testinfra_host):
    """The host as Molecule's inventory defines it (Ansible backend)."""
    return _testinfra_host


@pytest.fixture(scope="module")
def host(_testinfra_host):
    backend = _testinfra_host.backend
    if getattr(backend, "NAME", None) != "ansible":
        return _testinfra_host
    hostvars = backend.get_variables()
    if hostvars.get("ansible_connection") not in PODMAN_CONNECTIONS:
        return _testinfra_host
    container = hostvars.get("ansible_host") or backend.host
    return testinfra.get_host("podman://%s" % container)


def run_playbook(inventory, playbook, *extra, expect_rc=0):
    """Run a playbook; extra items are extra variables, or options when they start with `--`.
    Assert that it succeeded (expect_rc=0) or failed (any other value), and return its output."""
    cmd = ["ansible-playbook", "-i", inventory, playbook]
    for item in extra:
        cmd += [item] if item.startswith("--") else ["-e", item]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    if expect_rc == 0:
        assert result.returncode == 0, output[-4000:]
    else:
        assert result.returncode != 0, output[-4000:]
    return output


def fleet_ca(ca_dir):
    """The issuing CA's certificate and key (decrypted with the run's test passphrase) and the
    chain file's bytes."""
    with open(os.path.join(ca_dir, "issuing.pem"), "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    with open(os.path.join(ca_dir, "issuing.key"), "rb") as handle:
        key = serialization.load_pem_private_key(
            handle.read(), os.environ["IOTSEC_TLS_TEST_CA_PASSPHRASE"].encode())
    with open(os.path.join(ca_dir, "chain.pem"), "rb") as handle:
        chain = handle.read()
    return cert, key, chain
