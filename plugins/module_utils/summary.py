# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The summary of a run of the device_identity role, from what its tasks registered on each host.

Used by the filter iotsec.tls.identity_summary (summary.yml of the role): one pass over the hosts'
variables on the controller, instead of a Jinja expression that walked hostvars once per list it
built. Standard library only.
"""

# The names under which the role registers what the summary reads (the role passes its own, from
# its vars/main.yml; these are the role's, for a caller that gives none): the status check, the
# install, the reason a host was stopped, and what the role's first task registers on every host
# once per play (the role ran on the host).
REGISTERED = {
    "status": "device_identity_status",
    "install": "device_identity_install",
    "reason": "device_identity_failed_reason",
    "ran": "device_identity_ca",
}

NO_REASON = "unreachable, or a task failed: see its error above"
NO_CERTIFICATE = {"subject": "(none yet)", "serial": "-", "not_after": "-"}


def _mapping(value):
    """A registered result, or {} for one that is missing or not a dict."""
    return value if hasattr(value, "get") else {}


def host_row(host_vars, registered=None):
    """(name, status, install, reason) of one host, or None if the role did not run on it."""
    names = dict(REGISTERED, **(registered or {}))
    if names["ran"] not in host_vars:
        return None
    return (host_vars["inventory_hostname"], _mapping(host_vars.get(names["status"])),
            _mapping(host_vars.get(names["install"])), host_vars.get(names["reason"]) or "")


def _line(name, cert, suffix):
    cert = _mapping(cert)
    return "%s: %s serial %s expires %s %s" % (
        name, cert.get("subject"), cert.get("serial"), cert.get("not_after"), suffix)


def summarize(rows, check_mode=False):
    """Lines for rows of (name, status, install, reason): one per rotated, fresh or (in check mode)
    would-rotate host, then the totals: rotated, fresh, would rotate and failed host names, the
    failed hosts' reasons (a list), and the earliest expiry in service.

    A host counts as failed when it recorded a reason, or has no status result (unreachable, or a
    task failed before the check ended), or needed a certificate and got none kept outside check
    mode.
    """
    rows = list(rows)
    ok = [r for r in rows if not r[3] and "needs_certificate" in r[1]]
    fresh = [r for r in ok if not r[1]["needs_certificate"]]
    rotated = [r for r in ok if r[2].get("changed")]
    rotated_names = set(r[0] for r in rotated)
    would = [r for r in ok if r[1]["needs_certificate"] and r[0] not in rotated_names] if check_mode else []
    done = rotated_names | set(r[0] for r in fresh) | set(r[0] for r in would)
    failed = [r for r in rows if r[0] not in done]

    lines = [_line(r[0], r[2], "(issued now)") for r in rotated]
    lines += [_line(r[0], r[1].get("certificate"), "(fresh)") for r in fresh]
    lines += [_line(r[0], r[1].get("certificate") or NO_CERTIFICATE, "(would be renewed: %s)"
                    % ", ".join(str(reason.get("code")) for reason in r[1].get("reasons") or []))
              for r in would]
    # In service: the new certificate where a rotation was kept, the one the status check read
    # elsewhere (fresh hosts, and failed hosts whose previous pair is back in service).
    in_service = [r[2] for r in rotated] + [_mapping(r[1].get("certificate")) for r in rows if r[0] not in rotated_names]
    expiries = sorted(str(c["not_after"]) for c in in_service if c.get("not_after"))

    def names(group):
        return ", ".join(r[0] for r in group)

    return lines + [
        "rotated (%d): %s" % (len(rotated), names(rotated)),
        "fresh (%d): %s" % (len(fresh), names(fresh)),
        "would rotate, check mode (%d): %s" % (len(would), names(would)),
        "failed (%d): %s" % (len(failed), names(failed)),
        [r[3] or NO_REASON for r in failed],
        "earliest expiry: %s" % (expiries[0] if expiries else "-"),
    ]


def identity_summary(hosts, check_mode=False, registered=None):
    """summarize() over the variables of each host (hostvars[name]) the role ran on; registered:
    the names the role registers its results under (REGISTERED's keys; missing ones: REGISTERED's)."""
    unknown = sorted(set(registered or {}) - set(REGISTERED))
    if unknown:
        raise ValueError("unknown registered result %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(REGISTERED))))
    rows = (host_row(host, registered) for host in hosts)
    return summarize((row for row in rows if row is not None), check_mode)
