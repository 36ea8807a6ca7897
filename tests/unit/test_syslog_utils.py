"""syslogtcp and syslogudp message parsing (services/sources/syslog/utils.py, Flume's SyslogUtils):
the scenarios of Flume's TestSyslogUtils and its syslog source tests, each with the exact headers
and body Flume 1.11 produces."""
from __future__ import annotations

from calendar import monthrange
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from syslog_cases import NOW, UTC, at, ms

from services.sources.syslog.event import (
    INCOMPLETE,
    INVALID,
    KEEP_ALL,
    STATUS,
    Clock,
    Event,
    parse_keep_fields,
)
from services.sources.syslog.utils import SyslogTcpDecoder, parse_datagram

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
HOST = "ubuntu-11.cloudera.com"


def tcp(data: bytes, keep: str = "none", size: int = 2500, zone: tzinfo = UTC,
        clock: Clock = NOW) -> list[Event]:
    return SyslogTcpDecoder(size, parse_keep_fields(keep), clock=clock, zone=zone).feed(data)


def one(data: bytes, keep: str = "none", zone: tzinfo = UTC, clock: Clock = NOW) -> Event:
    events = tcp(data, keep, zone=zone, clock=clock)
    assert len(events) == 1
    return events[0]


# syslogtcp

RFC5424_CASES = [
    # TestHeader0: offset with a colon, no version
    (b"<10>2012-04-13T11:11:11+08:00 " + HOST.encode() + b" some msg\n", UTC,
     {"priority": "10", "timestamp": ms("2012-04-13T11:11:11+08:00"), "host": HOST}),
    # TestHeader1: no zone at all: the local zone
    (b"<10>1 2012-04-13T11:11:11 " + HOST.encode() + b" some msg\n", TOKYO,
     {"priority": "10", "version": "1", "timestamp": ms("2012-04-13T11:11:11+09:00"),
      "host": HOST}),
    # TestHeader2: Z is UTC whatever the local zone
    (b"<10>1 2012-04-13T11:11:11Z " + HOST.encode() + b" some msg\n", TOKYO,
     {"priority": "10", "version": "1", "timestamp": ms("2012-04-13T11:11:11+00:00"),
      "host": HOST}),
    # TestHeader4: the null stamp `-`: no timestamp header
    (b"<10>1 - " + HOST.encode() + b" some msg\n", UTC,
     {"priority": "10", "version": "1", "host": HOST}),
    # TestHeader5-7: the null host `-`: no host header
    (b"<10>1 2012-04-13T11:11:11+08:00 - some msg\n", UTC,
     {"priority": "10", "version": "1", "timestamp": ms("2012-04-13T11:11:11+08:00")}),
    # TestHeader8: a fraction without a zone
    (b"<10>1 2012-04-13T11:11:11.999 " + HOST.encode() + b" some msg\n", TOKYO,
     {"priority": "10", "version": "1", "timestamp": ms("2012-04-13T11:11:11.999+09:00"),
      "host": HOST}),
    # TestHeader11: microseconds cut to milliseconds; with a fraction the offset is ignored
    (b"<10>2014-10-03T17:20:01.123456-07:00 " + HOST.encode() + b" some msg\n", TOKYO,
     {"priority": "10", "timestamp": ms("2014-10-03T17:20:01.123+09:00"), "host": HOST}),
    # `.5` is read as 5 milliseconds, and Z is ignored too once there is a fraction
    (b"<10>2012-04-13T11:11:11.5Z h some msg\n", TOKYO,
     {"priority": "10", "timestamp": ms("2012-04-13T11:11:11.005+09:00"), "host": "h"}),
    # an offset SimpleDateFormat cannot read (hours above 23): local time instead
    (b"<10>2012-04-13T11:11:11+24:00 h some msg\n", TOKYO,
     {"priority": "10", "timestamp": ms("2012-04-13T11:11:11+09:00"), "host": "h"}),
    # lenient fields roll over: February 30th 25:00 is March 2nd 01:00
    (b"<10>2012-02-30T25:00:00Z h some msg\n", UTC,
     {"priority": "10", "timestamp": ms("2012-03-02T01:00:00+00:00"), "host": "h"}),
    # a wall time skipped by DST is read in standard time, one repeated by DST too
    (b"<10>2024-03-10T02:30:00 h some msg\n", NEW_YORK,
     {"priority": "10", "timestamp": ms("2024-03-10T07:30:00+00:00"), "host": "h"}),
    (b"<10>2024-11-03T01:30:00 h some msg\n", NEW_YORK,
     {"priority": "10", "timestamp": ms("2024-11-03T06:30:00+00:00"), "host": "h"}),
]


@pytest.mark.parametrize(("data", "zone", "fields"), RFC5424_CASES)
def test_rfc5424_headers(data: bytes, zone: tzinfo, fields: dict[str, object]) -> None:
    event = one(data, zone=zone)
    expected = {"Facility": "1", "Severity": "2", **{k: str(v) for k, v in fields.items()}}
    assert event == Event(expected, b"some msg")


@pytest.mark.parametrize("data", [
    b"<10>Mar  5 03:03:07 " + HOST.encode() + b" some msg\n",  # TestHeader9, 10
    b"<10>Mar 05 03:03:07 " + HOST.encode() + b" some msg\n",
])
def test_rfc3164_gets_the_current_year_and_the_local_zone(data: bytes) -> None:
    event = one(data, zone=TOKYO)
    assert event == Event({"Facility": "1", "Severity": "2", "priority": "10",
                           "timestamp": str(ms("2024-03-05T03:03:07+09:00")), "host": HOST},
                          b"some msg")


def test_rfc3164_apache_log_with_hyphens() -> None:
    body = b"- hyphen_null_breaks_5424_pattern [07/Jun/2012:14:46:44 -0600]"
    event = one(b"<10>Mar  5 03:03:07 " + HOST.encode() + b" " + body + b"\n")
    assert event.headers["timestamp"] == str(ms("2024-03-05T03:03:07+00:00"))
    assert (event.headers["host"], event.body) == (HOST, body)


def add_months(when: datetime, months: int) -> datetime:
    year, month0 = divmod(when.year * 12 + when.month - 1 + months, 12)
    return when.replace(year=year, month=month0 + 1,
                        day=min(when.day, monthrange(year, month0 + 1)[1]))


@pytest.mark.parametrize("month_offset", range(14))
def test_rfc3164_dates_within_eleven_months_back_and_one_ahead(month_offset: int) -> None:
    """TestRfc3164Dates: a clock moved month by month, dates from 10 months back to 1 ahead."""
    now = add_months(datetime(2023, 6, 15, 12, 30, 45, tzinfo=NEW_YORK), month_offset)
    clock = at(now.isoformat())
    for shift in range(-10, 2):
        stamp = add_months(now, shift) - timedelta(days=1 if shift == 1 else 0)
        text = stamp.strftime("%b %e %H:%M:%S")  # a one-digit day has two spaces
        event = one(f"<10>{text} h some msg\n".encode(), zone=NEW_YORK, clock=clock)
        assert event.headers["timestamp"] == str(ms(stamp.isoformat())), text


@pytest.mark.parametrize(("now", "stamp", "expected"), [
    ("2024-01-02T00:00:00+00:00", "Dec 31 23:00:00", "2023-12-31T23:00:00+00:00"),
    ("2023-12-30T00:00:00+00:00", "Jan  2 00:00:00", "2024-01-02T00:00:00+00:00"),
    ("2024-01-10T00:00:00+00:00", "Feb 15 00:00:00", "2023-02-15T00:00:00+00:00"),
    ("2024-12-20T00:00:00+00:00", "Jan  5 00:00:00", "2025-01-05T00:00:00+00:00"),
    ("2023-03-10T00:00:00+00:00", "Feb 29 12:00:00", "2023-03-01T12:00:00+00:00"),
])
def test_rfc3164_year_rollover(now: str, stamp: str, expected: str) -> None:
    event = one(f"<10>{stamp} h some msg\n".encode(), clock=at(now))
    assert event.headers["timestamp"] == str(ms(expected))


@pytest.mark.parametrize("data", [
    b"<10F> bad bad data\n",  # testExtractBadEvent1: not numeric
    b"hi guys! <10> bad bad data\n",  # 2: no '<' first
    b"<> bad bad data\n",  # 3: empty
    b"<123123123123123123123123123123> bad bad data\n",  # 4: too long
    b"<1234>x\n",
])
def test_bad_priority_is_invalid_with_the_raw_line(data: bytes) -> None:
    assert one(data) == Event({"Facility": "0", "Severity": "0", STATUS: INVALID}, data[:-1])


def test_a_message_no_pattern_matches_keeps_its_raw_bytes() -> None:
    assert one(b"<10>Good good good data\n") == Event(
        {"Facility": "1", "Severity": "2"}, b"<10>Good good good data")


def test_good_and_bad_events_in_one_read() -> None:
    """testBadEventGoodEvent, testGoodEventBadEvent, testBadEventBadEvent, testGoodEventGood."""
    bad1, bad2 = b"hi guys! <10F> bad bad data", b"hi guys! <20> bad bad data"
    good1, good2 = b"<10>Good good good data", b"<20>Good really good data"
    events = tcp(b"\n".join([bad1, good1, good1, bad1, bad1, bad2, good1, good2]) + b"\n")
    invalid = {"Facility": "0", "Severity": "0", STATUS: INVALID}
    assert events == [
        Event(invalid, bad1), Event({"Facility": "1", "Severity": "2"}, good1),
        Event({"Facility": "1", "Severity": "2"}, good1), Event(invalid, bad1),
        Event(invalid, bad1), Event(invalid, bad2),
        Event({"Facility": "1", "Severity": "2"}, good1),
        Event({"Facility": "2", "Severity": "4"}, good2)]


def test_an_oversized_event_is_cut_and_the_rest_starts_over() -> None:
    """testExtractBadEventLarge: eventSize 5 is raised to the minimum of 10."""
    assert tcp(b"<10> bad bad data bad bad\n", size=5) == [
        Event({"Facility": "1", "Severity": "2", STATUS: INCOMPLETE}, b"<10> bad b"),
        Event({"Facility": "0", "Severity": "0", STATUS: INVALID}, b"ad data ba"),
        Event({"Facility": "0", "Severity": "0", STATUS: INVALID}, b"d bad")]


def test_a_message_of_exactly_event_size_is_incomplete_and_its_newline_skipped() -> None:
    message = b"<13>2012-04-13T11:11:11Z h 12345"
    events = tcp(message + b"\n<13>next\n", size=len(message))
    assert events == [
        Event({"Facility": "1", "Severity": "5", "priority": "13", STATUS: INCOMPLETE,
               "timestamp": str(ms("2012-04-13T11:11:11+00:00")), "host": "h"}, b"12345"),
        Event({"Facility": "1", "Severity": "5"}, b"<13>next")]


def test_a_cut_event_is_parsed_and_keeps_the_incomplete_status() -> None:
    event = tcp(b"<13>Mar  1 12:00:00 host " + b"x" * 100 + b"\n", size=50)[0]
    assert event.headers == {"Facility": "1", "Severity": "5", "priority": "13",
                             "timestamp": str(ms("2024-03-01T12:00:00+00:00")), "host": "host",
                             STATUS: INCOMPLETE}
    assert event.body == b"x" * 25


KEEP_MESSAGE = b"<10>1 2012-04-13T11:11:11+08:00 ubuntu-11.cloudera.com some msg\n"


@pytest.mark.parametrize(("keep", "body"), [
    ("none", b"some msg"),
    ("false", b"some msg"),
    ("hostname", b"ubuntu-11.cloudera.com some msg"),
    ("timestamp hostname", b"2012-04-13T11:11:11+08:00 ubuntu-11.cloudera.com some msg"),
    ("priority timestamp hostname",
     b"<10>2012-04-13T11:11:11+08:00 ubuntu-11.cloudera.com some msg"),
    ("priority version timestamp hostname", KEEP_MESSAGE[:-1]),
    ("all", KEEP_MESSAGE[:-1]),
    ("true", KEEP_MESSAGE[:-1]),
    ("version", b"1 some msg"),
])
def test_keep_fields_put_fields_back_in_the_body(keep: str, body: bytes) -> None:
    """testKeepFields: the headers stay the same whatever is kept."""
    event = one(KEEP_MESSAGE, keep=keep)
    assert event == Event({"Facility": "1", "Severity": "2", "priority": "10", "version": "1",
                           "timestamp": str(ms("2012-04-13T11:11:11+08:00")), "host": HOST},
                          body)


def test_keeping_a_null_stamp_or_host_writes_null_as_java_does() -> None:
    assert one(b"<10>1 - - msg\n", keep="timestamp hostname").body == b"null null msg"
    assert one(b"<10>1 - - msg\n", keep="all").body == b"<10>1 - - msg"


def test_all_keeps_the_raw_spacing_which_a_field_list_rebuilds() -> None:
    message = b"<10>Mar  5 03:03:07 h  two spaces\n"
    assert one(message, keep="all").body == message[:-1]
    assert one(message, keep="priority version timestamp hostname").body == (
        b"<10>Mar  5 03:03:07 h  two spaces")
    assert one(message).body == b" two spaces"


def test_a_message_split_across_reads_and_several_in_one_read() -> None:
    stream = (b"<13>2012-04-13T11:11:11Z a first\n\n<14>Mar  1 12:00:00 b second\n"
              b"bad\n<15>third\n")
    whole = tcp(stream)
    decoder = SyslogTcpDecoder(clock=NOW, zone=UTC)
    pieces = [decoder.feed(stream[i:i + 1]) for i in range(len(stream))]
    assert [e for events in pieces for e in events] == whole
    assert [e.body for e in whole] == [b"first", b"second", b"bad", b"<15>third"]
    assert decoder.pending == 0


def test_an_unfinished_message_waits_for_the_next_read() -> None:
    decoder = SyslogTcpDecoder(clock=NOW, zone=UTC)
    assert decoder.feed(b"<13>2012-04-13T11:11:11Z host par") == []
    assert decoder.pending == len(b"<13>2012-04-13T11:11:11Z host par")
    assert decoder.feed(b"tial\n") == [Event(
        {"Facility": "1", "Severity": "5", "priority": "13",
         "timestamp": str(ms("2012-04-13T11:11:11+00:00")), "host": "host"}, b"partial")]


def test_memory_stays_bounded_without_newlines() -> None:
    decoder = SyslogTcpDecoder(100, clock=NOW, zone=UTC)
    events = decoder.feed(b"<13>" + b"y" * 10_000)
    assert len(events) == 100 and decoder.pending < 100
    assert all(len(e.body) == 100 for e in events)
    assert events[0].headers == {"Facility": "1", "Severity": "5", STATUS: INCOMPLETE}
    assert events[1].headers == {"Facility": "0", "Severity": "0", STATUS: INVALID}


def test_empty_lines_are_skipped() -> None:
    assert tcp(b"\n\n<13>x\n\n\n") == [Event({"Facility": "1", "Severity": "5"}, b"<13>x")]


def test_a_newline_inside_the_priority_does_not_end_the_message() -> None:
    assert tcp(b"<1\n<13>next\n") == [
        Event({"Facility": "0", "Severity": "0", STATUS: INVALID}, b"<1\n<13>next")]


def test_non_utf8_bytes() -> None:
    """A parsed body goes through UTF-8 text (bad bytes replaced); a raw body stays intact."""
    parsed = one(b"<13>Mar  1 12:00:00 host caf\xe9 \xff\n")
    assert parsed.body == "caf\ufffd \ufffd".encode()
    assert one(b"<13>caf\xe9\n").body == b"<13>caf\xe9"
    assert one(b"<13>Mar  1 12:00:00 host caf\xe9\n", keep="all").body == (
        b"<13>Mar  1 12:00:00 host caf\xe9")


def test_a_carriage_return_stops_the_patterns_as_in_java() -> None:
    """Java's `.` does not match `\\r`, so a CRLF line keeps its raw bytes and no headers."""
    assert one(b"<13>Mar  1 12:00:00 host msg\r\n") == Event(
        {"Facility": "1", "Severity": "5"}, b"<13>Mar  1 12:00:00 host msg\r")


def test_an_unreadable_rfc3164_date_gives_no_timestamp() -> None:
    event = one(b"<13>Abc  1 12:00:00 host msg\n")
    assert event == Event({"Facility": "1", "Severity": "5", "priority": "13", "host": "host"},
                          b"msg")


# syslogudp

STAMP = "2024-03-20T10:00:00.123+01:00"  # Joda's DateTime.toString, as the source tests use
UDP_MESSAGE = f"<10>{STAMP} localhost.localdomain test syslog data".encode()


@pytest.mark.parametrize(("keep", "body"), [
    ("all", UDP_MESSAGE), ("true", UDP_MESSAGE),
    ("none", b"test syslog data"), ("false", b"test syslog data"),
    ("hostname", b"localhost.localdomain test syslog data"),
    ("timestamp", f"{STAMP} test syslog data".encode()),
])
def test_udp_keep_fields(keep: str, body: bytes) -> None:
    """TestSyslogUdpSource.runKeepFieldsTest (and TestSyslogTcpSource's, with a newline)."""
    event = parse_datagram(UDP_MESSAGE, parse_keep_fields(keep), clock=NOW, zone=TOKYO)
    headers = {"Facility": "1", "Severity": "2", "priority": "10",
               "timestamp": str(ms("2024-03-20T10:00:00.123+09:00")),
               "host": "localhost.localdomain"}
    assert event == Event(headers, body)
    assert one(UDP_MESSAGE + b"\n", keep=keep, zone=TOKYO) == event


def test_udp_large_payload_and_flumes_2048_byte_buffer() -> None:
    """testLargePayload: 1000 bytes come through whole; Flume 1.11 cuts a datagram at 2048."""
    payload = b"x" * 1000
    invalid = {"Facility": "0", "Severity": "0", STATUS: INVALID}
    assert parse_datagram(payload, KEEP_ALL) == Event(invalid, payload)
    assert parse_datagram(b"x" * 3000, KEEP_ALL) == Event(invalid, b"x" * 2048)
    big = b"<13>Mar  1 12:00:00 host " + b"y" * 3000
    event = parse_datagram(big, clock=NOW, zone=UTC)
    assert event is not None and event.body == b"y" * (2048 - 25)
    assert STATUS not in event.headers
    whole = parse_datagram(big, clock=NOW, zone=UTC, receive_bytes=65536)
    assert whole is not None and whole.body == b"y" * 3000


def test_udp_stops_at_the_first_newline() -> None:
    expected = Event({"Facility": "1", "Severity": "5", "priority": "13",
                      "timestamp": str(ms("2024-03-01T12:00:00+00:00")), "host": "h"}, b"one")
    for datagram in (b"<13>Mar  1 12:00:00 h one", b"<13>Mar  1 12:00:00 h one\n",
                     b"<13>Mar  1 12:00:00 h one\n<13>Mar  1 12:00:00 h two"):
        assert parse_datagram(datagram, clock=NOW, zone=UTC) == expected


def test_udp_datagrams_flume_drops_or_keeps_half_read() -> None:
    for datagram in (b"", b"\n", b"\n\n", b"<"):
        assert parse_datagram(datagram) is None
    assert parse_datagram(b"<12") == Event({"Facility": "1", "Severity": "4"}, b"<12")
    assert parse_datagram(b"<13>") == Event({"Facility": "1", "Severity": "5"}, b"<13>")
    assert parse_datagram(b"test") == Event(
        {"Facility": "0", "Severity": "0", STATUS: INVALID}, b"test")
