"""Flume's SyslogParser and MultiportSyslogTCPSource, the parser of the multiport_syslogtcp
source.

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
"""
from __future__ import annotations

import codecs
import functools
import re
from datetime import tzinfo
from typing import Any, Mapping

from proto.errors import ZflumeError
from services.sources.syslog.civil_time import month_days, utc_millis, zone_wall
from services.sources.syslog.event import (
    DEFAULT_EVENT_SIZE,
    INCOMPLETE,
    INVALID,
    KEEP_NONE,
    STATUS,
    Clock,
    Event,
    KeepFields,
    system_clock,
    with_fields,
)

DEFAULT_BATCH_SIZE = 100
DEFAULT_READ_BUFFER_BYTES = 1024  # readBufferBytes: MINA's first read size, adapted later
DEFAULT_CHARSET = "UTF-8"


class ParserCrash(ZflumeError):
    """A line on which Flume's multiport handler throws instead of building an event."""


class _Unparsable(ZflumeError, ValueError):
    """SyslogParser's IllegalArgumentException: the line becomes an Invalid event."""


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
            and 1 <= day <= month_days(year, month) and hour < 24 and minute < 60
            and second < 60):
        raise ParserCrash(f"bad RFC 5424 date: {prefix}")
    return utc_millis(year, month, day, hour, minute, second)


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
    day = min(day, month_days(year, month0 + 1))
    return utc_millis(year, month0 + 1, day, hour, minute, second)


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
    if not (1 <= day <= month_days(2000, month) and hour < 24 and minute < 60
            and second < 60):
        return 0
    year = zone_wall(now, zone).year
    day_this_year = min(day, month_days(year, month))
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
        return headers, with_fields(keep, msg[space + 1:], priority, version, stamp, host)
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
