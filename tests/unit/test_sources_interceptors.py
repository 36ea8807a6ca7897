"""Flume's timestamp, host and static interceptors, alone and chained."""
from __future__ import annotations

import socket
import time
from typing import Any

from services.config.model import Plugin
from services.config.schema import INTERCEPTORS
from services.sources.interceptors import build, chain


def plugin(kind: str, **params: Any) -> Plugin:
    defaults = {key: param.default for key, param in INTERCEPTORS[kind].items()}
    return Plugin(kind, kind, {**defaults, **params})


def test_timestamp_sets_epoch_millis_on_every_event() -> None:
    headers: list[dict[str, str]] = [{}, {}]
    before = int(time.time() * 1000)
    build(plugin("timestamp"))(headers)
    after = int(time.time() * 1000)
    assert all(before <= int(h["timestamp"]) <= after for h in headers)


def test_timestamp_overwrites_unless_preserve_existing() -> None:
    headers = [{"ts": "1"}, {}]
    build(plugin("timestamp", headerName="ts"))(headers)
    assert headers[0]["ts"] != "1"
    headers = [{"ts": "1"}, {}]
    build(plugin("timestamp", headerName="ts", preserveExisting=True))(headers)
    assert headers[0] == {"ts": "1"} and headers[1]["ts"].isdigit()


def test_host_uses_the_ip_address_by_default() -> None:
    headers: list[dict[str, str]] = [{}]
    build(plugin("host"))(headers)
    assert headers == [{"host": socket.gethostbyname(socket.gethostname())}]


def test_host_can_use_the_canonical_name_under_another_header() -> None:
    headers: list[dict[str, str]] = [{}]
    build(plugin("host", useIP=False, hostHeader="origin"))(headers)
    assert headers == [{"origin": socket.getfqdn(socket.gethostname())}]


def test_host_preserve_existing() -> None:
    headers = [{"host": "given"}]
    build(plugin("host", preserveExisting=True))(headers)
    assert headers == [{"host": "given"}]
    build(plugin("host"))(headers)
    assert headers[0]["host"] != "given"


def test_static_sets_its_key_and_value_and_preserves_existing_by_default() -> None:
    """Flume's static interceptor is the one whose preserveExisting defaults to true."""
    headers = [{"dc": "old"}, {}]
    build(plugin("static", key="dc", value="eu"))(headers)
    assert headers == [{"dc": "old"}, {"dc": "eu"}]
    build(plugin("static", key="dc", value="us", preserveExisting=False))(headers)
    assert headers == [{"dc": "us"}, {"dc": "us"}]


def test_chain_runs_interceptors_in_listed_order() -> None:
    headers_for = chain([plugin("static", key="k", value="first"),
                         plugin("static", key="k", value="second"),
                         plugin("static", key="other", value="x")])
    assert headers_for(2) == [{"k": "first", "other": "x"}] * 2


def test_chain_without_interceptors_builds_no_headers() -> None:
    assert chain([])(1000) is None


def test_chain_gives_every_event_its_own_headers() -> None:
    headers = chain([plugin("static")])(2)
    assert headers is not None
    headers[0]["extra"] = "1"
    assert headers[1] == {"key": "value"}


def test_chain_applies_on_top_of_given_headers_honouring_preserve_existing() -> None:
    """An avro client's headers are there first: static keeps them, timestamp replaces."""
    headers_for = chain([plugin("static", key="dc", value="eu"),
                         plugin("timestamp")])
    given = [{"dc": "client", "timestamp": "1"}, {}]
    headers = headers_for(2, given)
    assert headers is not None
    assert headers[0]["dc"] == "client" and headers[1]["dc"] == "eu"
    assert headers[0]["timestamp"] != "1" and headers[1]["timestamp"].isdigit()


def test_chain_without_interceptors_passes_given_headers_through() -> None:
    given = [{"a": "b"}]
    assert chain([])(1, given) is given
