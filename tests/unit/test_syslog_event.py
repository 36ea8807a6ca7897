"""keepFields (services/sources/syslog/event.py), which every syslog source reads: Flume's words,
and the ones Flume would quietly misread."""
from __future__ import annotations

import pytest

from services.sources.syslog.event import KEEP_ALL, KEEP_NONE, parse_keep_fields


@pytest.mark.parametrize(("value", "expected"), [
    (None, KEEP_NONE), ("none", KEEP_NONE), ("false", KEEP_NONE), ("", KEEP_NONE),
    ("all", KEEP_ALL), (" TRUE ", KEEP_ALL),
    ("timestamp hostname", frozenset({"timestamp", "hostname"})),
    ("priority,version", frozenset({"priority", "version"})),
    ("Priority Version Timestamp Hostname",
     frozenset({"priority", "version", "timestamp", "hostname"})),
])
def test_keep_fields_settings(value: str | None, expected: frozenset[str]) -> None:
    assert parse_keep_fields(value) == expected


@pytest.mark.parametrize(("value", "word"), [
    ("hostnames", "hostnames"), ("all hostname", "all"), ("host", "host"),
    ("timestamp yes", "yes"),
])
def test_keep_fields_unknown_word_is_an_error(value: str, word: str) -> None:
    """Flume's substring search would quietly keep nothing (or `hostname` for `hostnames`)."""
    with pytest.raises(ValueError, match=f"unknown field '{word}'"):
        parse_keep_fields(value)
