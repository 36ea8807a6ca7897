"""Flume's SyslogUtils, the parser of the syslogtcp and syslogudp sources.

A message starts with `<PRI>`, one to three
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
"""
from __future__ import annotations

import functools
import re
from datetime import tzinfo
from typing import NamedTuple

from services.sources.syslog.civil_time import (
    EPOCH,
    MS,
    add_months,
    lenient_wall,
    utc_millis,
    zone_millis,
    zone_wall,
)
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

MIN_EVENT_SIZE = 10
UDP_EVENT_SIZE = 1 << 16
UDP_RECEIVE_BYTES = 2048  # Netty 4's default datagram buffer, which Flume 1.11 keeps

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
        return utc_millis(year, month, day, hour, minute, second) - (
            offset if sign == "+" else -offset)
    wall = lenient_wall(year, month, day, hour, minute, second, int(fraction or 0))
    return None if wall is None else zone_millis(wall, zone)


def _utils_3164_millis(stamp: str, clock: Clock, zone: tzinfo | None) -> int | None:
    """`yyyyMMM d HH:mm:ss` with this UTC year, moved into the window of the last 11 months
    and the next one; read in the local zone."""
    found = _UTILS_3164_STAMP.fullmatch(stamp.replace("  ", " "))
    if found is None or found[1] not in _MONTHS:
        return None
    now = clock()
    wall = lenient_wall((EPOCH + now * MS).year, _MONTHS.index(found[1]) + 1, int(found[2]),
                        int(found[3]), int(found[4]), int(found[5]), 0)
    if wall is None:
        return None
    try:
        parsed = zone_millis(wall, zone)
        local = zone_wall(parsed, zone)
        if parsed > now and zone_millis(add_months(local, -1), zone) > now:
            return zone_millis(add_months(local, -12), zone)
        if parsed < now and zone_millis(add_months(local, 11), zone) < now:
            return zone_millis(add_months(local, 12), zone)
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
    body = with_fields(keep, found[5], priority, version, stamp, host)
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
