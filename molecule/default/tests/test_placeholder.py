"""Placeholder testinfra checks for the default scenario: the device containers are real
systemd hosts. Molecule's testinfra verifier runs this against every instance."""


def test_systemd_is_pid1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_is_running(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state == "running", host.run("systemctl --failed --no-legend").stdout


def test_devices_resolve_each_other(host):
    """Containers share the scenario's podman network and find each other by name."""
    for name in ("device1", "device2"):
        assert host.run("getent hosts %s" % name).rc == 0, name
