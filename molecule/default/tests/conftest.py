"""Test plumbing: the tooling shared by the scenarios (molecule/shared/scenario_tools.py), with
its `host` fixture on testinfra's podman backend and the Ansible-backed `ansible_host`."""

import importlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"))
scenario_tools = importlib.import_module("scenario_tools")

ansible_host = scenario_tools.ansible_host
host = scenario_tools.host
