# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Speed benchmark of iotsec.tls rotation (issue 4): ours against a community.crypto baseline.

Run it through benchmarks/run.sh, which prepares the machine and installs the collection under
test. On N simulated devices (local-connection hosts, one directory each) it measures, in one
run and with one Ansible configuration:

  ours full       playbooks/rotate.yml with every certificate renewed (device_identity_force=true)
  ours no-op      the same playbook right after: everything fresh
  baseline full   benchmarks/baseline.yml, community.crypto as its documentation shows it,
                  forced to make a new key and certificate on every host
  baseline no-op  the same playbook, idempotent settings
  ping floor      ansible -m ansible.builtin.ping on the same hosts

Each figure is checked before it is reported (N certificates with N new keys on the ledger,
changed=0 for no-op runs, ...). Remote module calls are counted by giving every host a tiny
interpreter wrapper that logs the module it runs, then execs the venv's Python.

Exit status: 0 when the measurements were made and verified, whether or not the targets were
met (missed targets are printed as MISSED); 1 when a run failed or a figure could not be verified.
"""

import argparse
import collections
import datetime
import getpass
import hashlib
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_FULL = 0.5  # ours full rotation <= 0.5 x baseline full rotation
TARGET_NOOP = 1.3  # ours no-op <= 1.3 x ping floor
PASSPHRASE_ENV = "IOTSEC_BENCH_CA_PASSPHRASE"
BENCH_DIR = Path(__file__).resolve().parent
# Actions that run on the controller only (no remote module).
CONTROLLER_ACTIONS = {
    "ansible.builtin.set_fact", "set_fact", "ansible.builtin.debug", "debug",
    "ansible.builtin.fail", "fail", "ansible.builtin.assert", "assert", "ansible.builtin.meta",
    "meta", "ansible.builtin.include_role", "include_role", "ansible.builtin.include_tasks",
    "include_tasks", "ansible.builtin.validate_argument_spec", "validate_argument_spec",
}


def cpu_busy_seconds():
    """CPU seconds the whole machine spent busy since boot (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait, threshold=0.15):
    """Wait (up to max_wait s) until the machine is idle: less than threshold of one core busy
    over two seconds. Returns the seconds waited, or None if it never got quiet."""
    t0 = time.monotonic()
    while True:
        b0 = cpu_busy_seconds()
        if b0 is None:
            return 0.0
        time.sleep(2)
        if (cpu_busy_seconds() - b0) / 2 < threshold:
            return time.monotonic() - t0
        if time.monotonic() - t0 > max_wait:
            return None


class BenchmarkError(Exception):
    """A run failed or a figure could not be verified: the benchmark is meaningless."""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("-n", "--hosts", type=int, default=100, help="simulated devices (100)")
    parser.add_argument("-r", "--repeat", type=int, default=None,
                        help="rounds; every measurement once per round, interleaved; the median is "
                             "reported (default 1 for N >= 50, 3 below)")
    parser.add_argument("-f", "--forks", type=int, default=5,
                        help="Ansible forks for every run (5, Ansible's default)")
    parser.add_argument("--playbooks", type=Path, required=True,
                        help="playbooks directory of the collection under test")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="empty or missing directory for the run (default: a temporary one)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (CA, hosts, Ansible JSON output)")
    parser.add_argument("--device-python", default=None,
                        help="interpreter of the simulated devices (default: the first of "
                             "/usr/bin/python3 and this Python that can run the baseline)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--wait-quiet", type=float, default=300,
                        help="before each measured run, wait up to this many seconds for the machine "
                             "to be idle (other processes would skew the figures); 0: don't wait")
    args = parser.parse_args()
    if args.hosts < 1:
        parser.error("--hosts must be at least 1")
    if args.repeat is None:
        args.repeat = 1 if args.hosts >= 50 else 3
    if args.repeat < 1 or args.forks < 1:
        parser.error("--repeat and --forks must be at least 1")
    return args


class Bench:
    """The simulated fleet, the runs and their verification."""

    def __init__(self, args, workdir):
        self.args = args
        self.work = workdir
        self.ca_dir = workdir / "ca"
        self.out_dir = workdir / "out"
        self.hosts = ["dev%03d" % i for i in range(1, args.hosts + 1)]
        self.passphrase = secrets.token_urlsafe(32)
        self.env = dict(os.environ)
        self.env[PASSPHRASE_ENV] = self.passphrase
        self.env["ANSIBLE_CONFIG"] = str(workdir / "ansible.cfg")
        self.env.setdefault("LC_ALL", "C.UTF-8")
        for name in ("ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_FORKS"):
            self.env.pop(name, None)
        rotate = args.playbooks / "rotate.yml"
        self.ours = rotate if rotate.exists() else args.playbooks / "provision.yml"
        self.baseline = BENCH_DIR / "baseline.yml"
        self.runs = collections.defaultdict(list)  # kind -> [measurement dict]
        self.count = 0

    # --- the fleet -------------------------------------------------------------------------
    def host_dir(self, host):
        return self.work / "hosts" / host

    def calls_log(self, host):
        return self.host_dir(host) / "calls.log"

    def setup(self):
        user = getpass.getuser()
        self.out_dir.mkdir(parents=True)
        hosts = {}
        for host in ["localhost"] + self.hosts:
            python = sys.executable if host == "localhost" else self.args.device_python
            hdir = self.host_dir(host)
            hdir.mkdir(parents=True)
            # The interpreter of this host: logs each module it runs, then is the venv's Python.
            wrapper = hdir / "python"
            wrapper.write_text(
                "#!/bin/sh\n"
                "printf '%%s\\n' \"$1\" >>%s\n"
                "exec %s \"$@\"\n" % (shlex.quote(str(self.calls_log(host))), shlex.quote(python)))
            wrapper.chmod(0o755)
            hosts[host] = {"ansible_python_interpreter": str(wrapper)}
            if host != "localhost":
                hosts[host].update({
                    "device_identity_dir": str(hdir / "identity"),
                    "baseline_dir": str(hdir / "baseline"),
                })
                (hdir / "baseline").mkdir(mode=0o700)
        inventory = {
            "all": {
                "vars": {
                    "ansible_connection": "local",
                    "iotsec_tls_ca_dir": str(self.ca_dir),
                    "iotsec_tls_ca_passphrase":
                        "{{ lookup('ansible.builtin.env', '%s') }}" % PASSPHRASE_ENV,
                    "device_identity_owner": user,
                },
                "hosts": {"localhost": hosts["localhost"]},
                "children": {
                    "iot_devices": {"hosts": {h: hosts[h] for h in self.hosts}},
                    "mqtt_brokers": {"hosts": {}},
                },
            }
        }
        (self.work / "inventory.json").write_text(json.dumps(inventory, indent=1))
        (self.work / "ansible.cfg").write_text(
            "# One configuration for every run of the benchmark.\n"
            "[defaults]\n"
            "inventory = %s\n"
            "forks = %d\n"
            "stdout_callback = ansible.posix.json\n"
            "bin_ansible_callbacks = true\n"
            "retry_files_enabled = false\n"
            "host_key_checking = false\n"
            "json_indent = 0\n" % (self.work / "inventory.json", self.args.forks))

    # --- running Ansible -------------------------------------------------------------------
    def redact(self, text):
        return text.replace(self.passphrase, "<CA passphrase>")

    def run(self, label, cmd, measured=True):
        """Run an Ansible command; return wall time, children's CPU time, parsed JSON output."""
        self.count += 1
        for host in ["localhost"] + self.hosts:
            self.calls_log(host).write_text("")
        stdout = self.out_dir / ("%02d-%s.json" % (self.count, label))
        stderr = stdout.with_suffix(".stderr")
        waited = None
        if measured and self.args.wait_quiet > 0:
            waited = wait_for_quiet(self.args.wait_quiet)
            if waited is None:
                say("%s: the machine stayed busy for %d s; measuring anyway (see 'other CPU')"
                    % (label, self.args.wait_quiet))
            elif waited > 5:
                say("%s: waited %.0f s for other processes to finish" % (label, waited))
        with stdout.open("wb") as out, stderr.open("wb") as err:
            busy0 = cpu_busy_seconds()
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            rc = subprocess.run(cmd, stdout=out, stderr=err, env=self.env, cwd=self.work,
                                check=False).returncode
            wall = time.monotonic() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            busy1 = cpu_busy_seconds()
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        # CPU time that other processes of the machine used meanwhile: they slow the run down.
        other = max(0.0, busy1 - busy0 - cpu) if busy0 is not None else float("nan")
        out_text = stdout.read_text(errors="replace")
        err_text = stderr.read_text(errors="replace")
        if self.passphrase in out_text or self.passphrase in err_text:
            raise BenchmarkError("%s: the CA passphrase appears in Ansible's output (%s)" % (label, stdout))
        try:
            data = json.loads(out_text[out_text.index("{"):])
        except ValueError:
            data = None
        if rc != 0 or data is None:
            tail = "\n".join(self.redact(err_text + out_text).splitlines()[-40:])
            raise BenchmarkError("%s: %s exited %d\n%s" % (label, " ".join(cmd[:2]), rc, tail))
        bad = {h: s for h, s in data["stats"].items() if s.get("failures") or s.get("unreachable")}
        if bad:
            raise BenchmarkError("%s: failed or unreachable hosts: %s (see %s)" % (label, sorted(bad)[:10], stdout))
        calls = {}
        for host in ["localhost"] + self.hosts:
            names = [re.sub(r"^.*AnsiballZ_(.*)\.py$", r"\1", line)
                     for line in self.calls_log(host).read_text().splitlines()]
            calls[host] = collections.Counter(names)
        return {"label": label, "wall": wall, "cpu": cpu, "json": data, "calls": calls,
                "other": other,
                "output": str(stdout), "measured": measured}

    def playbook(self, label, playbook, *extra, measured=True):
        return self.run(label, ["ansible-playbook", str(playbook)] + list(extra), measured)

    # --- checks ----------------------------------------------------------------------------
    def ledger(self):
        """host -> list of (serial, public_key_sha256, status)."""
        con = sqlite3.connect("file:%s?mode=ro" % (self.ca_dir / "ledger.sqlite3"), uri=True)
        try:
            rows = con.execute("SELECT host, serial, public_key_sha256, status FROM certificates").fetchall()
        finally:
            con.close()
        result = collections.defaultdict(list)
        for host, serial, pubkey, status in rows:
            result[host].append((serial, pubkey, status))
        return result

    @staticmethod
    def valid_keys(ledger):
        return {h: {r[1] for r in rows if r[2] == "valid"} for h, rows in ledger.items()}

    def changed_hosts(self, result):
        return sorted(h for h, s in result["json"]["stats"].items() if s.get("changed"))

    def file_digests(self, name):
        digests = {}
        for host in self.hosts:
            path = self.host_dir(host) / "baseline" / name
            digests[host] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        return digests

    def check_ours_full(self, result, before):
        after = self.ledger()
        serials_before = {h: {r[0] for r in rows} for h, rows in before.items()}
        new = {h: [r for r in rows if r[0] not in serials_before.get(h, set())] for h, rows in after.items()}
        issued = sum(len(rows) for rows in new.values())
        hosts_issued = sorted(h for h, rows in new.items() if rows)
        problems = []
        if issued != len(self.hosts) or hosts_issued != self.hosts:
            problems.append("%d certificates on the ledger for %d hosts, expected %d for every host"
                            % (issued, len(hosts_issued), len(self.hosts)))
        old_keys = self.valid_keys(before)
        same_key = [h for h in hosts_issued if {r[1] for r in new[h]} & old_keys.get(h, set())]
        if same_key:
            problems.append("%d hosts kept their key: %s" % (len(same_key), same_key[:5]))
        if problems:
            raise BenchmarkError("%s is not a full rotation: %s (%s)" % (result["label"], "; ".join(problems), result["output"]))
        result["verified"] = "%d certificates issued, %d new keys (ledger)" % (issued, len(hosts_issued))

    def check_noop(self, result, ledger_before=None):
        changed = self.changed_hosts(result)
        if changed:
            raise BenchmarkError("%s is not a no-op run: changed on %d hosts, e.g. %s (%s)"
                                 % (result["label"], len(changed), changed[:5], result["output"]))
        if ledger_before is not None:
            after = self.ledger()
            if sum(map(len, after.values())) != sum(map(len, ledger_before.values())):
                raise BenchmarkError("%s issued certificates" % result["label"])
        result["verified"] = "changed=0 on all %d hosts" % len(result["json"]["stats"])

    def check_baseline_full(self, result, keys_before, certs_before):
        keys_after, certs_after = self.file_digests("key.pem"), self.file_digests("cert.pem")
        same = [h for h in self.hosts if keys_after[h] is None or keys_after[h] == keys_before[h]
                or certs_after[h] is None or certs_after[h] == certs_before[h]]
        if same:
            raise BenchmarkError("%s did not give every host a new key and certificate: %d did not, e.g. %s"
                                 % (result["label"], len(same), same[:5]))
        self.check_pairs()
        result["verified"] = "%d new keys and certificates (files)" % len(self.hosts)

    def check_pairs(self):
        """Every baseline certificate matches its key and is signed by the issuing CA."""
        # pylint: disable-next=import-outside-toplevel
        from cryptography import x509
        # pylint: disable-next=import-outside-toplevel
        from cryptography.hazmat.primitives import serialization
        issuing = x509.load_pem_x509_certificate((self.ca_dir / "issuing.pem").read_bytes())
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        for host in self.hosts:
            hdir = self.host_dir(host) / "baseline"
            cert = x509.load_pem_x509_certificate((hdir / "cert.pem").read_bytes())
            key = serialization.load_pem_private_key((hdir / "key.pem").read_bytes(), None)
            if (cert.public_key().public_bytes(serialization.Encoding.DER, spki)
                    != key.public_key().public_bytes(serialization.Encoding.DER, spki)):
                raise BenchmarkError("baseline: %s has a certificate that does not match its key" % host)
            cert.verify_directly_issued_by(issuing)

    # --- the measurements ------------------------------------------------------------------
    def ours_full(self):
        before = self.ledger()
        result = self.playbook("ours-full", self.ours, "-e", "device_identity_force=true")
        self.check_ours_full(result, before)
        return result

    def ours_noop(self):
        before = self.ledger()
        result = self.playbook("ours-noop", self.ours)
        self.check_noop(result, before)
        return result

    def baseline_full(self):
        keys, certs = self.file_digests("key.pem"), self.file_digests("cert.pem")
        result = self.playbook("baseline-full", self.baseline, "-e", "baseline_force=true")
        self.check_baseline_full(result, keys, certs)
        return result

    def baseline_noop(self):
        keys, certs = self.file_digests("key.pem"), self.file_digests("cert.pem")
        result = self.playbook("baseline-noop", self.baseline)
        self.check_noop(result)
        if self.file_digests("key.pem") != keys or self.file_digests("cert.pem") != certs:
            raise BenchmarkError("baseline-noop changed keys or certificates")
        return result

    def ping(self):
        result = self.run("ping", ["ansible", "iot_devices", "-m", "ansible.builtin.ping"])
        pongs = sum(1 for task in result["json"]["plays"][0]["tasks"] for r in task["hosts"].values()
                    if r.get("ping") == "pong")
        if pongs != len(self.hosts):
            raise BenchmarkError("ping: %d of %d hosts answered" % (pongs, len(self.hosts)))
        result["verified"] = "%d pongs" % pongs
        return result

    def status_floor(self):
        """The one module call a fresh host needs, ad hoc: what the no-op run costs without the
        playbook around it (role, once-only CA tasks, CRL, summary)."""
        result = self.run("status", ["ansible", "iot_devices", "-m", "iotsec.tls.certificate_status",
                                     "-a", "path={{ device_identity_dir }} common_name={{ inventory_hostname }} "
                                     # a single-label device gets no DNS SAN (docs/pki.md)
                                     "profile=device"])
        fresh = sum(1 for task in result["json"]["plays"][0]["tasks"] for r in task["hosts"].values()
                    if r.get("needs_certificate") is False)
        if fresh != len(self.hosts):
            raise BenchmarkError("status: %d of %d hosts reported fresh" % (fresh, len(self.hosts)))
        result["verified"] = "%d fresh" % fresh
        return result

    def prepare(self):
        say("CA: %s" % self.ca_dir)
        res = self.playbook("ca", self.args.playbooks / "ca.yml", measured=False)
        if not (self.ca_dir / "issuing.key").exists():
            raise BenchmarkError("ca.yml made no CA in %s (%s)" % (self.ca_dir, res["output"]))
        say("provisioning %d devices with %s (not measured)" % (len(self.hosts), self.ours.name))
        before = self.ledger() if (self.ca_dir / "ledger.sqlite3").exists() else {}
        res = self.playbook("ours-provision", self.ours, measured=False)
        issued = sum(map(len, self.ledger().values())) - sum(map(len, before.values()))
        if issued != len(self.hosts):
            raise BenchmarkError("provisioning issued %d certificates for %d hosts" % (issued, len(self.hosts)))
        say("provisioning %d devices with the baseline (not measured)" % len(self.hosts))
        self.playbook("baseline-provision", self.baseline, measured=False)
        self.check_pairs()

    def measure(self):
        # The two runs of each target ratio follow each other (ours full and the baseline's;
        # ours no-op and the ping floor), so that a machine that speeds up or slows down over a
        # round (a shared host does) skews a ratio as little as possible. Which of the two goes
        # first alternates from round to round: the run that follows the long baseline runs, or
        # comes first in a pair, gets no systematic advantage or penalty. ours no-op always comes
        # after ours full, which leaves the fleet fresh.
        full = [("ours_full", self.ours_full), ("baseline_full", self.baseline_full)]
        noop = [("ours_noop", self.ours_noop), ("ping", self.ping)]
        rest = [("status", self.status_floor), ("baseline_noop", self.baseline_noop)]
        for rnd in range(1, self.args.repeat + 1):
            step = 1 if rnd % 2 else -1
            for kind, func in full[::step] + noop[::step] + rest:
                result = func()
                self.runs[kind].append(result)
                say("round %d/%d  %-14s %7.1f s wall  %7.1f s CPU  %6.1f s other CPU  %s"
                    % (rnd, self.args.repeat, kind, result["wall"], result["cpu"], result["other"],
                       result["verified"]))


# --- reporting ---------------------------------------------------------------------------------
def say(msg):
    print("[benchmark] %s" % msg, file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def calls_summary(result, hosts):
    """Module calls per device (median, min, max), by module; calls on the CA host."""
    per_host = [sum(result["calls"][h].values()) for h in hosts]
    by_module = collections.Counter()
    for host in hosts:
        by_module.update(result["calls"][host])
    return {
        "per_device_median": median(per_host), "per_device_min": min(per_host),
        "per_device_max": max(per_host),
        "per_device_by_module": {m: c / len(hosts) for m, c in sorted(by_module.items())},
        "ca_host": dict(sorted(result["calls"]["localhost"].items())),
    }


def task_profile(result):
    """One dict per task in playbook order (play, task, seconds, ran, skipped, actions, meta), from
    the JSON callback: seconds from the task's start to its last host result. A meta task (such as
    end_role) is decided by the controller host by host: the callback sees it start once per host,
    with one result (skipped) or none (done). Those starts make one row, with meta = their number."""
    rows = []
    for play in result["json"]["plays"]:
        for task in play["tasks"]:
            dur = task["task"]["duration"]
            seconds = 0.0
            if "end" in dur:
                seconds = (parse_time(dur["end"]) - parse_time(dur["start"])).total_seconds()
            ran = sum(1 for r in task["hosts"].values() if not r.get("skipped"))
            skipped = len(task["hosts"]) - ran
            row = {"play": play["play"]["name"], "task": task["task"]["name"], "seconds": seconds,
                   "ran": ran, "skipped": skipped, "meta": 0 if task["hosts"] else 1,
                   "actions": {r.get("action") for r in task["hosts"].values()}}
            last = rows[-1] if rows else None
            if last and (last["play"], last["task"]) == (row["play"], row["task"]) \
                    and ran + skipped <= 1 and last["ran"] + last["skipped"] <= max(1, last["meta"]):
                last["meta"] = max(last["meta"], 1) + 1
                for key in ("seconds", "ran", "skipped"):
                    last[key] += row[key]
                continue
            rows.append(row)
    return rows


def time_split(rows, wall, n_hosts):
    """Where the wall time went: tasks running a module on every device, once-only tasks (CA
    host, summary), per-host tasks that ran no module (skipped, set_fact, argument checks), and
    meta tasks, which the controller decides without a worker."""
    per_host_module = once = no_module = meta = 0.0
    idle_tasks = idle_results = meta_tasks = 0
    for row in rows:
        if row["meta"]:
            meta += row["seconds"]
            meta_tasks += 1
        elif row["ran"] + row["skipped"] == 1 and n_hosts > 1:
            once += row["seconds"]
        elif row["ran"] and not row["actions"] <= CONTROLLER_ACTIONS:
            per_host_module += row["seconds"]
        else:
            no_module += row["seconds"]
            idle_tasks += 1
            idle_results += row["ran"] + row["skipped"]
    rest = wall - per_host_module - once - no_module - meta
    each = 1000.0 * no_module / idle_results if idle_results else 0.0
    return ("split: per-device module tasks %.1f s, once-only tasks %.1f s, %d per-device tasks that run no "
            "module %.1f s (%.0f ms per host and task), %d meta tasks decided on the controller %.1f s, "
            "start-up and between plays %.1f s"
            % (per_host_module, once, idle_tasks, no_module, each, meta_tasks, meta, rest))


def parse_time(text):
    return datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "%s, %d CPUs (%s), Python %s" % (platform.platform(terse=True), os.cpu_count(), model or "?",
                                            platform.python_version())


def versions():
    # pylint: disable-next=import-outside-toplevel
    from importlib import metadata
    found = {"ansible-core": metadata.version("ansible-core")}
    for name in ("community.crypto", "iotsec.tls"):
        for base in [Path(p) for p in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(":") if p] + [
                Path(p) for p in sys.path if p]:
            manifest = base / "ansible_collections" / Path(*name.split(".")) / "MANIFEST.json"
            if manifest.exists():
                found[name] = json.loads(manifest.read_text())["collection_info"]["version"]
                break
    return found


def report(bench):
    args, hosts = bench.args, bench.hosts
    wall = {k: median([r["wall"] for r in v]) for k, v in bench.runs.items()}
    cpu = {k: median([r["cpu"] for r in v]) for k, v in bench.runs.items()}
    other = {k: median([r["other"] for r in v]) for k, v in bench.runs.items()}
    calls = {k: calls_summary(v[-1], hosts) for k, v in bench.runs.items()}
    # Each round's ratio from its two adjacent runs, then the median over the rounds.
    rounds_full = [o["wall"] / b["wall"] for o, b in zip(bench.runs["ours_full"], bench.runs["baseline_full"])]
    rounds_noop = [o["wall"] / p["wall"] for o, p in zip(bench.runs["ours_noop"], bench.runs["ping"])]
    ratio_full, ratio_noop = median(rounds_full), median(rounds_noop)
    vers = versions()
    lines = []
    add = lines.append
    add("")
    add("iotsec.tls rotation benchmark (issue 4), %s" % datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    add("  N=%d devices (local connection), forks=%d for every run, rounds=%d (median shown), "
        "ours = %s" % (len(hosts), args.forks, args.repeat, bench.ours.name))
    add("  %s" % machine())
    add("  devices run %s (cryptography %s), the CA host %s" % (args.device_python, args.device_crypto, sys.executable))
    add("  %s" % ", ".join("%s %s" % kv for kv in vers.items()))
    add("")
    header = ("run", "wall s", "CPU s", "other CPU", "calls/device", "CA-host calls", "verified")
    add("%-26s %8s %8s %10s %13s %13s   %s" % header)
    names = [("ours_full", "ours: full rotation"), ("ours_noop", "ours: no-op"),
             ("baseline_full", "baseline: full rotation"), ("baseline_noop", "baseline: no-op"),
             ("ping", "ping floor"), ("status", "status call alone")]
    for kind, title in names:
        c = calls[kind]
        per = ("%g" % c["per_device_median"] if c["per_device_min"] == c["per_device_max"]
               else "%g (%d-%d)" % (c["per_device_median"], c["per_device_min"], c["per_device_max"]))
        row = (title, wall[kind], cpu[kind], other[kind], per, sum(c["ca_host"].values()),
               bench.runs[kind][-1]["verified"])
        add("%-26s %8.1f %8.1f %10.1f %13s %13d   %s" % row)
    add("  wall and CPU: medians over the rounds; CPU: user+system of Ansible and everything it ran; "
        "other CPU: what the rest of the machine used meanwhile (should be near 0)")
    disturbed = [k for k, v in bench.runs.items() for r in v if r["other"] > 0.1 * r["wall"]]
    if disturbed:
        add("  WARNING: other processes used more than 10%% of a core during %s: figures skewed"
            % ", ".join(sorted(set(disturbed))))
    if args.repeat > 1:
        add("  all rounds (wall s): " + "; ".join(
            "%s %s" % (kind, " ".join("%.1f" % r["wall"] for r in bench.runs[kind]))
            for kind in (name[0] for name in names)))
    add("")
    add("module calls per device, by module (CA-host calls):")
    for kind, title in names:
        c = calls[kind]
        mods = ", ".join("%s %g" % (m, n) for m, n in c["per_device_by_module"].items())
        ca = ", ".join("%s %d" % kv for kv in c["ca_host"].items()) or "-"
        add("  %-26s %s  (%s)" % (title, mods, ca))
    add("")
    full_ok = ratio_full <= TARGET_FULL
    noop_ok = ratio_noop <= TARGET_NOOP
    add("full rotation  ours / baseline  = %.2f   target <= %.2f   %s   (rounds: %s)"
        % (ratio_full, TARGET_FULL, "met" if full_ok else "MISSED", " ".join("%.2f" % r for r in rounds_full)))
    add("no-op          ours / ping      = %.2f   target <= %.2f   %s   (rounds: %s)"
        % (ratio_noop, TARGET_NOOP, "met" if noop_ok else "MISSED", " ".join("%.2f" % r for r in rounds_noop)))
    add("  (each ratio is the median over the rounds of the ratio of two runs made one after the other)")
    add("same ratios in CPU time (less sensitive to other processes): full %.2f, no-op %.2f"
        % (cpu["ours_full"] / cpu["baseline_full"], cpu["ours_noop"] / cpu["ping"]))
    add("(the status module alone, ad hoc: %.2f x ping; ours no-op / status alone = %.2f)"
        % (wall["status"] / wall["ping"], wall["ours_noop"] / wall["status"]))
    add("(for reference: no-op ours / baseline = %.2f; full rotation per device: ours %.2f s, baseline %.2f s wall)"
        % (wall["ours_noop"] / wall["baseline_noop"], wall["ours_full"] / len(hosts),
           wall["baseline_full"] / len(hosts)))
    for kind, title in names[:4]:
        result = bench.runs[kind][-1]
        rows = task_profile(result)
        add("")
        add("per-task wall time, %s (last round; JSON callback task start to last host result):" % title)
        for row in rows:
            share = 100.0 * row["seconds"] / result["wall"]
            counts = ("meta %4d skipped %4d" % (row["meta"], row["skipped"]) if row["meta"]
                      else "ran %4d skipped %4d" % (row["ran"], row["skipped"]))
            add("  %7.2f s %5.1f%%  %s  %s | %s"
                % (row["seconds"], share, counts, row["play"][:28], row["task"]))
        add("  " + time_split(rows, result["wall"], len(hosts)))
    print("\n".join(lines), flush=True)
    figures = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "hosts": len(hosts), "forks": args.forks, "rounds": args.repeat, "machine": machine(),
        "versions": vers, "device_python": args.device_python,
        "device_cryptography": args.device_crypto, "ours_playbook": bench.ours.name,
        "wall": wall, "cpu": cpu, "other_cpu": other, "calls": calls,
        "rounds_wall": {k: [r["wall"] for r in v] for k, v in bench.runs.items()},
        "ratio_full": ratio_full, "ratio_noop": ratio_noop,
        "cpu_ratio_full": cpu["ours_full"] / cpu["baseline_full"], "cpu_ratio_noop": cpu["ours_noop"] / cpu["ping"],
        "target_full_met": full_ok, "target_noop_met": noop_ok,
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return figures


# community.crypto up to 3.0.5 (the one the `ansible` package bundles here) looks curves up in
# ec.__dict__, which cryptography 46.0.5 and later no longer fill: openssl_privatekey then fails
# with "Your cryptography version does not support SECP256R1" (community.crypto issue 1016, fixed
# by its pull request 981). The same probe tells whether an interpreter can run the baseline.
CURVE_PROBE = ("import cryptography, cryptography.hazmat.primitives.asymmetric.ec as ec; "
               "print(cryptography.__version__, 'SECP256R1' in ec.__dict__)")


def pick_device_python(requested):
    """The interpreter of the simulated devices: one that can run both playbooks."""
    candidates = [requested] if requested else ["/usr/bin/python3", sys.executable]
    notes = []
    for python in candidates:
        try:
            out = subprocess.run([python, "-c", CURVE_PROBE], capture_output=True, text=True,
                                 check=True, timeout=60).stdout.split()
        except (OSError, subprocess.SubprocessError):
            notes.append("%s: cannot import cryptography" % python)
            continue
        if out[1] == "True":
            return python, out[0], notes
        notes.append("%s: cryptography %s, which the bundled community.crypto cannot use for "
                     "ECC keys (community.crypto issue 1016)" % (python, out[0]))
    return None, None, notes


def main():
    args = parse_args()
    args.device_python, crypto_version, notes = pick_device_python(args.device_python)
    for note in notes:
        say("device interpreter: skipped %s" % note)
    if args.device_python is None:
        say("no interpreter for the simulated devices can run the baseline; install Debian's "
            "python3-cryptography or pass --device-python")
        return 1
    args.device_crypto = crypto_version
    say("device interpreter: %s (cryptography %s); CA host: %s" % (args.device_python, crypto_version, sys.executable))
    if shutil.which("ansible-playbook") is None:
        say("ansible-playbook not found: run benchmarks/run.sh (or . scripts/env.sh first)")
        return 1
    if not (args.playbooks / "ca.yml").exists():
        say("no ca.yml in %s" % args.playbooks)
        return 1
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="iotsec-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if any(workdir.iterdir()):
        say("%s is not empty" % workdir)
        return 1
    bench = Bench(args, workdir)
    bench.setup()
    say("%d devices, forks=%d, %d round(s), work directory %s" % (args.hosts, args.forks, args.repeat, workdir))
    try:
        bench.prepare()
        bench.measure()
        report(bench)
    except BenchmarkError as exc:
        say("FAILED: %s" % bench.redact(str(exc)))
        say("work directory kept: %s" % workdir)
        return 1
    if args.keep:
        say("work directory kept: %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
