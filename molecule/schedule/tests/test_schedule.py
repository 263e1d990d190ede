"""The rotation schedule on a systemd host: timer armed, service runs the wrapper, lock holds."""

import os
import subprocess

NAME = "iotsec-tls-rotate"
RUNS = "/var/tmp/rotation-runs"


def _runs(host):
    return host.run("cat %s" % RUNS).stdout.splitlines()


def test_wrapper_and_units_are_installed(host):
    wrapper = host.file("/usr/local/sbin/" + NAME)
    assert wrapper.mode == 0o755 and wrapper.user == "root"
    host.run_expect([0], "sh -n /usr/local/sbin/" + NAME)
    for unit in ("service", "timer"):
        assert host.file("/etc/systemd/system/%s.%s" % (NAME, unit)).mode == 0o644
    result = host.run("systemd-analyze verify /etc/systemd/system/%s.service "
                      "/etc/systemd/system/%s.timer" % (NAME, NAME))
    assert result.rc == 0, result.stderr


def test_timer_is_enabled_and_armed(host):
    assert host.run("systemctl is-enabled %s.timer" % NAME).stdout.strip() == "enabled"
    assert host.run("systemctl is-active %s.timer" % NAME).stdout.strip() == "active"
    shown = host.check_output("systemctl show -p NextElapseUSecRealtime -p TimersCalendar %s.timer"
                              % NAME)
    assert "OnCalendar=*-*-* 03,15:17:00" in shown
    assert "NextElapseUSecRealtime=" in shown and "NextElapseUSecRealtime=\n" not in shown + "\n"


def test_service_runs_rotate_with_the_configured_command_line(host):
    before = len(_runs(host))
    host.run_expect([0], "systemctl start %s.service" % NAME)  # oneshot: returns when done
    runs = _runs(host)
    assert len(runs) == before + 1
    assert runs[-1].split(" ", 1)[1] == (
        "-i /etc/iotsec-tls/inventory.yml --vault-password-file /etc/iotsec-tls/vault-pass "
        "--forks 20 iotsec.tls.rotate")
    journal = host.check_output("journalctl -u %s.service --no-pager -o cat" % NAME)
    assert "rotation run: -i /etc/iotsec-tls/inventory.yml" in journal


def test_overlapping_run_exits_cleanly_without_running(host):
    before = len(_runs(host))
    first = subprocess.Popen(["podman", "exec", "schedule-controller", "/usr/local/sbin/" + NAME],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # wait until the first run holds the lock and has started the playbook
    host.run_expect([0], "for i in $(seq 50); do [ $(cat %s 2>/dev/null | wc -l) -gt %d ] && exit 0;"
                         " sleep 0.1; done; exit 1" % (RUNS, before))
    second = host.run("/usr/local/sbin/" + NAME)
    assert second.rc == 0
    assert "another rotation holds /run/lock/iotsec-tls-rotate.lock" in second.stdout
    out = first.communicate(timeout=30)[0]
    assert first.returncode == 0, out
    assert len(_runs(host)) == before + 1
    # with the lock free again, the next run goes ahead
    host.run_expect([0], "/usr/local/sbin/" + NAME)
    assert len(_runs(host)) == before + 2


def test_absent_removes_the_schedule(host):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    playbook = os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml")
    inventory = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "inventory")
    result = subprocess.run(["ansible-playbook", "-i", inventory, playbook,
                             "-e", "rotation_schedule_state=absent"],
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not host.file("/usr/local/sbin/" + NAME).exists
    assert not host.file("/etc/systemd/system/%s.timer" % NAME).exists
    assert host.run("systemctl is-active %s.timer" % NAME).stdout.strip() != "active"
