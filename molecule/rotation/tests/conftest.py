"""Test plumbing for the rotation scenario: the raw MQTT client of the default scenario
(molecule/default/tests/mqtt_raw.py) is importable, so that a subscriber can prove that it kept
one connection (paho and mosquitto_sub reconnect by themselves and would hide a drop)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "default", "tests"))
