# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lifetimes written the way operators write them: 7d, 12h, 1d12h, 90m, 300s, 300."""

from __future__ import annotations

import re
from typing import Union

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)\s*([wdhms])")


def parse_duration(value: Union[str, int], what: str = "duration") -> int:
    """Return a positive number of seconds, or raise ValueError naming what was wrong."""
    if isinstance(value, bool):
        raise ValueError("%s must be a duration such as 7d, 12h or 300s, not a boolean" % what)
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value).strip().lower().replace(" ", "")
        if text.isdigit():
            seconds = int(text)
        else:
            parts = _PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError("%s %r is not a duration: use a number of seconds or units "
                                 "w, d, h, m, s (for example 7d, 12h, 1d12h, 300s)" % (what, value))
            seconds = sum(int(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError("%s must be longer than zero seconds, got %r" % (what, value))
    return seconds


def format_duration(seconds: int) -> str:
    """Short human form of a number of seconds: 7d, 1d12h, 5m."""
    seconds = int(seconds)
    if seconds <= 0:
        return "0s"
    out = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size:
            out.append("%d%s" % (seconds // size, unit))
            seconds %= size
    return "".join(out)
