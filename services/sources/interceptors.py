"""Flume's built-in interceptors (docs/flume.md 4.9): timestamp, host, static, regex_filter,
regex_extractor, remove_header, search_replace, and morphline's uuid (a random UUID per event).

They work on a batch's columns, bodies and one header dict per event, so that a source without
interceptors never builds per-event dicts at all; `chain` runs them in listed order. An
interceptor may drop events (regex_filter) or rewrite bodies (search_replace). Patterns are
Java's regular expressions, which Python's `re` reads once `(?<name>` is spelled `(?P<name>`
(`java_regex`); a body is matched as UTF-8 text, undecodable bytes replaced.
"""
from __future__ import annotations

import datetime
import re
import socket
import time
import uuid
from typing import Callable

from services.config.model import Plugin

Headers = list[dict[str, str]]
Interceptor = Callable[[list[bytes], Headers], tuple[list[bytes], Headers]]
Serializer = Callable[[str], "str | None"]  # None: the header is not set
Chain = Callable[[list[bytes], "Headers | None"], tuple[list[bytes], "Headers | None"]]
_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z])")
_GROUP_REF = re.compile(r"\$(?:(\d+)|\{(\w+)\})")


def java_regex(pattern: str) -> re.Pattern[str]:
    """A Java regular expression compiled by `re`; ValueError says why it cannot be."""
    try:
        return re.compile(_NAMED_GROUP.sub("(?P<", pattern))
    except re.error as exc:
        raise ValueError(f"'{pattern}' is not a regular expression: {exc}") from exc


def java_replacement(text: str) -> str:
    """Java's Matcher.replaceAll replacement ($1, ${name}, \\x for a literal x) in `re.sub`'s
    spelling (\\g<1>, \\g<name>, backslashes doubled)."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1].replace("\\", "\\\\"))
            i += 2
            continue
        ref = _GROUP_REF.match(text, i) if char == "$" else None
        if ref is not None:
            out.append(f"\\g<{ref.group(1) or ref.group(2)}>")
            i = ref.end()
            continue
        out.append(char.replace("\\", "\\\\"))
        i += 1
    return "".join(out)


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def _setter(key: str, preserve: bool, value: Callable[[], str]) -> Interceptor:
    def apply(bodies: list[bytes], headers: Headers) -> tuple[list[bytes], Headers]:
        for event_headers in headers:
            if not (preserve and key in event_headers):
                event_headers[key] = value()
        return bodies, headers
    return apply


def _host(use_ip: bool) -> str:
    name = socket.gethostname()
    if not use_ip:
        return socket.getfqdn(name)
    try:
        return socket.gethostbyname(name)
    except OSError:
        return "127.0.0.1"


def _regex_filter(regex: re.Pattern[str], exclude: bool) -> Interceptor:
    """Keep the events whose body the regex finds something in (drop them with exclude)."""
    def apply(bodies: list[bytes], headers: Headers) -> tuple[list[bytes], Headers]:
        keep = [(regex.search(_text(body)) is None) == exclude for body in bodies]
        return ([b for b, k in zip(bodies, keep, strict=True) if k],
                [h for h, k in zip(headers, keep, strict=True) if k])
    return apply


MILLIS_SERIALIZER = "org.apache.flume.interceptor.RegexExtractorInterceptorMillisSerializer"
# Joda-Time pattern letters -> strptime directives (the ones date patterns in configs use)
_JODA = [("yyyy", "%Y"), ("yy", "%y"), ("MMMM", "%B"), ("MMM", "%b"), ("MM", "%m"),
         ("dd", "%d"), ("d", "%d"), ("HH", "%H"), ("H", "%H"), ("hh", "%I"), ("mm", "%M"),
         ("ss", "%S"), ("SSS", "%f"), ("a", "%p"), ("EEE", "%a"), ("Z", "%z"), ("M", "%m")]


def joda_format(pattern: str) -> str:
    """A Joda DateTimeFormat pattern as a strptime format; ValueError for a letter it has no
    equivalent for. 'quoted' text is literal, as in Joda."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "'":
            end = pattern.find("'", i + 1)
            end = len(pattern) if end < 0 else end
            out.append(pattern[i + 1:end].replace("%", "%%") or "'")
            i = end + 1
            continue
        token = next((t for t in _JODA if pattern.startswith(t[0], i)), None)
        if token is not None:
            out.append(token[1])
            i += len(token[0])
        elif pattern[i].isalpha():
            raise ValueError(f"pattern letter {pattern[i]} of '{pattern}' is not supported")
        else:
            out.append(pattern[i].replace("%", "%%"))
            i += 1
    return "".join(out)


def millis_serializer(pattern: str) -> Serializer:
    """Flume's RegexExtractorInterceptorMillisSerializer: the value read with the pattern, in
    the machine's time zone unless the pattern has one, as epoch milliseconds. Where Joda
    throws for a value the pattern does not fit (and Flume's source fails the batch), the
    header is left unset."""
    if not pattern:
        raise ValueError("the millis serializer needs a pattern")
    fmt = joda_format(pattern)

    def serialize(value: str) -> str | None:
        try:
            parsed = datetime.datetime.strptime(value, fmt)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.astimezone()  # a naive time is local time
        return str(int(parsed.timestamp() * 1000))
    return serialize


def serializers(listed: list[str], settings: dict[str, str]
                ) -> list[tuple[str, Serializer]]:
    """(header, serializer) per group, from serializers.NAME.name / .type / .pattern;
    ValueError names what is wrong."""
    out: list[tuple[str, Serializer]] = []
    for name in listed:
        header = settings.get(f"{name}.name", "")
        if not header:
            raise ValueError(f"serializers.{name}.name is missing or empty")
        kind = settings.get(f"{name}.type", "DEFAULT")
        if kind == "DEFAULT" or kind.endswith("RegexExtractorInterceptorPassThroughSerializer"):
            out.append((header, _same))
        elif kind == MILLIS_SERIALIZER:
            pattern = settings.get(f"{name}.pattern", "")
            if not pattern:
                raise ValueError(f"serializers.{name}.type {kind} needs serializers.{name}.pattern")
            try:
                out.append((header, millis_serializer(pattern)))
            except ValueError as exc:
                raise ValueError(f"serializers.{name}.pattern {exc}") from None
        else:
            raise ValueError(f"serializers.{name}.type {kind} is not supported")
    return out


def _same(value: str) -> str | None:
    return value


def _regex_extractor(regex: re.Pattern[str],
                     named: list[tuple[str, Serializer]]) -> Interceptor:
    """Group i of the first match in the body becomes header named[i-1], serialized."""
    def apply(bodies: list[bytes], headers: Headers) -> tuple[list[bytes], Headers]:
        for body, event_headers in zip(bodies, headers, strict=True):
            match = regex.search(_text(body))
            if match is not None:
                # groups beyond the serializers set no header, as in Flume
                for (name, serialize), value in zip(named, match.groups(), strict=False):
                    if value is not None and (text := serialize(value)) is not None:
                        event_headers[name] = text
        return bodies, headers
    return apply


def _remove_header(name: str, listed: set[str], matching: re.Pattern[str] | None) -> Interceptor:
    def apply(bodies: list[bytes], headers: Headers) -> tuple[list[bytes], Headers]:
        for event_headers in headers:
            for key in [k for k in event_headers if k == name or k in listed
                        or (matching is not None and matching.fullmatch(k))]:
                del event_headers[key]
        return bodies, headers
    return apply


def _search_replace(regex: re.Pattern[str], replacement: str, charset: str) -> Interceptor:
    def apply(bodies: list[bytes], headers: Headers) -> tuple[list[bytes], Headers]:
        return [regex.sub(replacement, body.decode(charset, "replace")).encode(charset)
                for body in bodies], headers
    return apply


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
    if plugin.type == "uuid":
        prefix = p["prefix"]
        return _setter(p["headerName"], p["preserveExisting"],
                       lambda: prefix + str(uuid.uuid4()))
    if plugin.type == "regex_filter":
        return _regex_filter(java_regex(p["regex"]), p["excludeEvents"])
    if plugin.type == "regex_extractor":
        return _regex_extractor(java_regex(p["regex"]),
                                serializers(p["serializers"], p["serializers.*"]))
    if plugin.type == "remove_header":
        listed = set(re.split(p["fromListSeparator"], p["fromList"])) if p["fromList"] else set()
        return _remove_header(p["withName"], listed - {""},
                              java_regex(p["matching"]) if p["matching"] else None)
    if plugin.type == "search_replace":
        return _search_replace(java_regex(p["searchPattern"]),
                               java_replacement(p["replaceString"]), p["charset"])
    raise ValueError(f"interceptor type {plugin.type} has no implementation")


def chain(plugins: list[Plugin]) -> Chain:
    """`intercept(bodies, headers)`: the batch after every interceptor ran in listed order, on
    top of the given headers (an avro client's), so that preserveExisting sees them. Headers
    stay None when there are neither interceptors nor given headers."""
    # `dedupe` filters by what the channel accepted: services.sources.dedupe runs it.
    built = [build(plugin) for plugin in plugins if plugin.type != "dedupe"]

    def intercept(bodies: list[bytes], given: Headers | None = None
                  ) -> tuple[list[bytes], Headers | None]:
        if not built:
            return bodies, given
        headers = given if given is not None else [{} for _ in bodies]
        for interceptor in built:
            bodies, headers = interceptor(bodies, headers)
        return bodies, headers
    return intercept
