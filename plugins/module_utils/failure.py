# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The message of a failed module call that ran with no_log, for the task that reports it.

Used by the filter iotsec.tls.failure_message (the rescue and report tasks of the roles and
playbooks that call modules with secrets). A module that answered with JSON failed for a reason
of its own: its msg is the message. A module that gave no JSON at all (the target's Python is
missing or broken, or crashed before the module could answer) leaves only Ansible's
"Module result deserialization failed" in msg, and what went wrong in module_stderr, which
no_log hides: the message then carries that output and names ansible_python_interpreter.

Every secret given is removed from the message by value, wherever it appears. Standard library
only; runs on the controller.
"""

REDACTED = "********"
INTERPRETER_VAR = "ansible_python_interpreter"
CHECK = "module_interpreter"
# The end of a long output is where the error is (the last lines of a traceback).
OUTPUT_LIMIT = 1500


def scrub(text, secrets):
    """text with every non-empty secret replaced by REDACTED, the longest first."""
    text = "%s" % (text,)
    for secret in sorted({"%s" % (s,) for s in secrets or () if s is not None and "%s" % (s,)},
                         key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def gave_no_json(result):
    """True when Ansible could not read a JSON answer from the module (module_stderr/_stdout kept)."""
    return hasattr(result, "get") and ("module_stderr" in result or "module_stdout" in result)


def _output(result):
    text = (result.get("module_stderr") or "").strip() or (result.get("module_stdout") or "").strip()
    if not text:
        return "no output"
    if len(text) > OUTPUT_LIMIT:
        text = "... " + text[-OUTPUT_LIMIT:]
    return text


def failure_message(result, host=None, default="the module failed", secrets=(), interpreter=None):
    """The message of a failed result, scrubbed of secrets; for no JSON, its output and the fix.

    result: the registered result (or ansible_failed_result); host: where the module ran;
    default: the message when the result has none; secrets: values never to show;
    interpreter: the ansible_python_interpreter in use on that host, if known.
    """
    if not hasattr(result, "get"):
        return scrub(default, secrets)
    msg = ("%s" % (result.get("msg") or default,)).strip()
    if not gave_no_json(result):
        return scrub(msg, secrets)
    where = host or "the target"
    rc = result.get("rc")
    now = (" (now: %s)" % interpreter) if interpreter else ""
    text = ("%s: the module gave no result (%s). Its output%s: %s [check: %s] Fix: make %s of %s%s "
            "a Python 3 that runs and has the cryptography library (e.g. /usr/bin/python3), in the "
            "inventory or with -e" % (
                where, msg.rstrip("."), "" if rc is None else " (rc %s)" % rc, _output(result),
                CHECK, INTERPRETER_VAR, where, now))
    return scrub(text, secrets)
