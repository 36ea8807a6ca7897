"""Calendar arithmetic shared by both syslog parsers: civil dates and local zones, lenient
as Java's calendars are."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year."""
    if month <= 2:
        year -= 1
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def month_days(year: int, month: int) -> int:
    return _days_from_civil(year + month // 12, month % 12 + 1, 1) - _days_from_civil(
        year, month, 1)


def utc_millis(year: int, month: int, day: int, hour: int, minute: int, second: int,
               millis: int = 0) -> int:
    """Epoch ms of a UTC time; fields out of range roll over, as in a lenient Java calendar."""
    year += (month - 1) // 12
    days = _days_from_civil(year, (month - 1) % 12 + 1, 1) + day - 1
    return (((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + millis


def lenient_wall(year: int, month: int, day: int, hour: int, minute: int, second: int,
                 millis: int) -> datetime | None:
    """A lenient wall-clock time as a naive datetime; None outside years 1 to 9999."""
    try:
        start = datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
        return start + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second,
                                 milliseconds=millis)
    except (ValueError, OverflowError):
        return None


def zone_millis(wall: datetime, zone: tzinfo | None) -> int:
    """Epoch ms of a wall-clock time in `zone` (None: the system's zone, the JVM default).

    Java reads a time that a DST change skips or repeats in standard time, which of the two
    readings is the later instant.
    """
    readings = []
    for fold in (0, 1):
        local = wall.replace(fold=fold)
        if zone is None:
            whole = int(local.replace(microsecond=0).timestamp())
            readings.append(whole * 1000 + local.microsecond // 1000)
        else:
            readings.append((local.replace(tzinfo=zone) - EPOCH) // MS)
    return max(readings)


def zone_wall(millis: int, zone: tzinfo | None) -> datetime:
    """The naive wall-clock time of an instant in `zone`."""
    return (EPOCH + millis * MS).astimezone(zone).replace(tzinfo=None)


def add_months(wall: datetime, months: int) -> datetime:
    """Calendar.add(MONTH, n): the day is clamped to the length of the month reached."""
    year, month0 = divmod(wall.year * 12 + wall.month - 1 + months, 12)
    day = min(wall.day, month_days(year, month0 + 1))
    return wall.replace(year=year, month=month0 + 1, day=day)
