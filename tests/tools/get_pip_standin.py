"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test (2.19) bootstraps pip into each of its sanity virtual environments with
``https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py``; that host is not
reachable from the test machines. Before downloading, ansible-test looks for
``~/.ansible/test/cache/get_pip_<version with _>.py``; scripts/bootstrap.sh copies this file
there. ansible-test runs it inside the new, empty virtual environment with the arguments it
would give get-pip.py, e.g. ``--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel``.

What it does instead of unpacking an embedded pip:
  1. writes ``pip.conf`` into ``sys.prefix`` so that pip in this venv uses the system CA bundle
     (ansible-test runs pip with a reduced environment: PIP_CERT and friends may be gone);
  2. installs the pip wheel bundled with Python (``ensurepip``), no network needed;
  3. drops ``PIP_CONFIG_FILE`` from the environment: ensurepip sets it to /dev/null, which would
     hide every pip configuration file from the next step;
  4. runs ``python -m pip install`` with the given arguments, without ``--no-setuptools`` and
     ``--no-wheel`` (get-pip.py options that pip itself does not know), which brings pip to the
     version ansible-test asked for from the package index (PyPI).
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def write_pip_conf() -> None:
    if not os.path.exists(CA_BUNDLE):
        return
    path = os.path.join(sys.prefix, "pip.conf")
    if os.path.exists(path):
        return
    with open(path, "w", encoding="utf-8") as conf:
        conf.write("[global]\ncert = %s\n" % CA_BUNDLE)


def main() -> int:
    write_pip_conf()
    ensurepip.bootstrap(upgrade=True)
    os.environ.pop("PIP_CONFIG_FILE", None)
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    if not any(not arg.startswith("-") for arg in args):
        return 0  # nothing to install beyond the bundled pip
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main())
