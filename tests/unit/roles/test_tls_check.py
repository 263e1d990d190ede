# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of roles/tls_profile/files/iotsec-tls-check.py, the checker with which the broker
and device roles validate a file before it replaces the one in service.

The script is not a Python module of the collection (it is copied to the hosts), so it is loaded
from its path, relative to this file: the same in the source tree and in the collection copy
(build/ansible_collections/iotsec/tls). The OpenSSL checks run the real `openssl` and Python's
ssl against temporary files; the trial broker (Mosquitto, absent on the controller) is replaced
by a recorder.
"""

import importlib.util
import os
import stat

import jinja2
import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCRIPT = os.path.join(ROOT, "roles", "tls_profile", "files", "iotsec-tls-check.py")
POLICY_TEMPLATE = os.path.join(ROOT, "roles", "device_tls", "templates", "openssl-policy.cnf.j2")
PROFILES = os.path.join(ROOT, "roles", "tls_profile", "defaults", "main.yml")


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("iotsec_tls_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def trials(check, monkeypatch):
    """Replace the trial broker: record (config lines, OPENSSL_CONF) of each trial."""
    calls = []

    def fake_run_trial(config, openssl_conf=None):
        with open(config) as handle:
            calls.append((handle.read().splitlines(), openssl_conf))
        return "mosquitto version 2.0.11 running"

    monkeypatch.setattr(check, "run_trial", fake_run_trial)
    return calls


def write(path, text):
    path.write_text(text)
    return str(path)


def render_policy(profile, key_backend="file"):
    """The device role's openssl-policy.cnf for a profile of the role's own data."""
    with open(PROFILES) as handle:
        profiles = yaml.safe_load(handle)["tls_profile_profiles"]
    with open(POLICY_TEMPLATE) as handle:
        template = jinja2.Template(handle.read(), trim_blocks=True)
    return template.render(ansible_managed="test", __device_tls_effective_profile=profile,
                           __device_tls_key_backend=key_backend,
                           __device_tls_settings=profiles[profile])


def run_main(check, capsys, *argv):
    status = check.main(list(argv))
    return status, capsys.readouterr().err


# --- openssl-policy: the device's system-wide policy --------------------------------------------

@pytest.mark.parametrize("profile", ["intermediate", "modern"])
def test_the_shipped_profiles_pass_as_a_device_policy(check, capsys, tmp_path, profile):
    policy = write(tmp_path / "policy.cnf", render_policy(profile))
    status, err = run_main(check, capsys, "openssl-policy", policy)
    assert (status, err) == (0, "")


def test_the_policy_is_checked_inside_a_configuration_that_activates_it(check, monkeypatch, tmp_path):
    seen = {}

    def fake_check_openssl(config):
        with open(config) as handle:
            seen["config"] = handle.read()
        seen["dir"] = os.path.dirname(config)

    monkeypatch.setattr(check, "check_openssl", fake_check_openssl)
    workdir = tmp_path / "work"
    workdir.mkdir()
    policy = write(tmp_path / "policy.cnf", render_policy("modern"))
    check.cmd_openssl_policy(str(workdir), policy)
    copy = os.path.join(str(workdir), "policy.cnf")
    assert seen["config"].startswith("config_diagnostics = 1\nopenssl_conf = openssl_init\n")
    assert "\nssl_conf = iotsec_tls_ssl_sect\n" in seen["config"]
    assert seen["config"].rstrip().endswith(".include %s" % copy)
    # the copy is what is checked, readable by everyone, with the candidate's content
    with open(copy) as handle:
        assert handle.read() == render_policy("modern")
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o644


def test_a_policy_without_its_ssl_section_is_refused(check, capsys, tmp_path):
    # the activating configuration names [iotsec_tls_ssl_sect]
    policy = write(tmp_path / "policy.cnf", "[some_other_sect]\nsystem_default = x\n")
    status, err = run_main(check, capsys, "openssl-policy", policy)
    assert status == 1
    assert err.startswith("OpenSSL refused it: openssl: ")
    assert "iotsec_tls_ssl_sect" in err


def test_a_policy_with_an_unknown_group_is_refused(check, capsys, tmp_path):
    policy = write(tmp_path / "policy.cnf", render_policy("intermediate").replace(
        "Groups = X25519:", "Groups = no-such-group:"))
    status, _err = run_main(check, capsys, "openssl-policy", policy)
    assert status == 1


# --- openssl-config: the whole /etc/ssl/openssl.cnf ----------------------------------------------

def test_a_configuration_that_loads_is_accepted(check, capsys, tmp_path):
    config = write(tmp_path / "openssl.cnf",
                   "config_diagnostics = 1\nopenssl_conf = openssl_init\n\n[openssl_init]\n"
                   "ssl_conf = ssl_sect\n\n[ssl_sect]\nsystem_default = system_default_sect\n\n"
                   "[system_default_sect]\nMinProtocol = TLSv1.2\n")
    assert run_main(check, capsys, "openssl-config", config) == (0, "")


# Providers that leave OpenSSL without the default provider: no TLS context can be made.
NO_CIPHERS = ("config_diagnostics = 1\nopenssl_conf = openssl_init\n\n[openssl_init]\n"
              "providers = provider_sect\n\n[provider_sect]\nlegacy = legacy_sect\n\n[legacy_sect]\nactivate = 0\n")


def test_a_configuration_naming_a_missing_section_is_refused(check, capsys, tmp_path):
    # with config_diagnostics = 1 (as in Debian's openssl.cnf) every OpenSSL program would fail to start
    config = write(tmp_path / "openssl.cnf",
                   "config_diagnostics = 1\nopenssl_conf = openssl_init\n\n[openssl_init]\nssl_conf = no_such_sect\n")
    status, err = run_main(check, capsys, "openssl-config", config)
    assert status == 1
    assert err.startswith("OpenSSL refused it: openssl: ")
    assert "ssl section not found" in err and "no_such_sect" in err


def test_a_configuration_without_ciphers_is_refused_by_openssl_and_python(check, capsys, tmp_path):
    config = write(tmp_path / "openssl.cnf", NO_CIPHERS)
    status, err = run_main(check, capsys, "openssl-config", config)
    assert status == 1
    assert err.startswith("OpenSSL refused it: openssl: ")
    # Python's ssl is asked too, and its refusal is reported beside openssl's, on one line
    assert "; python ssl: " in err and "no ciphers" in err.split("; python ssl: ")[1]
    assert err.count("\n") == 1


def test_the_candidate_is_checked_not_the_environment(check, capsys, tmp_path, monkeypatch):
    # an OPENSSL_CONF of the caller that breaks OpenSSL must not decide the check
    broken = write(tmp_path / "broken.cnf", NO_CIPHERS)
    monkeypatch.setenv("OPENSSL_CONF", broken)
    policy = write(tmp_path / "policy.cnf", render_policy("intermediate"))
    assert run_main(check, capsys, "openssl-policy", policy) == (0, "")


# --- usage and errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    [],
    ["openssl-policy"],
    ["no-such-check", "file"],
    ["mosquitto", "file", "--config", "other"],  # the option of another check
    ["mosquitto", "file", "--openssl-conf"],
])
def test_usage_errors_exit_2_with_the_usage(check, capsys, argv):
    status, err = run_main(check, capsys, *argv)
    assert status == 2
    assert "mosquitto CANDIDATE [--openssl-conf FILE]" in err


def test_a_missing_candidate_is_refused_and_says_which_check(check, capsys, tmp_path):
    status, err = run_main(check, capsys, "openssl-config", str(tmp_path / "absent.cnf"))
    assert status == 1
    assert err.startswith("the openssl-config check could not run: ")
    assert "absent.cnf" in err


def test_the_work_directory_is_removed_whatever_the_outcome(check, capsys, tmp_path, monkeypatch):
    made = []
    real_mkdtemp = check.tempfile.mkdtemp

    def recording_mkdtemp(**kwargs):
        made.append(real_mkdtemp(dir=str(tmp_path), **kwargs))
        return made[-1]

    monkeypatch.setattr(check.tempfile, "mkdtemp", recording_mkdtemp)
    good = write(tmp_path / "policy.cnf", render_policy("modern"))
    bad = write(tmp_path / "bad.cnf", NO_CIPHERS)
    assert run_main(check, capsys, "openssl-policy", good)[0] == 0
    assert run_main(check, capsys, "openssl-config", bad)[0] == 1
    assert run_main(check, capsys, "openssl-policy", str(tmp_path / "absent"))[0] == 1
    assert len(made) == 3
    assert not any(os.path.exists(path) for path in made)


# --- the trial broker's configuration -------------------------------------------------------------

def test_the_trial_configuration_leaves_the_services_files_alone(check, tmp_path):
    lines = [
        "pid_file /run/mosquitto/mosquitto.pid",
        "persistence true",
        "persistence_location /var/lib/mosquitto/",
        "autosave_interval 60",
        "log_dest file /var/log/mosquitto/mosquitto.log",
        "user mosquitto",
        "listener 8883",
        "certfile /etc/iotsec-tls/identity/fullchain.pem",
        "listener 1883 127.0.0.1",
        "acl_file /etc/mosquitto/iotsec-tls.acl",
    ]
    path = check.trial_config(lines, str(tmp_path), replace={"acl_file": "/tmp/acl"})
    with open(path) as handle:
        out = handle.read().splitlines()
    assert not [line for line in out if line.split()[0] in (
        "pid_file", "persistence", "persistence_location", "autosave_interval", "user")]
    assert "log_dest file /var/log/mosquitto/mosquitto.log" not in out
    listeners = [line for line in out if line.startswith("listener ")]
    assert len(listeners) == 2
    for line in listeners:
        _listener, port, address = line.split()
        assert address == "127.0.0.1" and port not in ("8883", "1883") and 0 < int(port) < 65536
    assert "certfile /etc/iotsec-tls/identity/fullchain.pem" in out
    assert "acl_file /tmp/acl" in out and "acl_file /etc/mosquitto/iotsec-tls.acl" not in out
    assert out[-5:] == ["log_dest stderr", "log_type error", "log_type warning", "log_type notice",
                        "log_type information"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_broker_errors_keep_only_the_lines_that_explain(check):
    output = (b"1700000000: mosquitto version 2.0.11 starting\n"
              b"1700000000: Config loaded from /tmp/trial.conf.\n"
              b"1700000000: Opening ipv4 listen socket on port 40000.\n"
              b"1700000000: Error: Unable to load server certificate \"/x.pem\". Check certfile.\n"
              b"1700000000: OpenSSL Error[0]: error:80000002:system library::No such file or directory\n")
    assert check.broker_errors(output) == (
        "Error: Unable to load server certificate \"/x.pem\". Check certfile. "
        "OpenSSL Error[0]: error:80000002:system library::No such file or directory")


def test_the_listener_check_uses_its_openssl_conf_only_when_it_exists(check, capsys, tmp_path, trials):
    listener = write(tmp_path / "iotsec-tls.conf", "listener 8883\ntls_version tlsv1.2\n")
    present = write(tmp_path / "present.cnf", "# empty\n")
    assert run_main(check, capsys, "mosquitto", listener, "--openssl-conf", present) == (0, "")
    assert run_main(check, capsys, "mosquitto", listener, "--openssl-conf", str(tmp_path / "absent.cnf")) == (0, "")
    assert [conf for _lines, conf in trials] == [present, None]
    assert "tls_version tlsv1.2" in trials[0][0]


def test_the_service_openssl_conf_is_tried_with_the_listener_in_service(check, capsys, tmp_path, trials):
    candidate = write(tmp_path / "candidate.cnf", "# empty: loads\n")
    listener = write(tmp_path / "iotsec-tls.conf", "listener 8883\nciphers_tls1.3 TLS_AES_128_GCM_SHA256\n")
    # no listener in service yet (first run): the candidate is only loaded by OpenSSL
    assert run_main(check, capsys, "mosquitto-openssl", candidate, "--config", str(tmp_path / "absent")) == (0, "")
    assert trials == []
    assert run_main(check, capsys, "mosquitto-openssl", candidate, "--config", listener) == (0, "")
    assert len(trials) == 1
    lines, conf = trials[0]
    assert "ciphers_tls1.3 TLS_AES_128_GCM_SHA256" in lines
    # the trial got the checked copy of the candidate (gone with the work directory now)
    assert os.path.basename(conf) == "openssl.cnf" and conf != candidate


def test_a_service_openssl_conf_that_breaks_openssl_gets_no_trial(check, capsys, tmp_path, trials):
    candidate = write(tmp_path / "candidate.cnf", NO_CIPHERS)
    listener = write(tmp_path / "iotsec-tls.conf", "listener 8883\n")
    status, err = run_main(check, capsys, "mosquitto-openssl", candidate, "--config", listener)
    assert status == 1 and err.startswith("OpenSSL refused it: ")
    assert trials == []


def test_a_refusing_trial_broker_refuses_the_file(check, capsys, tmp_path, monkeypatch):
    def refusing(config, openssl_conf=None):
        raise check.Refused("a trial broker refused it: Error: Unknown configuration variable \"bogus\".")

    monkeypatch.setattr(check, "run_trial", refusing)
    listener = write(tmp_path / "iotsec-tls.conf", "listener 8883\nbogus 1\n")
    status, err = run_main(check, capsys, "mosquitto", listener)
    assert status == 1
    assert err == "a trial broker refused it: Error: Unknown configuration variable \"bogus\".\n"
