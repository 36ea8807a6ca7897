"""Flume's built-in header interceptors: timestamp, host, static (docs/flume.md 4.9).

They work on the header column of a batch (one dict per event) so that a source without
interceptors never builds per-event dicts at all.
"""
from __future__ import annotations

import socket
import time
from typing import Callable, Protocol

from services.config.model import Plugin

Interceptor = Callable[[list[dict[str, str]]], None]


class HeadersFor(Protocol):
    """What `chain` returns: a batch's headers after the interceptors."""

    def __call__(self, n: int, given: list[dict[str, str]] | None = None
                 ) -> list[dict[str, str]] | None: ...


def _setter(key: str, preserve: bool, value: Callable[[], str]) -> Interceptor:
    def apply(headers: list[dict[str, str]]) -> None:
        for event_headers in headers:
            if not (preserve and key in event_headers):
                event_headers[key] = value()
    return apply


def _host(use_ip: bool) -> str:
    name = socket.gethostname()
    if not use_ip:
        return socket.getfqdn(name)
    try:
        return socket.gethostbyname(name)
    except OSError:
        return "127.0.0.1"


def build(plugin: Plugin) -> Interceptor:
    """One interceptor from its typed, defaulted config."""
    p = plugin.params
    if plugin.type == "timestamp":
        return _setter(p["headerName"], p["preserveExisting"],
                       lambda: str(int(time.time() * 1000)))
    if plugin.type == "host":
        host = _host(p["useIP"])
        return _setter(p["hostHeader"], p["preserveExisting"], lambda: host)
    if plugin.type == "static":
        value = p["value"]
        return _setter(p["key"], p["preserveExisting"], lambda: value)
    raise ValueError(f"interceptor type {plugin.type} has no implementation")


def chain(plugins: list[Plugin]) -> HeadersFor:
    """`headers_for(n, given=None)`: the headers of a batch of `n` events after every
    interceptor ran in listed order, on top of the `given` ones (an avro client's), so that
    preserveExisting sees them. None when there are neither interceptors nor given headers."""
    # `dedupe` filters events rather than setting headers: services.sources.dedupe runs it.
    built = [build(plugin) for plugin in plugins if plugin.type != "dedupe"]

    def headers_for(n: int, given: list[dict[str, str]] | None = None
                    ) -> list[dict[str, str]] | None:
        if not built:
            return given
        headers = given if given is not None else [{} for _ in range(n)]
        for interceptor in built:
            interceptor(headers)
        return headers
    return headers_for
