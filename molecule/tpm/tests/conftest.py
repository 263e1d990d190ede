"""Testinfra plumbing for Molecule's podman instances (test tooling).

Molecule runs testinfra with its Ansible inventory, where the instances use Ansible's podman
connection. Testinfra has no native mapping for that connection and would run every command
through a full Ansible run (about 2 s each). The `host` fixture below gives the tests a
testinfra host on testinfra's own podman backend (`podman exec`, about 0.1 s) for those
instances; `ansible_host` is still available as the Ansible-backed host, for the few tests that
need `host.ansible(...)` or inventory variables.
"""

import pytest
import testinfra

PODMAN_CONNECTIONS = ("podman", "containers.podman.podman")


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
