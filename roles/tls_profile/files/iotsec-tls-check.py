# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check a candidate configuration file before it replaces the one in service.

Installed on brokers and devices by iotsec.tls.tls_profile; the roles call it from the
`validate:` option of their template tasks, so a file that fails here never reaches its place.
Exit status 0: accepted; 1: refused (the reason on stderr); 2: usage.

  mosquitto CANDIDATE [--openssl-conf FILE]
      CANDIDATE is a Mosquitto configuration (conf.d fragment). Mosquitto 2.0 has no
      configuration test flag, so a trial broker is started on a copy of it, with every listener
      moved to a free port on 127.0.0.1 and logging to stderr: it loads certificates, keys, CA
      file, CRL, ACL and cipher settings exactly as the service would (as root, dropping to the
      mosquitto user before it reads them). "mosquitto version ... running" means accepted; an
      exit means refused. FILE is given to it as OPENSSL_CONF (the service's drop-in does the same).
  mosquitto-openssl CANDIDATE --config FILE
      CANDIDATE is the OpenSSL configuration for the mosquitto service: it must load (openssl,
      Python's ssl), and a trial broker on FILE (the listener configuration in service, if any)
      must start with it.
  mosquitto-acl CANDIDATE
      CANDIDATE is a Mosquitto ACL file: a trial broker with only that ACL must start.
  openssl-config CANDIDATE
      CANDIDATE is a whole OpenSSL configuration (/etc/ssl/openssl.cnf): `openssl` and Python's
      ssl module must load it and create a TLS context without an error, since with Debian's
      `config_diagnostics = 1` a bad value breaks every program that uses OpenSSL.
  openssl-policy CANDIDATE
      CANDIDATE defines the sections [iotsec_tls_ssl_sect] and [iotsec_tls_system_default]: it is
      checked as part of a minimal configuration that activates it.
"""

import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TRIAL_TIMEOUT = 15.0
# Lines of a Mosquitto configuration the trial broker must not obey: it must not write the
# service's pid file, persistence database or log file.
TRIAL_DROP = re.compile(r"^\s*(pid_file|persistence|persistence_file|persistence_location|autosave_\w+|"
                        r"log_dest|log_type|user)\b")
LISTENER = re.compile(r"^\s*listener\s+\d+")
# Group lists of an OpenSSL configuration: OpenSSL 3.0 skips a system_default it cannot apply
# without a word (even with config_diagnostics), so each list is tried on its own (check_groups).
GROUPS = re.compile(r"^\s*(?:Groups|Curves)\s*=\s*(\S+)\s*$", re.IGNORECASE)


class Refused(Exception):
    pass


def free_port():
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def readable_copy(workdir, path, name, owner=None):
    """A copy the mosquitto user can read (Ansible's candidate lies in root's 0700 tmp dir)."""
    dest = os.path.join(workdir, name)
    shutil.copyfile(path, dest)
    if owner:
        import pwd
        entry = pwd.getpwnam(owner)
        os.chown(dest, entry.pw_uid, entry.pw_gid)
        os.chmod(dest, 0o600)
    else:
        os.chmod(dest, 0o644)
    return dest


def trial_config(lines, workdir, replace=None):
    """Rewrite a Mosquitto configuration for a trial run; `replace` maps option -> new value."""
    out = []
    for line in lines:
        if TRIAL_DROP.match(line):
            continue
        if LISTENER.match(line):
            line = "listener %d 127.0.0.1" % free_port()
        for option, value in (replace or {}).items():
            if re.match(r"^\s*%s\s" % re.escape(option), line):
                line = "%s %s" % (option, value)
        out.append(line)
    out += ["log_dest stderr", "log_type error", "log_type warning", "log_type notice",
            "log_type information"]
    path = os.path.join(workdir, "trial.conf")
    with open(path, "w") as handle:
        handle.write("\n".join(out) + "\n")
    os.chmod(path, 0o644)
    return path


def broker_errors(output):
    """Mosquitto's log lines that explain a refusal, without timestamps and progress lines."""
    lines = []
    for line in output.decode("utf-8", "replace").splitlines():
        line = re.sub(r"^\d+: ", "", line).strip()
        if line and not re.match(r"(mosquitto version \S+ (starting|terminating)|Config loaded from|"
                                 r"Opening ipv[46] listen socket)", line):
            lines.append(line)
    return " ".join(lines)


def run_trial(config, openssl_conf=None):
    """Start a broker on `config`; return when it runs (accepted) or raise Refused with its log."""
    env = dict(os.environ)
    env.pop("OPENSSL_CONF", None)
    if openssl_conf:
        env["OPENSSL_CONF"] = openssl_conf
    proc = subprocess.Popen(["mosquitto", "-c", config], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    output = b""
    deadline = time.monotonic() + TRIAL_TIMEOUT
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Refused("the trial broker neither started nor failed within %d s: %s"
                              % (TRIAL_TIMEOUT, broker_errors(output)))
            ready, _unused, _unused2 = select.select([proc.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                proc.wait()
                raise Refused("a trial broker refused it: %s" % (
                    broker_errors(output) or "exit status %s" % proc.returncode))
            output += chunk
            if re.search(rb"mosquitto version \S+ running", output):
                return output.decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def check_groups(config):
    """Every Groups (or Curves) list in `config` is one this OpenSSL can set: a list naming a group
    it lacks (X25519MLKEM768 before OpenSSL 3.5) would make OpenSSL 3.0 drop the whole policy."""
    problems = []
    for line in read_lines(config):
        match = GROUPS.match(line)
        if not match:
            continue
        # s_client sets the list before it connects: port 1 on loopback refuses at once.
        result = subprocess.run(["openssl", "s_client", "-groups", match.group(1), "-connect", "127.0.0.1:1"],
                                env=dict(os.environ, OPENSSL_CONF="/dev/null"), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False, timeout=10)
        output = result.stdout.decode("utf-8", "replace")
        if "SSL_CONF_cmd" in output or "cannot be set" in output:
            problems.append("groups %s: %s" % (match.group(1), " ".join(
                ln.strip() for ln in output.splitlines() if "cannot be set" in ln or "SSL_CONF_cmd" in ln)))
    if problems:
        raise Refused("OpenSSL refused it: " + "; ".join(problems))


def check_openssl(config):
    """OpenSSL and Python's ssl load `config` and create a TLS context from it."""
    check_groups(config)
    env = dict(os.environ, OPENSSL_CONF=config)
    problems = []
    result = subprocess.run(["openssl", "ciphers", "-s"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, check=False)
    if result.returncode != 0 or result.stderr.strip():
        problems.append("openssl: " + (result.stderr.decode("utf-8", "replace").strip() or
                                       "exit status %d" % result.returncode))
    result = subprocess.run([sys.executable, "-c", "import ssl; ssl.create_default_context()"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        lines = result.stdout.decode("utf-8", "replace").strip().splitlines()
        problems.append("python ssl: " + (lines[-1] if lines else "exit status %d" % result.returncode))
    if problems:
        raise Refused("OpenSSL refused it: " + "; ".join(problems))


def read_lines(path):
    with open(path) as handle:
        return handle.read().splitlines()


def cmd_mosquitto(workdir, candidate, openssl_conf=None):
    if openssl_conf and not os.path.exists(openssl_conf):
        openssl_conf = None  # first run: the service has none yet either
    run_trial(trial_config(read_lines(candidate), workdir), openssl_conf)


def cmd_mosquitto_openssl(workdir, candidate, config=None):
    copy = readable_copy(workdir, candidate, "openssl.cnf")
    check_openssl(copy)
    if config and os.path.exists(config):
        run_trial(trial_config(read_lines(config), workdir), copy)


def cmd_mosquitto_acl(workdir, candidate):
    acl = readable_copy(workdir, candidate, "acl", owner="mosquitto")
    run_trial(trial_config(["per_listener_settings false", "allow_anonymous false",
                            "acl_file " + acl, "listener 0"], workdir))


def cmd_openssl_config(workdir, candidate):
    check_openssl(readable_copy(workdir, candidate, "openssl.cnf"))


def cmd_openssl_policy(workdir, candidate):
    policy = readable_copy(workdir, candidate, "policy.cnf")
    config = os.path.join(workdir, "openssl.cnf")
    with open(config, "w") as handle:
        # config_diagnostics: a missing section or a value OpenSSL does not know (a group name this
        # OpenSSL lacks) is an error, not silently skipped.
        handle.write("config_diagnostics = 1\nopenssl_conf = openssl_init\n\n[openssl_init]\nssl_conf = iotsec_tls_ssl_sect\n\n"
                     ".include %s\n" % policy)
    check_groups(policy)
    check_openssl(config)


COMMANDS = {
    "mosquitto": (cmd_mosquitto, "--openssl-conf"),
    "mosquitto-openssl": (cmd_mosquitto_openssl, "--config"),
    "mosquitto-acl": (cmd_mosquitto_acl, None),
    "openssl-config": (cmd_openssl_config, None),
    "openssl-policy": (cmd_openssl_policy, None),
}


def main(argv):
    if len(argv) not in (2, 4) or argv[0] not in COMMANDS:
        sys.stderr.write(__doc__)
        return 2
    function, option = COMMANDS[argv[0]]
    kwargs = {}
    if len(argv) == 4:
        if argv[2] != option:
            sys.stderr.write(__doc__)
            return 2
        kwargs = {option.lstrip("-").replace("-", "_"): argv[3]}
    workdir = tempfile.mkdtemp(prefix="iotsec-tls-check.")
    os.chmod(workdir, 0o755)
    try:
        function(workdir, argv[1], **kwargs)
    except Refused as exc:
        sys.stderr.write("%s\n" % exc)
        return 1
    except (OSError, KeyError) as exc:
        sys.stderr.write("the %s check could not run: %s\n" % (argv[0], exc))
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
