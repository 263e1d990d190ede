# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lifetimes as operators write them."""

import pytest

from ansible_collections.iotsec.tls.plugins.module_utils.duration import (
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize("text,seconds", [
    ("7d", 7 * 86400),
    ("12h", 12 * 3600),
    ("90m", 90 * 60),
    ("300s", 300),
    ("300", 300),
    ("2w", 14 * 86400),
    ("1d12h", 86400 + 12 * 3600),
    ("1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
    ("1D 12H", 86400 + 12 * 3600),
    (" 5m ", 300),
    (300, 300),
    (1, 1),
])
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", [0, "0", "0s", "0d0h", -5, "-5", "-1d", "7x", "d", "", "   ",
                                 "1.5d", "7d junk", "h12", "1d-2h", None, [7], "seven days"])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("bad", [True, False])
def test_parse_rejects_booleans(bad):
    with pytest.raises(ValueError) as err:
        parse_duration(bad, "lifetime")
    assert "boolean" in str(err.value)
    assert "lifetime" in str(err.value)


def test_error_names_what_was_wrong():
    with pytest.raises(ValueError) as err:
        parse_duration("7x", "max_lifetime")
    assert "max_lifetime" in str(err.value) and "'7x'" in str(err.value)
    with pytest.raises(ValueError) as err:
        parse_duration(0, "backdate")
    assert "backdate" in str(err.value) and "zero" in str(err.value)


@pytest.mark.parametrize("seconds,text", [
    (0, "0s"), (-3, "0s"), (1, "1s"), (59, "59s"), (60, "1m"), (300, "5m"), (3600, "1h"),
    (86400, "1d"), (7 * 86400, "7d"), (86400 + 12 * 3600, "1d12h"), (90061, "1d1h1m1s"),
    (3661.9, "1h1m1s"),
])
def test_format(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [1, 59, 61, 3600, 86399, 86400, 129600, 694861, 2592000])
def test_format_parse_round_trip(seconds):
    assert parse_duration(format_duration(seconds)) == seconds
