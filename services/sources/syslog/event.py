"""The events both syslog parsers build, their status headers, and keepFields.

An event is `Event(headers, body)`; the source process adds its own headers (clientIPHeader,
clientHostnameHeader, and so on) to `headers`.

keepFields (`parse_keep_fields`): `all` or `true` keeps the whole message as the body. A list of
`priority version timestamp hostname` puts those fields back in front of the body.
"""
from __future__ import annotations

import time
from typing import Callable, NamedTuple

Clock = Callable[[], int]  # epoch milliseconds now; tests inject a fixed one

STATUS = "flume.syslog.status"
INVALID = "Invalid"
INCOMPLETE = "Incomplete"
DEFAULT_EVENT_SIZE = 2500

FIELDS = ("priority", "version", "timestamp", "hostname")
KeepFields = frozenset[str]
KEEP_NONE: KeepFields = frozenset()
KEEP_ALL: KeepFields = frozenset({"all"})


class Event(NamedTuple):
    """A Flume event; the source may add headers to the dict."""

    headers: dict[str, str]
    body: bytes


def system_clock() -> int:
    return time.time_ns() // 1_000_000


# keepFields


def parse_keep_fields(value: str | None) -> KeepFields:
    """The keepFields setting: KEEP_NONE, KEEP_ALL or a set of FIELDS.

    Flume looks for each field name as a substring, so a misspelt word quietly keeps nothing.
    Here an unknown word raises ValueError so that the typo is caught when the config loads.
    """
    text = ("none" if value is None else value).strip().lower()
    if text in ("none", "false"):
        return KEEP_NONE
    if text in ("all", "true"):
        return KEEP_ALL
    words = text.replace(",", " ").split()
    for word in words:
        if word not in FIELDS:
            raise ValueError(f"keepFields: unknown field '{word}': expected all, none, true, "
                             f"false or a list of {', '.join(FIELDS)}")
    return frozenset(words)


def with_fields(keep: KeepFields, body: str, priority: str, version: str | None,
                stamp: str | None, host: str | None) -> str:
    """The kept fields put back in front of the body, in message order (addFieldsToBody).

    Java's string concatenation writes a missing stamp or host (RFC 5424's `-`) as `null`.
    """
    if "hostname" in keep:
        body = f"{'null' if host is None else host} {body}"
    if "timestamp" in keep:
        body = f"{'null' if stamp is None else stamp} {body}"
    if "version" in keep and version:
        body = f"{version} {body}"
    if "priority" in keep:
        body = f"<{priority}>{body}"
    return body
