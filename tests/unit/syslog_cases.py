"""What the syslog tests share: epoch milliseconds by Python's own parser, and fixed clocks."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.sources.syslog.event import Clock

UTC = timezone.utc


def ms(iso: str) -> int:
    """Epoch milliseconds of an ISO 8601 time, by Python's own parser."""
    return (datetime.fromisoformat(iso) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        milliseconds=1)


def at(iso: str) -> Clock:
    return lambda: ms(iso)


NOW = at("2024-03-20T12:00:00+00:00")
