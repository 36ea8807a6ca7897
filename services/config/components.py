"""Turn a component's raw keys into a typed `Component`: type, params, wiring, plugins.

Every check here reports and carries on, so one run of `zflume check` shows every problem.
A component whose type cannot be resolved is not built, but its other keys are still checked.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from services import tls
from services.config import schema
from services.config.model import Component, Plugin
from services.config.properties import Entry
from services.config.raw import KeySet, RawAgent, Report
from services.config.typenames import resolve
from services.sources.http_handlers import make_handler
from services.sources.interceptors import serializers
from services.sources.ipfilter import parse_rules
from services.sources.syslog.parser import port_charsets

# Keys of a source or sink that the loader reads itself rather than through the type's table.
_SOURCE_WIRING = ("type", "channels", "selector", "interceptors")
_SINK_WIRING = ("type", "channel")
_INVALID = object()  # a value that was reported as wrong and is left out of the params


def resolve_type(kind: str, what: str, keys: KeySet, report: Report) -> str | None:
    """The canonical type of a component or plugin, or None after reporting why not."""
    entry = keys.keys.get("type")
    if entry is None:
        report.error(keys.line, keys.missing("type"), f"{what} has no type")
        return None
    canonical, problem = resolve(kind, entry.value)
    if problem is not None:
        report.error(entry.line, entry.key, problem)
    return canonical


def written(keys: KeySet, *locals_: str) -> tuple[int, str]:
    """(line, key) of the first of `locals_` the user wrote, else of the component itself."""
    for local in locals_:
        entry = keys.keys.get(local)
        if entry is not None:
            return entry.line, entry.key
    return keys.line, keys.missing(locals_[0])


def apply_schema(owner: tuple[str, str], keys: dict[str, Entry], missing: KeySet,
                 report: Report) -> dict[str, Any]:
    """Typed params for every key of the owner's table, defaults filled in, in table order."""
    table = schema.TABLES[owner[0]][owner[1]]
    given: dict[str, Any] = {}
    prefixed: dict[str, dict[str, str]] = {}
    deprecated = schema.DEPRECATED.get(owner, {})
    for local, entry in keys.items():
        if local in deprecated:
            local = _renamed(local, deprecated[local], entry, keys, report)
            if not local:
                continue
        prefix = next((p for p in schema.PREFIXED.get(owner, ()) if local.startswith(p)), None)
        if local not in table and prefix is not None:
            prefixed.setdefault(prefix + "*", {})[local[len(prefix):]] = entry.value
            continue
        if local not in table:
            _extra_key(owner, local, entry, report)
            continue
        allowed = schema.SUPPORTED_VALUES.get(owner, {}).get(local)
        value = _convert(local, table[local], entry, allowed, report)
        if value is not _INVALID:
            given[local] = value
    params: dict[str, Any] = {}
    for local, param in table.items():
        if local in given:
            params[local] = given[local]
        elif local not in keys and param.required:
            report.error(missing.line, missing.missing(local), f"missing required key {local}")
        elif local not in keys:
            params[local] = copy.copy(param.default)
    for prefix in schema.PREFIXED.get(owner, ()):
        params[prefix + "*"] = prefixed.get(prefix + "*", {})
    return params


def _renamed(old: str, new: str, entry: Entry, keys: dict[str, Entry], report: Report) -> str:
    """The key a deprecated one stands for, or "" when the new one is written too (and wins)."""
    if new in keys:
        report.warn(entry.line, entry.key, f"{old} is deprecated and ignored: {new} is set")
        return ""
    report.warn(entry.line, entry.key, f"{old} is deprecated; read as {new}")
    return new


def _convert(local: str, param: schema.Param, entry: Entry, allowed: set[str] | None,
             report: Report) -> Any:
    """The converted, range-checked value, or _INVALID after reporting why."""
    try:
        value = param.convert(entry.value)
    except ValueError as exc:
        report.error(entry.line, entry.key, str(exc))
        return _INVALID
    problem = param.check(value) if param.check else None
    if allowed is not None and value not in allowed:
        report.error(entry.line, entry.key, f"{local} {entry.value} is not supported yet")
    elif problem is not None:
        report.error(entry.line, entry.key, f"{problem}, not {entry.value}")
    else:
        return value
    return _INVALID


def _extra_key(owner: tuple[str, str], local: str, entry: Entry, report: Report) -> None:
    """A key outside the table: not supported yet (error), ignored (warning) or unknown."""
    unsupported = schema.UNSUPPORTED.get(owner, {})
    if local in unsupported:
        off = unsupported[local]  # the one value that means "feature off", if any
        if off is None or entry.value.lower() != off:
            report.error(entry.line, entry.key, f"{local} is not supported yet")
    elif local in schema.IGNORED.get(owner, set()):
        report.warn(entry.line, entry.key, f"{local} is ignored by zflume")
    else:
        report.warn(entry.line, entry.key,
                    f"unknown key {local} for {owner[1]} {owner[0]}; ignored")


def build_channel(raw: RawAgent, name: str, report: Report) -> Component | None:
    """A typed channel; memory channels must not promise more per transaction than they hold."""
    keys = raw.keys_of("channel", name)
    kind = resolve_type("channel", f"channel {name}", keys, report)
    if kind is None:
        return None
    params = apply_schema(("channel", kind), keys.without("type"), keys, report)
    capacity, txn = params.get("capacity"), params.get("transactionCapacity")
    if capacity is not None and txn is not None and txn > capacity:
        line, key = written(keys, "transactionCapacity", "capacity")
        report.error(line, key, f"transactionCapacity {txn} is higher than capacity {capacity}")
    return Component("channel", name, kind, params, keys.line)


def build_source(raw: RawAgent, name: str, report: Report) -> Component | None:
    """A typed source with its channels, selector and interceptors."""
    keys = raw.keys_of("source", name)
    kind = resolve_type("source", f"source {name}", keys, report)
    channels = _source_channels(raw, name, keys, report)
    selector = _selector(keys, channels, report)
    interceptors = _interceptors(keys, report)
    if kind is None:
        return None
    params = apply_schema(("source", kind), keys.without(*_SOURCE_WIRING), keys, report)
    if kind == "http":
        _check_http_handler(params, keys, report)
    for port, charset in params.get("charset.port.*", {}).items():  # multiport_syslogtcp
        try:
            port_charsets({"charset.port." + port: charset})
        except ValueError as exc:
            line, key = written(keys, "charset.port." + port)
            report.error(line, key, str(exc))
    if "ipFilter" in params:
        _check_ip_filter(params, keys, report)
    if params.get("ssl"):
        _check_tls(params, keys, report, tls.server_context, "keystore", "ssl.certificate", "ssl",
                   "enableSSL")
    return Component("source", name, kind, params, keys.line, channels, interceptors, selector)


def _check_ip_filter(params: dict[str, Any], keys: KeySet, report: Report) -> None:
    """Rules that do not parse are an error with ipFilter on (Flume removes the source) and a
    warning with it off (Flume never reads them then)."""
    line, key = written(keys, "ipFilterRules", "ipFilter")
    try:
        parse_rules(params["ipFilterRules"])
    except ValueError as exc:
        if params["ipFilter"]:
            report.error(line, key, str(exc))
        elif params["ipFilterRules"].strip():
            report.warn(line, key, f"{exc}; ignored while ipFilter is false")


def _check_http_handler(params: dict[str, Any], keys: KeySet, report: Report) -> None:
    """An unknown handler class or a bad handler.* value stops the agent, as in Flume."""
    try:
        make_handler(params["handler"], params["handler.*"])
    except ValueError as exc:
        named = [f"handler.{k}" for k in params["handler.*"] if f"handler.{k} " in str(exc)]
        line, key = written(keys, *named, "handler")
        report.error(line, key, str(exc))


def _check_tls(params: dict[str, Any], keys: KeySet, report: Report,
               context: Callable[[dict[str, Any]], object], *named: str) -> None:
    """Build the TLS context now, so that an unreadable keystore or a bad protocol list stops
    the agent before it starts, naming the first of `named` that is written."""
    try:
        context(params)
    except (tls.TlsConfigError, OSError) as exc:
        line, key = written(keys, *named)
        report.error(line, key, f"TLS: {exc}")


def build_sink(raw: RawAgent, name: str, report: Report) -> Component | None:
    """A typed sink with its one channel."""
    keys = raw.keys_of("sink", name)
    kind = resolve_type("sink", f"sink {name}", keys, report)
    channel = _sink_channel(raw, name, keys, report)
    if kind is None:
        return None
    params = apply_schema(("sink", kind), keys.without(*_SINK_WIRING), keys, report)
    if params.get("ssl"):
        _check_tls(params, keys, report, tls.client_context, "truststore", "ssl")
    return Component("sink", name, kind, params, keys.line, channel)


def _source_channels(raw: RawAgent, name: str, keys: KeySet, report: Report) -> list[str]:
    """The listed channels a source writes to, in order; it must name at least one."""
    entry = keys.keys.get("channels")
    if entry is None:
        hint = " (a source names its `channels`, plural)" if "channel" in keys.keys else ""
        report.error(keys.line, keys.missing("channels"), f"source {name} has no channels{hint}")
        return []
    names = list(dict.fromkeys(entry.value.split()))
    for channel in names:
        if channel not in raw.names("channel"):
            report.error(entry.line, entry.key, f"unknown channel {channel}")
    return names


def _sink_channel(raw: RawAgent, name: str, keys: KeySet, report: Report) -> list[str]:
    """A sink's one channel, as a one-item list (the model's `channels`)."""
    entry = keys.keys.get("channel")
    if entry is None:
        hint = " (a sink reads one `channel`, singular)" if "channels" in keys.keys else ""
        report.error(keys.line, keys.missing("channel"), f"sink {name} has no channel{hint}")
        return []
    names = entry.value.split()
    if len(names) > 1:
        report.error(entry.line, entry.key, "a sink reads exactly one channel")
    elif names[0] not in raw.names("channel"):
        report.error(entry.line, entry.key, f"unknown channel {names[0]}")
    return names[:1]


def _selector(keys: KeySet, channels: list[str], report: Report) -> Plugin:
    """The channel selector, replicating unless `selector.type` says otherwise."""
    sub = keys.under("selector")
    kind = "replicating"
    if "type" in sub.keys:
        kind = resolve_type("selector", "selector", sub, report) or "replicating"
    params = apply_schema(("selector", kind), sub.without("type"), sub, report)
    listed = [(key, params.get(key, [])) for key in ("optional", "default")]
    listed += [(f"{prefix}{value}", text.split()) for prefix in ("mapping.", "optional.")
               for value, text in params.get(prefix + "*", {}).items()]
    for key, named in listed:
        entry = sub.keys.get(key)
        for channel in named:
            if channel not in channels and entry is not None:
                report.error(entry.line, entry.key,
                             f"channel {channel} is not one of the source's channels")
    return Plugin("selector", kind, params)


def _interceptors(keys: KeySet, report: Report) -> list[Plugin]:
    """The source's interceptors in listed order; keys of unlisted ones are warned about."""
    entry = keys.keys.get("interceptors")
    names = list(dict.fromkeys(entry.value.split())) if entry else []
    plugins = [p for p in (_interceptor(keys, n, entry, report) for n in names) if p]
    sub = keys.under("interceptors")
    for local, key_entry in sub.keys.items():
        if local.partition(".")[0] not in names:
            report.warn(key_entry.line, key_entry.key, "interceptor is not listed in "
                        f"{keys.prefix}interceptors; ignored")
    return plugins


def _interceptor(keys: KeySet, name: str, listing: Entry | None,
                 report: Report) -> Plugin | None:
    """One typed interceptor."""
    if "." in name and listing is not None:
        report.error(listing.line, listing.key, f"interceptor name {name} contains a dot")
        return None
    sub = keys.under(f"interceptors.{name}")
    if not sub.keys and listing is not None:
        sub.line = listing.line
    kind = resolve_type("interceptor", f"interceptor {name}", sub, report)
    if kind is None:
        return None
    params = apply_schema(("interceptor", kind), sub.without("type"), sub, report)
    if kind == "regex_extractor" and "serializers" in params:
        try:
            serializers(params["serializers"], params["serializers.*"])
        except ValueError as exc:
            line, key = written(sub, *(f"serializers.{k}" for k in params["serializers.*"]
                                       if f"serializers.{k} " in str(exc)), "serializers")
            report.error(line, key, str(exc))
    return Plugin(name, kind, params)

