# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX example (examples/awx) run the way AWX runs a job, with ansible-runner (AWX's runner).

Each job gets a private data directory as AWX builds one: project/ (a copy of
examples/awx/project, the wrapper playbooks), inventory/, env/envvars (the collections that the
project sync installed: here the collection artifact of build/dist, installed under
requirements_collections/ as AWX does from collections/requirements.yml), env/extravars (the job
template's extra variables), and the CA passphrase credential: its type's injector
(examples/awx/credential_type.yml) rendered with the credential's input in a sandbox, written as
!unsafe YAML to a file of its own under env/ and passed as `-e @FILE` (AWX's
build_extra_vars_file), never as a value on the command line.

Hosts are local: the CA host and two devices are aliases of this machine (ansible_connection
local), each with its own directory under a temporary directory; the devices run their modules
with the system python3 (Debian's cryptography, as a device has). No containers.

Proved: the wrapper ca and provision playbooks succeed, a second provision changes nothing
(changed=0 in the runner's stats), a check-mode audit (the audit job template) changes nothing,
and the passphrase appears in no artifact (job events, stdout, command line); and a CA host whose
Python is broken fails with the interpreter's stderr and ansible_python_interpreter in the
message, the passphrase that the broken interpreter printed removed. Also checked: every argument
of every awx.awx task of configure.yml is an option of that module (ansible-doc).

Run by scripts/test.sh (stage awx) after scripts/collection-install.sh.
"""

import glob
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile

import ansible_runner
import pytest
import yaml

from jinja2 import sandbox

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO, "examples", "awx")
DIST = os.path.join(REPO, "build", "dist")
# A fresh passphrase per run, known only to this test and the credential file it writes.
PASSPHRASE = "awx-test-" + secrets.token_hex(16)
# What the ca role's rescue is named: the task whose message is checked.
CA_REPORT_TASK = "Report why the CA could not be used"


# --- the credential, as AWX injects it ----------------------------------------------------

class _UnsafeLoader(yaml.SafeLoader):
    """Reads credential_type.yml: `!unsafe` is Ansible's tag, the value a plain string here."""


_UnsafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


class _UnsafeDumper(yaml.SafeDumper):
    """Every string tagged !unsafe, as AWX's safe_dump writes extra variables (no templating)."""


_UnsafeDumper.add_representer(
    str, lambda dumper, data: dumper.represent_scalar("!unsafe", data, style="'"))


def credential_type():
    with open(os.path.join(EXAMPLE, "credential_type.yml")) as handle:
        return yaml.load(handle, Loader=_UnsafeLoader)["iotsec_awx_credential_type"]


def inject_credential(private_data_dir, inputs):
    """AWX's custom credential injection: the extra_vars injector rendered with the inputs in a
    sandbox, dumped as !unsafe YAML to a file of its own in env/ (0400); the job gets `-e @FILE`."""
    env = sandbox.ImmutableSandboxedEnvironment()
    extra_vars = {name: env.from_string(template).render(**inputs)
                  for name, template in credential_type()["injectors"]["extra_vars"].items()}
    handle, path = tempfile.mkstemp(dir=os.path.join(private_data_dir, "env"))
    with os.fdopen(handle, "w") as stream:
        stream.write(yaml.dump(extra_vars, Dumper=_UnsafeDumper))
    os.chmod(path, stat.S_IRUSR)
    return ["-e", "@" + path]


# --- the job's private data directory ------------------------------------------------------

@pytest.fixture(scope="module")
def collections_dir(tmp_path_factory):
    """The project sync's work: the collection installed from the artifact of build/dist."""
    artifacts = sorted(glob.glob(os.path.join(DIST, "iotsec-tls-*.tar.gz")))
    if not artifacts:
        pytest.fail("no collection artifact in build/dist: run scripts/collection-install.sh first")
    path = str(tmp_path_factory.mktemp("requirements_collections"))
    subprocess.check_call(["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "--force",
                           "-p", path, artifacts[-1]], stdout=subprocess.DEVNULL,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=path))
    assert os.path.isfile(os.path.join(path, "ansible_collections", "iotsec", "tls", "MANIFEST.json"))
    return path


def make_job_dir(root, collections, inventory):
    """A private data directory laid out as AWX lays one out for a job."""
    os.makedirs(root)
    shutil.copytree(os.path.join(EXAMPLE, "project"), os.path.join(root, "project"))
    os.makedirs(os.path.join(root, "inventory"))
    with open(os.path.join(root, "inventory", "hosts.yml"), "w") as handle:
        yaml.safe_dump(inventory, handle)
    os.makedirs(os.path.join(root, "env"))
    with open(os.path.join(root, "env", "envvars"), "w") as handle:
        yaml.safe_dump({"ANSIBLE_COLLECTIONS_PATH": collections, "ANSIBLE_NOCOLOR": "1",
                        "ANSIBLE_FORCE_COLOR": "0"}, handle)
    # The job template's own extra variables: none (the passphrase is the credential's).
    with open(os.path.join(root, "env", "extravars"), "w") as handle:
        yaml.safe_dump({}, handle)
    return inject_credential(root, {"ca_passphrase": PASSPHRASE})


def run_job(root, playbook, credential_args, ident, check=False):
    args = list(credential_args) + (["--check"] if check else [])
    return ansible_runner.run(private_data_dir=root, playbook=playbook, ident=ident, quiet=True,
                              cmdline=" ".join(args))


def events(root, ident):
    for path in sorted(glob.glob(os.path.join(root, "artifacts", ident, "job_events", "*.json"))):
        with open(path) as handle:
            yield json.load(handle)


def files_containing(paths, needle):
    """The files among paths (files, or directories walked) whose bytes contain needle."""
    found = []
    for top in paths:
        walked = [(top, [], [""])] if os.path.isfile(top) else os.walk(top)
        for directory, _dirs, names in walked:
            for name in names:
                path = os.path.join(directory, name) if name else directory
                with open(path, "rb") as handle:
                    if needle.encode() in handle.read():
                        found.append(path)
    return found


def snapshot(base):
    """Path, mode and content of every file under base, except the job's own directory."""
    state = {}
    for directory, dirs, names in os.walk(base):
        dirs[:] = [name for name in dirs if os.path.join(directory, name) != os.path.join(base, "job")]
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                state[path] = (os.stat(path).st_mode, handle.read())
    return state


def changed(runner):
    return sum((runner.stats or {}).get("changed", {}).values())


# --- a fleet on this machine ---------------------------------------------------------------

@pytest.fixture(scope="module")
def fleet(tmp_path_factory, collections_dir):
    base = str(tmp_path_factory.mktemp("awx-fleet"))
    local = {"ansible_connection": "local"}
    inventory = {"all": {
        "vars": {"iotsec_tls_ca_dir": os.path.join(base, "ca")},
        "children": {
            # The CA host runs the controller's Python; the devices the system python3, whose
            # cryptography is Debian's (what a device has).
            "iot_ca": {"hosts": {"awx-ca": dict(local, ansible_python_interpreter=sys.executable)}},
            "iot_devices": {"hosts": {
                name: dict(local, ansible_python_interpreter="/usr/bin/python3",
                           device_identity_dir=os.path.join(base, name, "identity"))
                for name in ("awx-device1", "awx-device2")}},
        }}}
    root = os.path.join(base, "job")
    credential = make_job_dir(root, collections_dir, inventory)
    jobs = {"base": base, "root": root, "credential": credential[1][1:]}
    for ident, playbook in (("ca", "ca.yml"), ("provision", "provision.yml"),
                            ("provision-again", "provision.yml")):
        jobs[ident] = run_job(root, playbook, credential, ident)
    # The audit job template: rotate.yml as job type check.
    jobs["before-audit"] = snapshot(base)
    jobs["audit"] = run_job(root, "rotate.yml", credential, "audit", check=True)
    jobs["after-audit"] = snapshot(base)
    return jobs


@pytest.mark.parametrize("ident", ["ca", "provision", "provision-again", "audit"])
def test_job_succeeds(fleet, ident):
    runner = fleet[ident]
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()


def test_first_provision_issues_every_device(fleet):
    assert fleet["provision"].stats["changed"].get("awx-device1", 0) > 0
    for name in ("awx-device1", "awx-device2"):
        assert os.path.isfile(os.path.join(fleet["base"], name, "identity", "cert.pem")), name


def test_second_provision_changes_nothing(fleet):
    assert changed(fleet["provision-again"]) == 0, fleet["provision-again"].stats


def test_audit_in_check_mode_changes_nothing(fleet):
    # Check mode: no device would rotate (the CA host may report the first CRL as due), and no
    # file of the CA or of a device changed.
    stats = fleet["audit"].stats["changed"]
    assert [stats.get(name, 0) for name in ("awx-device1", "awx-device2")] == [0, 0], stats
    assert "would rotate, check mode (0): " in fleet["audit"].stdout.read()
    assert fleet["after-audit"] == fleet["before-audit"]


def test_the_passphrase_reached_the_jobs_as_an_extra_vars_file(fleet):
    # The leak check below must be able to fail: it finds the passphrase where it is.
    assert files_containing([fleet["credential"]], PASSPHRASE) == [fleet["credential"]]
    with open(os.path.join(fleet["root"], "artifacts", "ca", "command")) as handle:
        command = json.load(handle)["command"]
    assert "@" + fleet["credential"] in command


def test_the_passphrase_is_in_no_artifact(fleet):
    artifacts = os.path.join(fleet["root"], "artifacts")
    assert glob.glob(os.path.join(artifacts, "provision", "job_events", "*.json"))
    assert files_containing([artifacts], PASSPHRASE) == []


# --- a CA host with a broken Python --------------------------------------------------------

def _broken_interpreter(directory, leak=True):
    """An interpreter that fails the way a broken one does: a message on stderr, exit 1. With
    leak, it prints the passphrase too (as a crash could, of a module that was given it), so
    that the report must remove it."""
    path = os.path.join(directory, "broken-python")
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\necho 'broken-python: cannot start (simulated); it printed %s' >&2\n"
                     "exit 1\n" % (PASSPHRASE if leak else "nothing secret"))
    os.chmod(path, 0o755)
    return path


@pytest.mark.parametrize("kind", ["stderr", "false"])
def test_broken_interpreter_is_reported_with_its_output_and_the_fix(tmp_path, collections_dir, kind):
    base = str(tmp_path)
    interpreter = _broken_interpreter(base) if kind == "stderr" else "/bin/false"
    inventory = {"all": {"children": {"iot_ca": {"hosts": {"awx-broken-ca": {
        "ansible_connection": "local", "ansible_python_interpreter": interpreter,
        "iotsec_tls_ca_dir": os.path.join(base, "ca")}}}}}}
    root = os.path.join(base, "job")
    credential = make_job_dir(root, collections_dir, inventory)
    runner = run_job(root, "ca.yml", credential, "ca")
    assert runner.status == "failed" and runner.rc != 0
    reports = [event["event_data"]["res"]["msg"] for event in events(root, "ca")
               if event.get("event") == "runner_on_failed"
               and event["event_data"].get("task") == CA_REPORT_TASK]
    assert len(reports) == 1, "the ca role's rescue did not report"
    message = reports[0]
    assert "ansible_python_interpreter" in message
    assert "[check: module_interpreter]" in message
    assert interpreter in message
    if kind == "stderr":
        assert "broken-python: cannot start (simulated); it printed ********" in message
    else:
        assert "no output" in message
    assert PASSPHRASE not in message
    assert files_containing([os.path.join(root, "artifacts")], PASSPHRASE) == []


def _stop_reasons(root, ident):
    """The messages of the device_identity role's stop task, per device."""
    return {event["event_data"]["host"]: event["event_data"]["res"]["msg"] for event in events(root, ident)
            if event.get("event") == "runner_on_failed"
            and event["event_data"].get("task") == "Stop this host, naming the check that failed"}


def _device_fleet(base, ca_host):
    return {"all": {
        "vars": {"iotsec_tls_ca_dir": os.path.join(base, "ca")},
        "children": {
            "iot_ca": {"hosts": {"awx-ca": ca_host}},
            "iot_devices": {"hosts": {"awx-device1": {
                "ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
                "device_identity_dir": os.path.join(base, "device1")}}},
        }}}


def test_devices_name_the_broken_python_of_the_ca_host(tmp_path, collections_dir):
    """provision with a CA host whose Python is broken: each device stops with the CA's reason.
    (The first task that fails there reads the CA's public facts: it has no passphrase to leak.)"""
    base = str(tmp_path)
    inventory = _device_fleet(base, {"ansible_connection": "local",
                                     "ansible_python_interpreter": _broken_interpreter(base, leak=False)})
    root = os.path.join(base, "job")
    runner = run_job(root, "provision.yml", make_job_dir(root, collections_dir, inventory), "provision")
    assert runner.status == "failed"
    message = _stop_reasons(root, "provision")["awx-device1"]
    assert "the fleet CA on awx-ca cannot be read" in message
    assert "broken-python: cannot start (simulated); it printed nothing secret" in message
    assert "ansible_python_interpreter of awx-ca" in message
    assert files_containing([os.path.join(root, "artifacts")], PASSPHRASE) == []


def test_a_wrong_passphrase_stops_the_devices_and_is_not_shown(tmp_path, collections_dir):
    """The CA made with one passphrase, provision run with a credential holding another."""
    base = str(tmp_path)
    inventory = _device_fleet(base, {"ansible_connection": "local",
                                     "ansible_python_interpreter": sys.executable})
    root = os.path.join(base, "job")
    credential = make_job_dir(root, collections_dir, inventory)
    assert run_job(root, "ca.yml", credential, "ca").status == "successful"
    wrong = inject_credential(root, {"ca_passphrase": PASSPHRASE + "-wrong"})
    runner = run_job(root, "provision.yml", wrong, "provision")
    assert runner.status == "failed"
    message = _stop_reasons(root, "provision")["awx-device1"]
    assert "the CA on awx-ca failed to issue" in message and "Nothing was installed" in message
    assert "[check: ca_passphrase]" in message or "passphrase" in message
    assert not os.path.exists(os.path.join(base, "device1", "cert.pem"))
    artifacts = os.path.join(root, "artifacts")
    assert files_containing([artifacts], PASSPHRASE) == []


@pytest.mark.parametrize("ca_name, ca_vars, expected", [
    ("localhost", {"ansible_connection": "local"}, "successful"),  # the control node as the CA
    ("awx-ca", {"ansible_connection": "local"}, "successful"),  # a local alias is the control node too
    ("localhost", {"ansible_connection": "local", "ansible_python_interpreter": "BROKEN"}, "failed"),
])
def test_a_ca_on_the_control_node_runs_the_controllers_python(tmp_path, collections_dir, ca_name,
                                                              ca_vars, expected):
    """interpreter_python broken (as a broken shim that discovery finds would be): a CA host that is
    the control node and names no interpreter runs ca and provision with ansible_playbook_python;
    one whose inventory names the broken one is taken at its word, and fails naming it."""
    base = str(tmp_path)
    broken = _broken_interpreter(base, leak=False)
    ca_vars = dict((k, broken if v == "BROKEN" else v) for k, v in ca_vars.items())
    inventory = _device_fleet(base, ca_vars)
    inventory["all"]["children"]["iot_ca"] = {"hosts": {ca_name: ca_vars}}
    root = os.path.join(base, "job")
    credential = make_job_dir(root, collections_dir, inventory)
    envvars = os.path.join(root, "env", "envvars")
    with open(envvars) as handle:
        env = yaml.safe_load(handle)
    env["ANSIBLE_PYTHON_INTERPRETER"] = broken  # every host that names none would use it
    with open(envvars, "w") as handle:
        yaml.safe_dump(env, handle)
    results = [run_job(root, playbook, credential, ident)
               for ident, playbook in (("ca", "ca.yml"), ("provision", "provision.yml"))]
    if expected == "successful":
        assert [r.status for r in results] == ["successful", "successful"]
        assert os.path.isfile(os.path.join(base, "device1", "cert.pem"))
    else:
        assert results[0].status == "failed"
        message = [event["event_data"]["res"]["msg"] for event in events(root, "ca")
                   if event.get("event") == "runner_on_failed"
                   and event["event_data"].get("task") == CA_REPORT_TASK][0]
        assert broken in message and "ansible_python_interpreter" in message


# --- configure.yml against the awx.awx modules' documentation ------------------------------

def test_every_awx_argument_is_an_option_of_its_module():
    """ansible-lint does not check the arguments of awx.awx modules: this does, from ansible-doc."""
    with open(os.path.join(EXAMPLE, "configure.yml")) as handle:
        plays = yaml.safe_load(handle)
    calls = [(key, value) for play in plays for task in play.get("tasks", [])
             for key, value in task.items() if key.startswith("awx.awx.")]
    modules = sorted({module for module, _args in calls})
    assert {"awx.awx.credential_type", "awx.awx.credential", "awx.awx.project", "awx.awx.job_template",
            "awx.awx.schedule", "awx.awx.notification_template"} <= set(modules)
    docs = json.loads(subprocess.check_output(["ansible-doc", "--json"] + modules))
    for module, arguments in calls:
        options = docs[module]["doc"]["options"]
        known = set(options)
        for option in options.values():
            known.update(option.get("aliases", []))
        assert set(arguments) <= known, "%s: not options: %s" % (module, sorted(set(arguments) - known))
        for name, value in arguments.items():
            choices = options.get(name, {}).get("choices")
            if choices and isinstance(value, str) and "{{" not in value:
                assert value in choices, (module, name, value, choices)


def test_the_injector_sets_the_variable_the_roles_read():
    injected = set(credential_type()["injectors"]["extra_vars"])
    assert injected == {"iotsec_tls_ca_passphrase"}
    with open(os.path.join(REPO, "roles", "ca", "defaults", "main.yml")) as handle:
        assert "iotsec_tls_ca_passphrase" in handle.read()


def test_docs_give_the_credential_type_as_the_example_has_it():
    """docs/rotation.md shows inputs and injectors as YAML: the same as credential_type.yml."""
    with open(os.path.join(REPO, "docs", "rotation.md")) as handle:
        text = handle.read()
    marker = "<!-- credential type: examples/awx/credential_type.yml -->"
    assert marker in text
    block = text.split(marker, 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = yaml.safe_load(block)
    expected = credential_type()
    assert shown == {"inputs": expected["inputs"], "injectors": expected["injectors"]}
