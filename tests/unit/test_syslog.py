"""Syslog message parsing: the scenarios of Flume's TestSyslogUtils, TestSyslogParser and the
syslog source tests, each with the exact headers and body Flume 1.11 produces."""
from __future__ import annotations

from calendar import monthrange
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from services.sources.syslog.event import (
    INCOMPLETE,
    INVALID,
    KEEP_ALL,
    KEEP_NONE,
    STATUS,
    Clock,
    Event,
    parse_keep_fields,
)
from services.sources.syslog.parser import (
    LineSplitter,
    MultiportDecoder,
    ParserCrash,
    parse_multiport,
    port_charsets,
)
from services.sources.syslog.utils import SyslogTcpDecoder, parse_datagram

UTC = timezone.utc
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
HOST = "ubuntu-11.cloudera.com"


def ms(iso: str) -> int:
    """Epoch milliseconds of an ISO 8601 time, by Python's own parser."""
    return (datetime.fromisoformat(iso) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        milliseconds=1)


def at(iso: str) -> Clock:
    return lambda: ms(iso)


NOW = at("2024-03-20T12:00:00+00:00")


def tcp(data: bytes, keep: str = "none", size: int = 2500, zone: tzinfo = UTC,
        clock: Clock = NOW) -> list[Event]:
    return SyslogTcpDecoder(size, parse_keep_fields(keep), clock=clock, zone=zone).feed(data)


def one(data: bytes, keep: str = "none", zone: tzinfo = UTC, clock: Clock = NOW) -> Event:
    events = tcp(data, keep, zone=zone, clock=clock)
    assert len(events) == 1
    return events[0]


def mp(text: str | bytes, keep: str = "none", clock: Clock = NOW,
       charset: str = "UTF-8") -> Event:
    line = text.encode() if isinstance(text, str) else text
    return parse_multiport(line, charset, parse_keep_fields(keep), clock=clock, zone=UTC)


# keepFields


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


# syslogtcp / syslogudp (SyslogUtils)

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


# multiport_syslogtcp (SyslogParser)


@pytest.mark.parametrize(("stamp", "iso"), [
    ("1985-04-12T23:20:50.52Z", "1985-04-12T23:20:50.520+00:00"),
    ("1985-04-12T19:20:50.52-04:00", "1985-04-12T19:20:50.520-04:00"),
    ("2003-10-11T22:14:15.003Z", "2003-10-11T22:14:15.003+00:00"),
    ("2003-08-24T05:14:15.000003-07:00", "2003-08-24T05:14:15-07:00"),
    ("2012-04-13T11:11:11-08:00", "2012-04-13T11:11:11-08:00"),
    ("2012-04-13T08:08:08.0001+00:00", "2012-04-13T08:08:08+00:00"),
    ("2012-04-13T08:08:08.251+00:00", "2012-04-13T08:08:08.251+00:00"),
    ("2012-04-13T08:08:08.5+05:30", "2012-04-13T08:08:08.500+05:30"),
    ("2012-04-13T08:08:08.1239Z", "2012-04-13T08:08:08.123+00:00"),
    ("2012-04-13T08:08:08X", "2012-04-13T08:08:08+00:00"),  # other suffixes are ignored
])
def test_parser_rfc5424_dates(stamp: str, iso: str) -> None:
    """testRfc5424DateParsing: UTC, fractions cut to milliseconds, offsets applied."""
    assert mp(f"<1>{stamp} h m").headers["timestamp"] == str(ms(iso))


PARSER_MESSAGES = [  # from RFC 3164 and RFC 5424, and two common variants
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
    "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%"
    "  Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, Jelly_Injector=OK, Frier=OK # "
    "Transport: Conveyer1=OK, Conveyer2=OK # %%",
    "<0>Oct 22 10:52:12 scapegoat 1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org "
    "10.1.2.3 sched[0]: That's All Folks!",
    "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - BOM'su root' failed for "
    "lonvick on /dev/pts/8",
    "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make "
    "the do-nuts.",
    "<13>2003-08-24T05:14:15Z localhost snarf?",
    "<13>2012-08-16T14:34:03-08:00 127.0.0.1 test shnap!",
]


PARSER_HOSTS_BODIES = [
    ("mymachine", "su: 'su root' failed for lonvick on /dev/pts/8"),
    ("10.0.0.99", "Use the BFG!"),
    ("CST", PARSER_MESSAGES[2].split(" CST ")[1]),
    ("scapegoat", PARSER_MESSAGES[3].split(" scapegoat ", 1)[1]),
    ("mymachine.example.com", "su - ID47 - BOM'su root' failed for lonvick on /dev/pts/8"),
    ("192.0.2.1", "myproc 8710 - - %% It's time to make the do-nuts."),
    ("localhost", "snarf?"),
    ("127.0.0.1", "test shnap!"),
]


@pytest.mark.parametrize(("message", "host", "body"), [
    (m, *hb) for m, hb in zip(PARSER_MESSAGES, PARSER_HOSTS_BODIES, strict=True)])
def test_parser_known_good_messages(message: str, host: str, body: str) -> None:
    """testMessageParsing: parsed without status; `all` keeps the line; `hostname` the host."""
    plain = mp(message)
    assert STATUS not in plain.headers
    assert (plain.headers["host"], plain.body) == (host, body.encode())
    assert mp(message, "all").body == message.encode()
    kept = mp(message, "hostname")
    assert STATUS not in kept.headers
    assert kept.headers["host"] in kept.body.decode()


def test_parser_headers_for_rfc3164_and_rfc5424() -> None:
    clock = at("2003-10-20T00:00:00+00:00")
    assert mp(PARSER_MESSAGES[0], clock=clock) == Event(
        {"Priority": "34", "Facility": "4", "Severity": "2", "host": "mymachine",
         "timestamp": str(ms("2003-10-11T22:14:15+00:00"))},
        b"su: 'su root' failed for lonvick on /dev/pts/8")
    assert mp(PARSER_MESSAGES[4]) == Event(
        {"Priority": "34", "Facility": "4", "Severity": "2", "Version": "1",
         "host": "mymachine.example.com", "timestamp": str(ms("2003-10-11T22:14:15.003+00:00"))},
        b"su - ID47 - BOM'su root' failed for lonvick on /dev/pts/8")
    assert mp(PARSER_MESSAGES[2], clock=at("2003-08-30T00:00:00+00:00")).headers["host"] == "CST"


@pytest.mark.parametrize(("now", "stamp", "expected"), [
    ("2023-11-14T00:00:00+00:00", "Nov 20 10:00:00", "2023-11-20T10:00:00+00:00"),
    ("2023-11-14T00:00:00+00:00", "Oct 20 10:00:00", "2023-10-20T10:00:00+00:00"),
    # Flume's year correction starts from Joda's year 2000: 2001 behind, 1999 ahead
    ("2023-11-14T00:00:00+00:00", "Feb  5 17:32:18", "2001-02-05T17:32:18+00:00"),
    ("2023-11-14T00:00:00+00:00", "Dec 25 10:00:00", "1999-12-25T10:00:00+00:00"),
    ("2024-03-01T00:00:00+00:00", "Feb 29 12:00:00", "2024-02-29T12:00:00+00:00"),
    ("2023-03-10T00:00:00+00:00", "Feb 29 12:00:00", "2023-02-28T12:00:00+00:00"),
    ("2023-06-10T00:00:00+00:00", "Feb 29 12:00:00", "2001-02-28T12:00:00+00:00"),
    ("2023-06-10T00:00:00+00:00", "Feb 30 12:00:00", "1970-01-01T00:00:00+00:00"),
])
def test_parser_rfc3164_year(now: str, stamp: str, expected: str) -> None:
    event = mp(f"<13>{stamp} h m", clock=at(now))
    assert event.headers["timestamp"] == str(ms(expected))


def test_parser_null_stamp_is_now_and_a_short_day_shifts_the_host() -> None:
    """testFragmented's `<1>- - blah`; a one-space day makes Flume read one column late."""
    assert mp("<1>- - blah blam foo") == Event(
        {"Priority": "1", "Facility": "0", "Severity": "1", "host": "-",
         "timestamp": str(NOW())}, b"blah blam foo")
    assert mp("<13>Mar 1 12:00:00 host msg") == Event(
        {"Priority": "13", "Facility": "1", "Severity": "5", "host": "ost", "timestamp": "0"},
        b"msg")


def test_parser_priorities_java_reads() -> None:
    assert mp("<-1>- h m").headers == {"Priority": "-1", "Facility": "0", "Severity": "-1",
                                       "host": "h", "timestamp": str(NOW())}
    assert mp("<+13>- h m").headers["Priority"] == "+13"
    assert mp("<99999>- h m").headers["Facility"] == "12499"


@pytest.mark.parametrize("line", [
    "hello world", "<13>", "<1234567>x", "<ab>- h m", "<>- h m", "<13>short",
    "<13>2012-04-13 11:11:11 h m", "<13>Mar  1 12:00:00", "<13>2012-04-13T11:11:11Z",
    "<13>2012-04-13T11:11:11+08:0x h m", "<13>2012-04-13T11:11:11.Z h m",
    "<13>2012-04-13T11:11:11. h m", "<13>- ", "<13>- nospace",
    "<13>2012-04-13T11:11:11.99999999999999999999Z h m",
])
def test_parser_unparsable_lines_are_invalid_with_only_the_status(line: str) -> None:
    assert mp(line) == Event({STATUS: INVALID}, line.encode())


@pytest.mark.parametrize("line", [
    b"",  # Flume: StringIndexOutOfBoundsException
    b"\x00<13>- h m",  # the text ends at the NUL: empty
    b"<13>2012-04-13T11:11:11.5 h m",  # the fraction loop runs off the stamp
    b"<13>2012-13-45T11:11:11Z h m",  # Guava's cache wraps Joda's error
    b"<13>[2024-01-01T00:00:00Z] x",
])
def test_parser_lines_that_crash_flumes_handler(line: bytes) -> None:
    with pytest.raises(ParserCrash):
        mp(line)


def test_parser_body_stops_at_a_nul_and_an_empty_body_keeps_the_line() -> None:
    assert mp(b"<13>- h before\x00after").body == b"before"
    assert mp("<13>- host ").body == b"<13>- host "


def test_parser_keep_fields() -> None:
    line = "<10>1 2012-04-13T11:11:11+08:00 host some msg"
    assert mp(line, "timestamp hostname").body == b"2012-04-13T11:11:11+08:00 host some msg"
    assert mp(line, "priority version").body == b"<10>1 some msg"
    assert mp("<10>Feb  5 17:32:18 host msg", "timestamp").body == b"Feb  5 17:32:18 msg"
    assert mp("<10>- host msg", "timestamp").body == b"- msg"


def test_parser_charsets() -> None:
    """testCharsetParsing: UTF-8 and ISO-8859-1 round trip; bad UTF-8 is Invalid, raw."""
    header = "<10>2012-08-11T01:01:01Z localhost "
    for body in ("Yarf yarf yarf", "Comment \u00eates-vous?", "¿Cómo estás?"):
        for charset in ("UTF-8", "ISO-8859-1"):
            event = mp((header + body).encode(charset), charset=charset)
            assert event.body.decode(charset) == body and STATUS not in event.headers
    bad = (header + "Yarf yarf yarf").encode("latin-1")[:-2] + b"\xfe\xff"
    assert mp(bad) == Event({STATUS: INVALID}, bad)


def test_parser_utf16_defaults_to_big_endian_and_writes_a_bom() -> None:
    text = "<13>- h caf\u00e9"
    for line in (text.encode("utf-16-be"), b"\xfe\xff" + text.encode("utf-16-be"),
                 b"\xff\xfe" + text.encode("utf-16-le")):
        event = mp(line, charset="UTF-16")
        assert event.body == b"\xfe\xff" + "caf\u00e9".encode("utf-16-be")
    assert mp(text.encode("utf-16-le"), charset="UTF-16LE").body == "caf\u00e9".encode(
        "utf-16-le")


def test_port_charsets() -> None:
    """testPortCharsetHandling: each port reads its own charset."""
    default, ports = port_charsets({"charset.default": "UTF-8", "charset.port.10001":
                                    "ISO-8859-1", "charset.port.10002": "UTF-8", "ports": "x"})
    assert (default, ports) == ("UTF-8", {10001: "ISO-8859-1", 10002: "UTF-8"})
    assert port_charsets({}) == ("UTF-8", {})
    line = "<10>2012-08-17T02:14:00-07:00 192.168.1.110 þÿÀÁ"
    latin = parse_multiport(line.encode("latin-1"), ports[10001])
    assert STATUS not in latin.headers and latin.body == "þÿÀÁ".encode("latin-1")
    assert parse_multiport(line.encode("latin-1"), ports[10002]).headers == {STATUS: INVALID}
    assert STATUS not in parse_multiport(line.encode(), ports[10002]).headers
    with pytest.raises(ValueError, match="unknown charset 'nope'"):
        port_charsets({"charset.port.1": "nope"})
    with pytest.raises(ValueError, match="not a port number"):
        port_charsets({"charset.port.x": "UTF-8"})


def test_multiport_fragmented_line() -> None:
    """testFragmented: one line in three reads."""
    decoder = MultiportDecoder(100, clock=NOW)
    message = b"<1>- - blah blam foo\n"
    assert decoder.feed(message[:11]) == [] and decoder.feed(message[11:16]) == []
    assert decoder.feed(message[16:]) == [Event(
        {"Priority": "1", "Facility": "0", "Severity": "1", "host": "-",
         "timestamp": str(NOW())}, b"blah blam foo")]


def test_multiport_port_header() -> None:
    """testMultiplePorts: each event says its port; timestamp, host and body as sent."""
    stamp = "2024-03-20T10:00:00.123+01:00"
    for port in (5140, 5141):
        decoder = MultiportDecoder(port=port, port_header="port")
        line = f"<10>{stamp} localhost.localdomain proc1 - some msg {port}\n".encode()
        assert decoder.feed(line) == [Event(
            {"Priority": "10", "Facility": "1", "Severity": "2",
             "timestamp": str(ms(stamp)), "host": "localhost.localdomain", "port": str(port)},
            f"proc1 - some msg {port}".encode())]
    with pytest.raises(ValueError):
        MultiportDecoder(port_header="port")


def test_multiport_oversized_line_is_incomplete() -> None:
    decoder = MultiportDecoder(20, clock=NOW)
    events = decoder.feed(b"<13>- host 123456789012345\n")
    assert events == [Event({"Priority": "13", "Facility": "1", "Severity": "5", "host": "host",
                             "timestamp": str(NOW()), STATUS: INCOMPLETE}, b"123456789"),
                      Event({STATUS: INVALID}, b"012345")]


def test_multiport_lines_that_crash_flume_lose_nothing_here() -> None:
    """Where an empty line (here after a line of exactly eventSize bytes) or a bad RFC 5424
    date throws in Flume's handler and loses the rest of the read, zflume skips the empty line,
    makes the bad one an Invalid event and carries on."""
    read = b"<13>- h 1\n<13>- h 123456789012\n<13>- h after\n<13>- h unfinish"
    decoder = MultiportDecoder(20, clock=NOW)
    assert [e.body for e in decoder.feed(read)] == [b"1", b"123456789012", b"after"]
    assert decoder.crashes == 1 and decoder.splitter.pending == len(b"<13>- h unfinish")
    assert [e.body for e in decoder.feed(b"ed\n")] == [b"unfinished"]
    wide = MultiportDecoder(100, clock=NOW)
    bad_date = b"<13>1 2003-13-45T22:14:15Z h x"
    assert wide.feed(bad_date + b"\n<13>- h y\n") == [Event({STATUS: INVALID}, bad_date),
                                                     Event({"Priority": "13", "Facility": "1",
                                                            "Severity": "5", "host": "h",
                                                            "timestamp": str(NOW())}, b"y")]
    assert wide.crashes == 1


def test_line_splitter_cuts_at_max_length_counting_the_newline() -> None:
    splitter = LineSplitter(5)
    assert splitter.split(b"abcd\nabcde\nab") == [
        (b"abcd", False), (b"abcde", True), (b"", False)]
    assert splitter.pending == 2
    assert splitter.split(b"c") == [] and splitter.pending == 3
    assert splitter.split(b"defg\n") == [(b"abcde", True), (b"fg", False)]
    with pytest.raises(ValueError):
        LineSplitter(0)
