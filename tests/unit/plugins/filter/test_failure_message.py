# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The message of a failed no_log module call: iotsec.tls.failure_message and module_utils/failure."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.iotsec.tls.plugins.filter.failure_message import FilterModule
from ansible_collections.iotsec.tls.plugins.module_utils.failure import (
    OUTPUT_LIMIT, REDACTED, failure_message, gave_no_json, scrub)

FILTER = FilterModule().filters()["failure_message"]
SECRET = "correct horse battery staple"

# What ansible-core 2.19 registers for a module whose interpreter wrote to stderr and exited 127.
NO_JSON = {
    "changed": False, "failed": True, "exception": "(traceback unavailable)",
    "msg": "Module result deserialization failed: No start of json char found",
    "module_stdout": "", "rc": 127,
    "module_stderr": "python3: error while loading shared libraries: libpython3.11.so.1.0\n",
}


def test_a_module_that_answered_keeps_its_message():
    result = {"failed": True, "msg": "the CA key does not open with this passphrase [check: ca_passphrase]"}
    assert failure_message(result, host="ca1") == result["msg"]


def test_no_json_shows_the_output_the_rc_and_names_the_interpreter():
    message = failure_message(NO_JSON, host="ca1", interpreter="/opt/py/bin/python3")
    assert message.startswith("ca1: the module gave no result (Module result deserialization failed")
    assert "libpython3.11.so.1.0" in message
    assert "(rc 127)" in message
    assert "[check: module_interpreter]" in message
    assert "ansible_python_interpreter of ca1 (now: /opt/py/bin/python3) a Python 3" in message


def test_no_json_and_no_output_says_so():
    # ansible_python_interpreter=/bin/false: rc 1, nothing on stdout or stderr
    result = dict(NO_JSON, module_stderr="", rc=1)
    message = failure_message(result, host="ca1")
    assert "Its output (rc 1): no output" in message
    assert "ansible_python_interpreter" in message
    assert "(now:" not in message


def test_stdout_is_shown_when_stderr_is_empty():
    result = dict(NO_JSON, module_stderr="", module_stdout="Segmentation fault")
    assert "Segmentation fault" in failure_message(result)


def test_ansible_2_18_module_failure_is_no_json_too():
    result = {"failed": True, "msg": "MODULE FAILURE\nSee stdout/stderr for the exact error",
              "module_stdout": "", "module_stderr": "/bin/sh: 1: /nope: not found\n", "rc": 127}
    assert gave_no_json(result)
    assert "/nope: not found" in failure_message(result, host="h")


def test_long_output_keeps_its_end():
    result = dict(NO_JSON, module_stderr="x" * 5000 + "ImportError: No module named cryptography")
    message = failure_message(result)
    assert "ImportError: No module named cryptography" in message
    assert "x" * (OUTPUT_LIMIT + 1) not in message


@pytest.mark.parametrize("where", ["msg", "module_stderr", "module_stdout"])
def test_secrets_are_removed_by_value_wherever_they_are(where):
    result = dict(NO_JSON, module_stderr="")
    result[where] = "before %s after %s" % (SECRET, SECRET)
    message = failure_message(result, host="ca1", secrets=[SECRET, ""])
    assert SECRET not in message
    assert "before %s after %s" % (REDACTED, REDACTED) in message


def test_the_longer_secret_goes_first():
    # a secret that contains another must not leave a piece of itself behind
    assert scrub("x abcdef y", ["abc", "abcdef"]) == "x %s y" % REDACTED


def test_a_secret_in_a_plain_message_is_removed():
    assert SECRET not in failure_message({"msg": "bad %s" % SECRET}, secrets=[SECRET])


def test_empty_and_missing_secrets_change_nothing():
    assert scrub("text", ["", None]) == "text"


def test_not_a_result_gives_the_default():
    assert failure_message(None, default="the fleet_ca module failed") == "the fleet_ca module failed"
    assert failure_message({"failed": True}, default="it failed") == "it failed"


def test_filter_passes_its_arguments():
    message = FILTER(NO_JSON, host="ca1", secrets=["libpython3.11"], interpreter="/bin/false")
    assert "libpython3.11" not in message
    assert "(now: /bin/false)" in message


@pytest.mark.parametrize("bad", [SECRET, 3])
def test_filter_refuses_secrets_that_are_not_a_list(bad):
    # a string would be scrubbed character by character
    with pytest.raises(AnsibleFilterError, match="failure_message"):
        FILTER(NO_JSON, secrets=bad)
