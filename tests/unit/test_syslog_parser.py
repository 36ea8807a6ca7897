"""multiport_syslogtcp message parsing (services/sources/syslog/parser.py, Flume's SyslogParser):
the scenarios of Flume's TestSyslogParser and TestMultiportSyslogTCPSource, each with the exact
headers and body Flume 1.11 produces."""
from __future__ import annotations

import pytest
from syslog_cases import NOW, UTC, at, ms

from services.sources.syslog.event import (
    INCOMPLETE,
    INVALID,
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


def mp(text: str | bytes, keep: str = "none", clock: Clock = NOW,
       charset: str = "UTF-8") -> Event:
    line = text.encode() if isinstance(text, str) else text
    return parse_multiport(line, charset, parse_keep_fields(keep), clock=clock, zone=UTC)


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


PARSER_MESSAGES = [  # RFC 3164 and 5424 (their 10.x hosts made 127.x), two common variants
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "<13>Feb  5 17:32:18 127.0.0.99 Use the BFG!",
    "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%"
    "  Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, Jelly_Injector=OK, Frier=OK # "
    "Transport: Conveyer1=OK, Conveyer2=OK # %%",
    "<0>Oct 22 10:52:12 scapegoat 1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org "
    "127.1.2.3 sched[0]: That's All Folks!",
    "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - BOM'su root' failed for "
    "lonvick on /dev/pts/8",
    "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make "
    "the do-nuts.",
    "<13>2003-08-24T05:14:15Z localhost snarf?",
    "<13>2012-08-16T14:34:03-08:00 127.0.0.1 test shnap!",
]


PARSER_HOSTS_BODIES = [
    ("mymachine", "su: 'su root' failed for lonvick on /dev/pts/8"),
    ("127.0.0.99", "Use the BFG!"),
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
    line = "<10>2012-08-17T02:14:00-07:00 127.0.1.110 þÿÀÁ"
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
