"""Flume's interceptors, alone and chained (TestRegexFilteringInterceptor and friends)."""
from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from services.config.model import Plugin
from services.config.schema import INTERCEPTORS
from services.sources.interceptors import (
    MILLIS_SERIALIZER,
    build,
    chain,
    millis_serializer,
    serializers,
)


def plugin(kind: str, **params: Any) -> Plugin:
    defaults = {key: param.default for key, param in INTERCEPTORS[kind].items()}
    return Plugin(kind, kind, {**defaults, **params})


def run(p: Plugin, headers: list[dict[str, str]]) -> None:
    """A header-only interceptor over a batch of empty bodies, one per header dict."""
    build(p)([b""] * len(headers), headers)


def test_timestamp_sets_epoch_millis_on_every_event() -> None:
    headers: list[dict[str, str]] = [{}, {}]
    before = int(time.time() * 1000)
    run(plugin("timestamp"), headers)
    after = int(time.time() * 1000)
    assert all(before <= int(h["timestamp"]) <= after for h in headers)


def test_timestamp_overwrites_unless_preserve_existing() -> None:
    headers = [{"ts": "1"}, {}]
    run(plugin("timestamp", headerName="ts"), headers)
    assert headers[0]["ts"] != "1"
    headers = [{"ts": "1"}, {}]
    run(plugin("timestamp", headerName="ts", preserveExisting=True), headers)
    assert headers[0] == {"ts": "1"} and headers[1]["ts"].isdigit()


def test_host_uses_the_ip_address_by_default() -> None:
    headers: list[dict[str, str]] = [{}]
    run(plugin("host"), headers)
    assert headers == [{"host": socket.gethostbyname(socket.gethostname())}]


def test_host_can_use_the_canonical_name_under_another_header() -> None:
    headers: list[dict[str, str]] = [{}]
    run(plugin("host", useIP=False, hostHeader="origin"), headers)
    assert headers == [{"origin": socket.getfqdn(socket.gethostname())}]


def test_host_preserve_existing() -> None:
    headers = [{"host": "given"}]
    run(plugin("host", preserveExisting=True), headers)
    assert headers == [{"host": "given"}]
    run(plugin("host"), headers)
    assert headers[0]["host"] != "given"


def test_static_sets_its_key_and_value_and_preserves_existing_by_default() -> None:
    """Flume's static interceptor is the one whose preserveExisting defaults to true."""
    headers = [{"dc": "old"}, {}]
    run(plugin("static", key="dc", value="eu"), headers)
    assert headers == [{"dc": "old"}, {"dc": "eu"}]
    run(plugin("static", key="dc", value="us", preserveExisting=False), headers)
    assert headers == [{"dc": "us"}, {"dc": "us"}]


def test_chain_runs_interceptors_in_listed_order() -> None:
    intercept = chain([plugin("static", key="k", value="first"),
                       plugin("static", key="k", value="second"),
                       plugin("static", key="other", value="x")])
    assert intercept([b"a", b"b"], None) == ([b"a", b"b"], [{"k": "first", "other": "x"}] * 2)


def test_chain_without_interceptors_builds_no_headers() -> None:
    bodies = [b"x"] * 1000
    assert chain([])(bodies, None) == (bodies, None)


def test_chain_gives_every_event_its_own_headers() -> None:
    _, headers = chain([plugin("static")])([b"a", b"b"], None)
    assert headers is not None
    headers[0]["extra"] = "1"
    assert headers[1] == {"key": "value"}


def test_chain_applies_on_top_of_given_headers_honouring_preserve_existing() -> None:
    """An avro client's headers are there first: static keeps them, timestamp replaces."""
    intercept = chain([plugin("static", key="dc", value="eu"),
                       plugin("timestamp")])
    given = [{"dc": "client", "timestamp": "1"}, {}]
    _, headers = intercept([b"a", b"b"], given)
    assert headers is not None
    assert headers[0]["dc"] == "client" and headers[1]["dc"] == "eu"
    assert headers[0]["timestamp"] != "1" and headers[1]["timestamp"].isdigit()


def test_chain_without_interceptors_passes_given_headers_through() -> None:
    given = [{"a": "b"}]
    assert chain([])([b"a"], given)[1] is given


BODIES = [b"INFO start", b"ERROR disk full", b"DEBUG tick", b"ERROR net down"]


def test_regex_filter_keeps_what_matches_by_default_and_everything_with_its_default() -> None:
    everything = chain([plugin("regex_filter")])(list(BODIES), None)
    assert everything[0] == BODIES
    kept = chain([plugin("regex_filter", regex="ERR")])(list(BODIES), None)
    assert kept == ([b"ERROR disk full", b"ERROR net down"], [{}, {}])


def test_regex_filter_drops_what_matches_with_exclude_events() -> None:
    headers = [{"n": str(i)} for i in range(4)]
    kept = chain([plugin("regex_filter", regex="^(DEBUG|INFO)", excludeEvents=True)])(
        list(BODIES), headers)
    assert kept == ([b"ERROR disk full", b"ERROR net down"], [{"n": "1"}, {"n": "3"}])


def test_regex_extractor_sets_a_header_per_group_of_the_first_match() -> None:
    extract = plugin("regex_extractor", regex=r"(\w+) (\w+)", serializers=["level", "what"],
                     **{"serializers.*": {"level.name": "lvl", "what.name": "w"}})
    _, headers = chain([extract])([b"ERROR disk full", b"!!"], None)
    assert headers == [{"lvl": "ERROR", "w": "disk"}, {}]


def test_regex_extractor_with_fewer_serializers_than_groups_and_java_named_groups() -> None:
    extract = plugin("regex_extractor", regex=r"(?<level>[A-Z]+) (\w+)", serializers=["s1"],
                     **{"serializers.*": {"s1.name": "level"}})
    assert chain([extract])([b"WARN low"], None)[1] == [{"level": "WARN"}]


def test_remove_header_by_name_list_and_pattern() -> None:
    remove = plugin("remove_header", withName="a", fromList="b , c", matching="tmp.*")
    headers = [{"a": "1", "b": "2", "c": "3", "tmpX": "4", "keep": "5"}]
    assert chain([remove])([b"x"], headers)[1] == [{"keep": "5"}]


def test_search_replace_rewrites_bodies_with_java_group_references() -> None:
    replace = plugin("search_replace", searchPattern=r"(\d+)\.(\d+)", replaceString="$2.$1")
    assert chain([replace])([b"v 1.2 and 3.4"], None)[0] == [b"v 2.1 and 4.3"]


def test_uuid_gives_each_event_its_own_prefixed_id_and_keeps_existing_ones() -> None:
    """Flume's TestUUIDInterceptor: header `id`, preserveExisting true, an optional prefix."""
    headers: list[dict[str, str]] = [{}, {}, {"id": "mine"}]
    run(plugin("uuid"), headers)
    assert headers[2] == {"id": "mine"}
    assert len(headers[0]["id"]) == 36 and headers[0]["id"] != headers[1]["id"]
    headers = [{"id": "mine"}]
    run(plugin("uuid", headerName="id", preserveExisting=False, prefix="host1-"), headers)
    assert headers[0]["id"].startswith("host1-") and len(headers[0]["id"]) == 42


def test_millis_serializer_reads_a_joda_pattern_as_local_epoch_millis() -> None:
    """Flume's TestRegexExtractorInterceptorMillisSerializer: the printed time comes back."""
    now = int(time.time())
    printed = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    assert millis_serializer("yyyy-MM-dd HH:mm:ss")(printed) == str(now * 1000)
    assert millis_serializer("dd/MMM/yyyy:HH:mm:ss.SSS Z")(
        "10/Oct/2000:13:55:36.250 -0700") == "971211336250"
    assert millis_serializer("yyyy-MM-dd'T'HH:mm")("not a date") is None
    for bad in ("", "ABCDEFG"):
        with pytest.raises(ValueError):
            millis_serializer(bad)


def test_regex_extractor_serializes_each_group_with_its_serializer() -> None:
    settings = {"s1.name": "when", "s1.type": MILLIS_SERIALIZER,
                "s1.pattern": "yyyy-MM-dd HH:mm:ss Z", "s2.name": "level"}
    p = plugin("regex_extractor", regex=r"^(\d+-\d+-\d+ \d+:\d+:\d+ \S+) (\w+)",
               serializers=["s1", "s2"], **{"serializers.*": settings})
    headers: list[dict[str, str]] = [{}]
    build(p)([b"2012-10-17 14:34:44 +0000 WARN disk"], headers)
    assert headers == [{"when": "1350484484000", "level": "WARN"}]
    with pytest.raises(ValueError, match="serializers.s2.type"):
        serializers(["s2"], {"s2.name": "x", "s2.type": "com.example.Mine"})
