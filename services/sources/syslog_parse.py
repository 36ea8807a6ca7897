"""Syslog messages to Flume events, as Flume 1.11's three syslog sources build them.

An event is `Event(headers, body)`; the source process adds its own headers (clientIPHeader,
clientHostnameHeader, and so on) to `headers`. Flume has two parsers, both reproduced here.

syslogtcp and syslogudp (Flume's SyslogUtils). A message starts with `<PRI>`, one to three
digits; without that (no `<`, an empty, non-numeric or four-digit priority) it is an event with
`flume.syslog.status: Invalid`, Facility and Severity 0 and the raw bytes as body. Over TCP a
message ends at `\\n` and empty lines are skipped. A message that reaches `eventSize` bytes
(default 2500, at least 10) is cut there and marked `Incomplete`, and the rest starts a new
message. A UDP datagram is one message: Flume reads only its first 2048 bytes and stops at its
first `\\n`. The text (UTF-8, bad bytes replaced) is then matched against an RFC 5424 pattern and
then an RFC 3164 one. A match gives the headers `priority`, `version` (lower case), `timestamp`,
`host` and a body made of the text after the host name; with no match the body is the raw bytes.
Timestamps are read the way Java's SimpleDateFormat reads them: leniently (February 30th is
March 1st or 2nd) and in the local zone (`zone`; None is the system's, like the JVM default).
An RFC 3164 date gets the current UTC year, one year less if that puts it more than a month
ahead, one year more if more than eleven months behind. An RFC 5424 date uses its own offset
only when it has no fraction; with one, the offset is ignored and the fraction is read as a
count of milliseconds (`.5` is 5 ms).

multiport_syslogtcp (Flume's SyslogParser). Lines end at `\\n`, and a line that reaches
`eventSize` bytes is cut and marked Incomplete. A line is decoded strictly in its port's charset,
up to its first NUL byte; a line that does not decode becomes Invalid with its raw bytes. It is
then read by position: `<PRI>`, an optional `1 ` version, a timestamp (`-` means now, a capital
letter starts RFC 3164, anything else RFC 5424; both in UTC), the host up to the next space, and
the rest as body. Headers are `Priority`, `Facility`, `Severity`, `Version`, `timestamp` and
`host`. A line that does not parse becomes an Invalid event with only the status header. Some
lines make Flume's handler throw instead (an empty line, an RFC 5424 stamp whose date is
invalid, or one with a fraction and no zone): MINA then loses the rest of that read.
`MultiportDecoder` makes such a line an Invalid event instead (an empty one is skipped).

keepFields (`parse_keep_fields`): `all` or `true` keeps the whole message as the body. A list of
`priority version timestamp hostname` puts those fields back in front of the body.
"""
from __future__ import annotations

import codecs
import functools
import re
import time
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Mapping, NamedTuple

from proto.errors import ZflumeError

Clock = Callable[[], int]  # epoch milliseconds now; tests inject a fixed one

STATUS = "flume.syslog.status"
INVALID = "Invalid"
INCOMPLETE = "Incomplete"
DEFAULT_EVENT_SIZE = 2500
MIN_EVENT_SIZE = 10
UDP_EVENT_SIZE = 1 << 16
UDP_RECEIVE_BYTES = 2048  # Netty 4's default datagram buffer, which Flume 1.11 keeps
DEFAULT_BATCH_SIZE = 100
DEFAULT_READ_BUFFER_BYTES = 1024  # readBufferBytes: MINA's first read size, adapted later
DEFAULT_CHARSET = "UTF-8"

FIELDS = ("priority", "version", "timestamp", "hostname")
KeepFields = frozenset[str]
KEEP_NONE: KeepFields = frozenset()
KEEP_ALL: KeepFields = frozenset({"all"})


class Event(NamedTuple):
    """A Flume event; the source may add headers to the dict."""

    headers: dict[str, str]
    body: bytes


class ParserCrash(ZflumeError):
    """A line on which Flume's multiport handler throws instead of building an event."""


class _Unparsable(ZflumeError, ValueError):
    """SyslogParser's IllegalArgumentException: the line becomes an Invalid event."""


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


def _with_fields(keep: KeepFields, body: str, priority: str, version: str | None,
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


# Calendar arithmetic shared by both parsers

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year."""
    if month <= 2:
        year -= 1
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _month_days(year: int, month: int) -> int:
    return _days_from_civil(year + month // 12, month % 12 + 1, 1) - _days_from_civil(
        year, month, 1)


def _utc_millis(year: int, month: int, day: int, hour: int, minute: int, second: int,
                millis: int = 0) -> int:
    """Epoch ms of a UTC time; fields out of range roll over, as in a lenient Java calendar."""
    year += (month - 1) // 12
    days = _days_from_civil(year, (month - 1) % 12 + 1, 1) + day - 1
    return (((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + millis


def _wall(year: int, month: int, day: int, hour: int, minute: int, second: int,
          millis: int) -> datetime | None:
    """A lenient wall-clock time as a naive datetime; None outside years 1 to 9999."""
    try:
        start = datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
        return start + timedelta(days=day - 1, hours=hour, minutes=minute, seconds=second,
                                 milliseconds=millis)
    except (ValueError, OverflowError):
        return None


def _zone_millis(wall: datetime, zone: tzinfo | None) -> int:
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
            readings.append((local.replace(tzinfo=zone) - _EPOCH) // _MS)
    return max(readings)


def _zone_wall(millis: int, zone: tzinfo | None) -> datetime:
    """The naive wall-clock time of an instant in `zone`."""
    return (_EPOCH + millis * _MS).astimezone(zone).replace(tzinfo=None)


def _add_months(wall: datetime, months: int) -> datetime:
    """Calendar.add(MONTH, n): the day is clamped to the length of the month reached."""
    year, month0 = divmod(wall.year * 12 + wall.month - 1 + months, 12)
    day = min(wall.day, _month_days(year, month0 + 1))
    return wall.replace(year=year, month=month0 + 1, day=day)


# syslogtcp / syslogudp: SyslogUtils

_LINE = "[^\n\r\x85\u2028\u2029]*"  # Java's `.*`: any run without a line terminator
_UTILS_5424 = re.compile(
    r"<(\d{1,3})>(\d?)\s?"
    r"(?:(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2}|Z)?)|-)\s"
    r"(?:(\w[\w.@\-]*)|-)\s(" + _LINE + ")", re.ASCII)
_UTILS_3164 = re.compile(
    r"<(\d{1,3})>(\d)?\s?([A-Z][a-z][a-z]\s{1,2}\d{1,2}\s\d{2}:\d{2}:\d{2})\s"
    r"(\w[\w.@\-]*)\s(" + _LINE + ")", re.ASCII)
_ZONE_COLON = re.compile(r"([+-])(\d{2}):(\d{2})", re.ASCII)
_MICROS = re.compile(r"(T\d{2}:\d{2}:\d{2}\.\d{3})\d*", re.ASCII)
_UTILS_5424_STAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([+-])(\d{2})(\d{2}))?",
    re.ASCII)
_UTILS_3164_STAMP = re.compile(r"([A-Z][a-z][a-z]) (\d{1,2}) (\d{2}):(\d{2}):(\d{2})", re.ASCII)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_START, _PRIO, _DATA = range(3)


@functools.lru_cache(maxsize=1000)  # messages of one second share their stamp
def _utils_5424_millis(stamp: str, zone: tzinfo | None) -> int | None:
    """The first of SimpleDateFormat's `ss.S`, `ss.SZ`, `ssZ`, `ss` that reads the stamp.

    With a fraction `ss.S` always wins and stops before the zone, so Flume reads the time in
    the local zone and takes the fraction's digits as milliseconds (`.5` is 5 ms, not 500).
    """
    value = _MICROS.sub(r"\1", _ZONE_COLON.sub(r"\1\2\3", stamp.replace("Z", "+0000")))
    found = _UTILS_5424_STAMP.match(value)
    if found is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in found.group(1, 2, 3, 4, 5, 6))
    fraction, sign = found[7], found[8]
    if fraction is None and sign is not None and int(found[9]) < 24 and int(found[10]) < 60:
        offset = (int(found[9]) * 60 + int(found[10])) * 60_000
        return _utc_millis(year, month, day, hour, minute, second) - (
            offset if sign == "+" else -offset)
    wall = _wall(year, month, day, hour, minute, second, int(fraction or 0))
    return None if wall is None else _zone_millis(wall, zone)


def _utils_3164_millis(stamp: str, clock: Clock, zone: tzinfo | None) -> int | None:
    """`yyyyMMM d HH:mm:ss` with this UTC year, moved into the window of the last 11 months
    and the next one; read in the local zone."""
    found = _UTILS_3164_STAMP.fullmatch(stamp.replace("  ", " "))
    if found is None or found[1] not in _MONTHS:
        return None
    now = clock()
    wall = _wall((_EPOCH + now * _MS).year, _MONTHS.index(found[1]) + 1, int(found[2]),
                 int(found[3]), int(found[4]), int(found[5]), 0)
    if wall is None:
        return None
    try:
        parsed = _zone_millis(wall, zone)
        local = _zone_wall(parsed, zone)
        if parsed > now and _zone_millis(_add_months(local, -1), zone) > now:
            return _zone_millis(_add_months(local, -12), zone)
        if parsed < now and _zone_millis(_add_months(local, 11), zone) < now:
            return _zone_millis(_add_months(local, 12), zone)
    except (ValueError, OverflowError):
        return None
    return parsed


class _Parsed(NamedTuple):
    priority: str
    version: str | None
    timestamp: int | None
    host: str | None
    body: str


def _utils_parse(text: str, keep: KeepFields, clock: Clock,
                 zone: tzinfo | None) -> _Parsed | None:
    """The RFC 5424 pattern, else the RFC 3164 one (formatHeaders); None when neither fits."""
    found = _UTILS_5424.fullmatch(text)
    if found is not None:
        stamp = found[3]
        millis = None if stamp is None else _utils_5424_millis(stamp, zone)
    else:
        found = _UTILS_3164.fullmatch(text)
        if found is None:
            return None
        stamp = found[3]
        millis = _utils_3164_millis(stamp, clock, zone)
    priority, version, host = found[1], found[2], found[4]
    body = _with_fields(keep, found[5], priority, version, stamp, host)
    return _Parsed(priority, version, millis, host, body)


def _utils_event(raw: bytes, prio: str, bad: bool, incomplete: bool, keep: KeepFields,
                 clock: Clock, zone: tzinfo | None) -> Event:
    """One framed message as an event (SyslogUtils.buildEvent)."""
    facility = severity = 0
    parsed = None
    if not bad:
        facility, severity = divmod(int(prio), 8)
        # Flume decodes and re-encodes with the JVM's charset, UTF-8 here.
        parsed = _utils_parse(raw.decode("utf-8", "replace"), keep, clock, zone)
    headers = {"Facility": str(facility), "Severity": str(severity)}
    # Flume never clears the priority and version of the last message that matched, so its
    # Invalid or unmatched events can carry stale `priority` and `version` headers; not kept.
    if parsed is not None:
        if parsed.priority:
            headers["priority"] = parsed.priority
        if parsed.version:
            headers["version"] = parsed.version
        if parsed.timestamp is not None:
            headers["timestamp"] = str(parsed.timestamp)
        if parsed.host:
            headers["host"] = parsed.host
    if bad:
        headers[STATUS] = INVALID
    elif incomplete:
        headers[STATUS] = INCOMPLETE
    if parsed is not None and parsed.body and "all" not in keep:
        return Event(headers, parsed.body.encode("utf-8"))
    return Event(headers, raw)


class SyslogTcpDecoder:
    """One syslogtcp connection: bytes in, events out (SyslogUtils.extractEvent).

    It holds at most `max_size` bytes of an unfinished message between reads. Flume drops
    that unfinished message when the connection closes, and so does a source using this.
    """

    def __init__(self, event_size: int = DEFAULT_EVENT_SIZE, keep_fields: KeepFields = KEEP_NONE,
                 *, clock: Clock = system_clock, zone: tzinfo | None = None) -> None:
        # Flume's syslogtcp skips SyslogUtils' minimum of 10. Below 5 its size check then
        # never fires and memory grows without bound, so the minimum applies here.
        self.max_size = max(event_size, MIN_EVENT_SIZE)
        self.keep_fields = keep_fields
        self.clock = clock
        self.zone = zone
        self._mode = _START
        self._raw = bytearray()
        self._prio = ""
        self._bad = False

    @property
    def pending(self) -> int:
        """Bytes of the unfinished message."""
        return len(self._raw)

    def feed(self, data: bytes) -> list[Event]:
        """The events of the messages that `data` finishes."""
        events = []
        at = 0
        while at < len(data):
            at, cut = self._scan(data, at)
            if cut is not None:
                events.append(self._build(cut))
        return events

    def _scan(self, data: bytes, at: int) -> tuple[int, bool | None]:
        """Read up to the end of one message: (next index, whether the size cut it), or
        (len(data), None) while the message goes on."""
        end = len(data)
        while at < end:
            if self._mode == _DATA:
                room = self.max_size - len(self._raw)
                newline = data.find(b"\n", at, at + room)
                if newline >= 0:
                    self._raw += data[at:newline]
                    return newline + 1, False
                if end - at >= room:
                    self._raw += data[at:at + room]
                    return at + room, True
                self._raw += data[at:]
                return end, None
            byte = data[at]
            at += 1
            if self._mode == _START:
                if byte == 0x0A:  # an empty line, or the newline after a cut message
                    continue
                self._raw.append(byte)
                if byte == 0x3C:  # '<'
                    self._mode = _PRIO
                else:
                    self._bad, self._mode = True, _DATA
                continue
            self._raw.append(byte)  # _PRIO: even a newline here is part of the message
            if byte == 0x3E:  # '>'
                self._bad = not self._prio
                self._mode = _DATA
                continue
            self._prio += chr(byte)
            if not 0x30 <= byte <= 0x39 or len(self._prio) > 3:
                self._bad, self._mode = True, _DATA
        return end, None

    def _build(self, cut: bool) -> Event:
        raw, prio, bad = bytes(self._raw), self._prio, self._bad
        self._mode, self._raw, self._prio, self._bad = _START, bytearray(), "", False
        return _utils_event(raw, prio, bad, cut, self.keep_fields, self.clock, self.zone)


def parse_datagram(datagram: bytes, keep_fields: KeepFields = KEEP_NONE, *,
                   clock: Clock = system_clock, zone: tzinfo | None = None,
                   receive_bytes: int = UDP_RECEIVE_BYTES) -> Event | None:
    """One syslogudp datagram as an event, or None where Flume drops it.

    Flume 1.11 loses data here, and this function keeps its behaviour. Netty 4's default
    2048-byte datagram buffer silently cuts longer datagrams (1.9 read up to 64 KiB), so only
    `receive_bytes` are read. The message ends at the first newline and anything after it in
    the datagram is ignored. A datagram that is empty, or holds only newlines or `<`, fails the
    priority parse and is dropped (Flume's EventReadFail).
    """
    decoder = SyslogTcpDecoder(UDP_EVENT_SIZE, keep_fields, clock=clock, zone=zone)
    _, cut = decoder._scan(datagram[:receive_bytes], 0)
    if not decoder._bad and not decoder._prio:
        return None
    return decoder._build(bool(cut))


# multiport_syslogtcp: SyslogParser and MultiportSyslogTCPSource

_JAVA_INT = re.compile(r"[+-]?\d+")  # Integer.parseInt, which takes any Unicode digit
_OFFSET = re.compile(r"[0-9]{2}:[0-9]{2}")
_JODA_SECONDS = re.compile(
    r"([+-]?\d{1,9})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{1,2}):(\d{1,2})", re.ASCII)
_JODA_3164 = re.compile(r"([A-Za-z]+) (\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})", re.ASCII)
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_JODA_MONTHS = {spelling: number
                for number, name in enumerate(_MONTH_NAMES, 1)
                for word in (name, name[:3])
                for spelling in (word, word.lower(), word.upper())}
_JODA_YEARS = (-292275054, 292278993)
_LONG_MAX = (1 << 63) - 1


def _java_divmod(value: int, divisor: int) -> tuple[int, int]:
    """Java's / and %: the quotient rounds toward zero, the remainder has the value's sign."""
    quotient = abs(value) // divisor * (1 if value >= 0 else -1)
    return quotient, value - quotient * divisor


@functools.lru_cache(maxsize=1000)
def _second_millis(prefix: str) -> int:
    """Joda's strict `yyyy-MM-dd'T'HH:mm:ss` in UTC, cached as Flume does.

    Flume's cache wraps Joda's IllegalArgumentException in an exception it does not catch,
    so an invalid date here is a crash, not an Invalid event.
    """
    found = _JODA_SECONDS.fullmatch(prefix)
    if found is None:
        raise ParserCrash(f"bad RFC 5424 date: {prefix}")
    year, month, day, hour, minute, second = (int(g) for g in found.groups())
    if not (_JODA_YEARS[0] <= year <= _JODA_YEARS[1] and 1 <= month <= 12
            and 1 <= day <= _month_days(year, month) and hour < 24 and minute < 60
            and second < 60):
        raise ParserCrash(f"bad RFC 5424 date: {prefix}")
    return _utc_millis(year, month, day, hour, minute, second)


def _parser_5424_millis(stamp: str) -> int:
    """SyslogParser's RFC 5424 stamp: cached seconds, then the fraction and offset by hand."""
    if len(stamp) <= 19:
        raise _Unparsable(f"not an RFC 5424 timestamp: {stamp}")
    millis = _second_millis(stamp[:19])
    at = 19
    if stamp[at] == ".":
        if len(stamp) <= at + 1:
            raise _Unparsable(f"no time zone: {stamp}")
        rest = stamp[at + 1:]
        digits_end = len(stamp) - len(rest.lstrip("0123456789"))
        if digits_end == len(stamp):  # Flume's digit loop reads past the end
            raise ParserCrash(f"fractional seconds without a time zone: {stamp}")
        count = digits_end - at - 1
        if count == 0 or int(stamp[at + 1:digits_end]) > _LONG_MAX:
            raise _Unparsable(f"bad fractional seconds: {stamp}")
        fraction = int(stamp[at + 1:digits_end])
        if count > 3:  # truncated, through a double as in Java
            fraction = int(fraction / 10.0 ** (count - 3))
        millis += fraction * 10 ** max(0, 3 - count)
        at = digits_end
    sign = stamp[at]
    if sign in ("+", "-"):
        offset = stamp[at + 1:at + 6]
        if len(stamp) <= at + 5 or _OFFSET.fullmatch(offset) is None:
            raise _Unparsable(f"bad time zone: {stamp}")
        minutes = int(offset[:2]) * 60 + int(offset[3:])
        millis -= minutes * 60_000 if sign == "+" else -minutes * 60_000
    return millis  # any other character after the seconds is ignored, as in Flume


def _joda_millis(year: int, month: int, day: int, hour: int, minute: int, second: int,
                 months: int = 0) -> int:
    """UTC ms after adding months, the day clamped to the month reached (Joda plusMonths)."""
    year, month0 = divmod(year * 12 + month - 1 + months, 12)
    day = min(day, _month_days(year, month0 + 1))
    return _utc_millis(year, month0 + 1, day, hour, minute, second)


def _parser_3164_millis(stamp: str, now: int, zone: tzinfo | None) -> int:
    """SyslogParser's `MMM d HH:mm:ss` in UTC; 0 when Joda cannot read it.

    Flume's year correction starts from the year 2000 that Joda fills in, not from the
    current year. So a date more than a month ahead of now gets the year 1999 and one more
    than a month behind gets 2001. That is a Flume bug that silently mis-dates events; it
    is kept so that events carry the timestamps Flume gives them.
    """
    found = _JODA_3164.fullmatch(stamp.replace("  ", " ", 1))
    month = None if found is None else _JODA_MONTHS.get(found[1])
    if found is None or month is None:
        return 0
    day, hour, minute, second = (int(g) for g in found.group(2, 3, 4, 5))
    if not (1 <= day <= _month_days(2000, month) and hour < 24 and minute < 60
            and second < 60):
        return 0
    year = _zone_wall(now, zone).year
    day_this_year = min(day, _month_days(year, month))
    fixed = _joda_millis(year, month, day_this_year, hour, minute, second)
    if fixed > now and _joda_millis(year, month, day_this_year, hour, minute, second, -1) > now:
        return _joda_millis(2000, month, day, hour, minute, second, -12)
    if fixed < now and _joda_millis(year, month, day_this_year, hour, minute, second, 1) < now:
        return _joda_millis(2000, month, day, hour, minute, second, 12)
    return fixed


def _parse_text(msg: str, keep: KeepFields, clock: Clock,
                zone: tzinfo | None) -> tuple[dict[str, str], str]:
    """SyslogParser.parseMessage: (headers, body text); _Unparsable or ParserCrash."""
    if not msg:
        raise ParserCrash("empty line")  # Flume: StringIndexOutOfBoundsException
    close = msg.find(">")
    if msg[0] != "<" or not 0 < close <= 6:
        raise _Unparsable(f"bad priority: {msg}")
    priority = msg[1:close]
    if _JAVA_INT.fullmatch(priority) is None:
        raise _Unparsable(f"bad priority: {msg}")
    facility, severity = _java_divmod(int(priority), 8)
    headers = {"Priority": priority, "Facility": str(facility), "Severity": str(severity)}
    if len(msg) <= close + 1:
        raise _Unparsable(f"nothing after the priority: {msg}")
    at = close + 1
    version = None
    if len(msg) > at + 2 and msg[at:at + 2] == "1 ":
        version = headers["Version"] = "1"
        at += 2
    first = msg[at]
    if first == "-":
        stamp, millis = "-", clock()
        if len(msg) <= at + 2:
            raise _Unparsable(f"no host name: {msg}")
        at += 2
    elif "A" <= first <= "Z":
        if len(msg) <= at + 15:
            raise _Unparsable(f"short RFC 3164 timestamp: {msg}")
        stamp = msg[at:at + 15]
        millis = _parser_3164_millis(stamp, clock(), zone)
        at += 16
    else:
        space = msg.find(" ", at)
        if space < 0:
            raise _Unparsable(f"no space after the timestamp: {msg}")
        stamp = msg[at:space]
        millis = _parser_5424_millis(stamp)
        at = space + 1
    headers["timestamp"] = str(millis)
    space = msg.find(" ", at)
    if space < 0:
        raise _Unparsable(f"no host name: {msg}")
    host = headers["host"] = msg[at:space]
    if len(msg) > space + 1 and "all" not in keep:
        return headers, _with_fields(keep, msg[space + 1:], priority, version, stamp, host)
    return headers, msg  # nothing after the host, or keep all: the whole line


def lookup_charset(name: str) -> str:
    """Python's codec name for a Java charset name; ValueError when there is none."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"unknown charset '{name}'")
    return info.name


def port_charsets(params: Mapping[str, Any]) -> tuple[str, dict[int, str]]:
    """`charset.default` and each `charset.port.<N>` of a multiport source, all checked."""
    default = str(params.get("charset.default", DEFAULT_CHARSET))
    lookup_charset(default)
    ports: dict[int, str] = {}
    for key, value in params.items():
        if key.startswith("charset.port."):
            number = key[len("charset.port."):]
            if _JAVA_INT.fullmatch(number) is None:
                raise ValueError(f"{key}: '{number}' is not a port number")
            ports[int(number)] = str(value)
            lookup_charset(str(value))
    return default, ports


def _mina_string(line: bytes, codec: str) -> str:
    """MINA's IoBuffer.getString: the bytes before the first NUL, decoded strictly.

    The bytes after a NUL never reach the event. That is Flume silently losing data, and it
    is kept. UTF-16 looks for two zero bytes instead, and drops an odd last byte.
    """
    if codec.startswith("utf-16"):
        end = line.find(b"\0\0")
        end = len(line) & ~1 if end < 0 else end
    else:
        end = line.find(b"\0")
        end = len(line) if end < 0 else end
    data = line[:end]
    if codec == "utf-16":  # Java defaults to big-endian without a byte order mark
        if data[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return data[2:].decode("utf-16-be" if data[0] == 0xFE else "utf-16-le")
        return data.decode("utf-16-be")
    return data.decode(codec)


def _java_bytes(text: str, codec: str) -> bytes:
    """String.getBytes(charset): unmappable characters replaced, UTF-16 with a big-endian BOM."""
    if codec == "utf-16":
        return b"\xfe\xff" + text.encode("utf-16-be", "replace")
    return text.encode(codec, "replace")


def parse_multiport(line: bytes, charset: str = DEFAULT_CHARSET,
                    keep_fields: KeepFields = KEEP_NONE, *, incomplete: bool = False,
                    clock: Clock = system_clock, zone: tzinfo | None = None) -> Event:
    """One multiport line, without its newline, as Flume's handler makes it an event.

    `incomplete` says the splitter cut the line. Raises ParserCrash where Flume's handler
    throws.
    """
    codec = lookup_charset(charset)
    try:
        text = _mina_string(line, codec)
    except UnicodeError:
        return Event({STATUS: INVALID}, bytes(line))
    try:
        headers, body = _parse_text(text, keep_fields, clock, zone)
    except _Unparsable:
        return Event({STATUS: INVALID}, _java_bytes(text, codec))
    if incomplete:
        headers[STATUS] = INCOMPLETE
    return Event(headers, _java_bytes(body, codec))


class LineSplitter:
    """multiport_syslogtcp's lines: split at `\\n`, or cut once `max_line_length` bytes have
    been read without one (the newline counts).

    A line of exactly `max_line_length` bytes is therefore cut, and its newline then comes
    out as an empty line. Keeps less than `max_line_length` bytes between reads.
    """

    def __init__(self, max_line_length: int = DEFAULT_EVENT_SIZE) -> None:
        if max_line_length < 1:  # Flume would throw on every read
            raise ValueError(f"eventSize must be at least 1, not {max_line_length}")
        self.max_line_length = max_line_length
        self._saved = b""

    @property
    def pending(self) -> int:
        return len(self._saved)

    def reset(self) -> None:
        self._saved = b""

    def split(self, data: bytes) -> list[tuple[bytes, bool]]:
        """The lines this read completes, each with whether it was cut."""
        lines = []
        saved, at, end = self._saved, 0, len(data)
        while at < end:
            room = self.max_line_length - len(saved)
            newline = data.find(b"\n", at, at + room)
            if newline >= 0:
                lines.append((saved + data[at:newline], False))
                at = newline + 1
            elif end - at >= room:
                lines.append((saved + data[at:at + room], True))
                at += room
            else:
                saved += data[at:]
                break
            saved = b""
        self._saved = saved
        return lines


class MultiportDecoder:
    """One multiport_syslogtcp connection (MultiportSyslogHandler.messageReceived).

    Call `feed` once per read. When a line crashes Flume's handler, Flume loses the events of
    the batch it was building and every byte left in that read: silent data loss, which zflume
    does not reproduce (see `feed`). `batch_size` is the source's batchSize, checked here.
    """

    def __init__(self, event_size: int = DEFAULT_EVENT_SIZE, charset: str = DEFAULT_CHARSET,
                 keep_fields: KeepFields = KEEP_NONE, *, port: int | None = None,
                 port_header: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 clock: Clock = system_clock, zone: tzinfo | None = None) -> None:
        if port_header is not None and port is None:
            raise ValueError("port_header needs the port")
        lookup_charset(charset)
        self.splitter = LineSplitter(event_size)
        self.charset = charset
        self.keep_fields = keep_fields
        self.port = port
        self.port_header = port_header
        if batch_size < 1:  # Flume would never read anything
            raise ValueError(f"batchSize must be at least 1, not {batch_size}")
        self.batch_size = batch_size
        self.clock = clock
        self.zone = zone
        self.crashes = 0

    def feed(self, data: bytes) -> list[Event]:
        """The events of this read, with the port header if set. A line on which Flume's
        handler throws (and loses the rest of the read) is an Invalid event here, its raw bytes
        as body, and an empty one is skipped: nothing after it is lost. `crashes` counts them."""
        events: list[Event] = []
        for line, cut in self.splitter.split(data):
            try:
                event = parse_multiport(line, self.charset, self.keep_fields, incomplete=cut,
                                        clock=self.clock, zone=self.zone)
            except ParserCrash:
                self.crashes += 1
                if not line:
                    continue
                event = Event({STATUS: INVALID}, line)
            if self.port_header is not None:
                event.headers[self.port_header] = str(self.port)
            events.append(event)
        return events
