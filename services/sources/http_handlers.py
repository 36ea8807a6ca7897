"""The HTTP source's handlers: one HTTP request -> the events of one transaction.

    JSONHandler (Flume's default)  [{"headers": {"k": "v"}, "body": "text"}, ...]
        The request is read in its charset (UTF-8 when none is given; Flume allows only UTF-8,
        UTF-16 and UTF-32) and each body is stored encoded in that same charset, as Flume's
        JSONEvent does. A header value or body given as a JSON number or boolean is taken as its
        text (Gson reads them so); `null` is an empty body or a missing header map.
    BlobHandler (morphline's)      the whole request body as one event, with the query's
        parameters as headers and the content type under `_attachment_mimetype`;
        handler.maxBlobLength (default 100,000,000 bytes) bounds it.
    BLOBHandler (Flume core's)     the same without the content type header;
        handler.mandatoryParameters (comma separated) must all be in the query.

A request a handler cannot turn into events raises BadRequest with the HTTP status to answer
(400, or 413 / 415); nothing of it is put. Where Flume cuts a BLOB longer than maxBlobLength and
stores the cut one, zflume answers 413 so that the client knows its event was not taken whole.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from proto.errors import ZflumeError

JSON_HANDLER = "org.apache.flume.source.http.JSONHandler"
MORPHLINE_BLOB_HANDLER = "org.apache.flume.sink.solr.morphline.BlobHandler"
BLOB_HANDLER = "org.apache.flume.source.http.BLOBHandler"
CONTENT_TYPE_HEADER = "_attachment_mimetype"  # morphline's Metadata.CONTENT_TYPE
MAX_BLOB_LENGTH = 100 * 1000 * 1000

# Java's String.getBytes: UTF-16 is big-endian behind a byte order mark, UTF-32 big-endian bare.
_BODY_CODECS = {"utf-8": ("utf-8", b""), "utf-16": ("utf-16-be", b"\xfe\xff"),
                "utf-32": ("utf-32-be", b"")}

_BOMS = {"utf-16": (b"\xfe\xff", b"\xff\xfe"),
         "utf-32": (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")}

Events = tuple[list[bytes], list[dict[str, str]]]


class BadRequest(ZflumeError):
    """A request that gives no events; `status` is the answer."""

    def __init__(self, why: str, status: int = 400) -> None:
        super().__init__(why)
        self.status = status


@dataclass
class Request:
    """What the handlers read of one complete HTTP request."""

    target: str  # the path and query, as sent
    content_type: str  # the Content-Type header, "" when absent
    body: bytes


Handler = Callable[[Request], Events]


def make_handler(class_name: str, settings: dict[str, str]) -> Handler:
    """The handler a `handler` key names, configured by its `handler.*` keys; ValueError says
    what is wrong with them (a config error, naming the key)."""
    name = class_name.strip()
    if name == JSON_HANDLER:
        return json_events
    if name == MORPHLINE_BLOB_HANDLER:
        limit = _positive(settings.get("maxBlobLength", str(MAX_BLOB_LENGTH)), "maxBlobLength")
        return lambda request: blob_event(request, limit, content_type_header=True)
    if name == BLOB_HANDLER:
        mandatory = [p for p in settings.get("mandatoryParameters", "").split(",") if p]
        return lambda request: blob_event(request, 0, content_type_header=False,
                                          mandatory=mandatory)
    raise ValueError(f"handler {name} is not supported (zflume has {JSON_HANDLER}, "
                     f"{MORPHLINE_BLOB_HANDLER} and {BLOB_HANDLER})")


def _positive(text: str, key: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"handler.{key} '{text}' is not an integer") from None
    if value <= 0:
        raise ValueError(f"handler.{key} must be greater than zero, not {value}")
    return value


def charset_of(content_type: str) -> str | None:
    """The charset parameter of a Content-Type, lower-cased; None when there is none."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def json_events(request: Request) -> Events:
    charset = charset_of(request.content_type) or "utf-8"
    if charset not in _BODY_CODECS:
        raise BadRequest(f"charset {charset}: the JSON handler reads UTF-8, UTF-16 and UTF-32 "
                         "only", 415)
    text = _decode(request.body, charset)
    try:
        value = json.loads(text, parse_int=str, parse_float=str, parse_constant=str)
    except ValueError as exc:
        raise BadRequest(f"request has invalid JSON syntax: {exc}") from None
    if not isinstance(value, list):
        raise BadRequest("request is not a JSON array of events")
    codec, mark = _BODY_CODECS[charset]
    bodies: list[bytes] = []
    headers: list[dict[str, str]] = []
    for index, event in enumerate(value):
        if not isinstance(event, dict):
            raise BadRequest(f"event {index} is not a JSON object")
        body = _text(event.get("body"), f"event {index} body")
        bodies.append(mark + body.encode(codec) if body else b"")
        headers.append(_headers(event.get("headers"), index))
    return bodies, headers


def _decode(body: bytes, charset: str) -> str:
    """Java's reading: a byte order mark is honoured, big-endian without one (Python's own
    utf-16 and utf-32 would assume the machine's order); bad bytes become U+FFFD."""
    if charset != "utf-8" and not body.startswith(_BOMS[charset]):
        charset = _BODY_CODECS[charset][0]
    return body.decode(charset, errors="replace")


def _text(value: Any, what: str) -> str:
    """A JSON value as Gson reads it into a String: strings, and numbers (parsed as their own
    text) and booleans as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    raise BadRequest(f"{what} is not a string")


def _headers(value: Any, index: int) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"event {index} headers are not a JSON object")
    return {key: _text(item, f"event {index} header {key}") for key, item in value.items()
            if item is not None}


def blob_event(request: Request, limit: int, content_type_header: bool,
               mandatory: list[str] | None = None) -> Events:
    """One event of the whole body; the query's parameters (first value of each) as headers."""
    if limit and len(request.body) > limit:
        raise BadRequest(f"body of {len(request.body)} bytes is longer than handler."
                         f"maxBlobLength {limit}", 413)
    headers: dict[str, str] = {}
    if content_type_header and request.content_type:
        headers[CONTENT_TYPE_HEADER] = request.content_type
    for key, value in parse_qsl(urlsplit(request.target).query, keep_blank_values=True):
        headers.setdefault(key, value)
    for name in mandatory or ():
        if name not in headers:
            raise BadRequest(f"please specify the {name} parameter in the request")
    return [request.body], [headers]
