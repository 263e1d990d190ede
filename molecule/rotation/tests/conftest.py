"""Test plumbing for the rotation scenario: the tooling shared by the scenarios
(molecule/shared/scenario_tools.py) and the raw MQTT client of the default scenario
(molecule/default/tests/mqtt_raw.py) are importable, so that a subscriber can prove that it kept
one connection (paho and mosquitto_sub reconnect by themselves and would hide a drop)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "default", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared"))
