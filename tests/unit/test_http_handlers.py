"""The HTTP source's handlers, on Flume's TestJSONHandler / TestBlobHandler cases."""
from __future__ import annotations

import json

import pytest

from services.sources.http_handlers import (BLOB_HANDLER, JSON_HANDLER, MORPHLINE_BLOB_HANDLER,
                                            BadRequest, Request, make_handler)

JSON = make_handler(JSON_HANDLER, {})


def request(body: bytes, content_type: str = "application/json", target: str = "/") -> Request:
    return Request(target, content_type, body)


def test_json_events_keep_their_headers_and_bodies() -> None:
    body = json.dumps([{"headers": {"a": "b"}, "body": "random_body"},
                       {"headers": {"e": "f"}, "body": "random_body2"}]).encode()
    assert JSON(request(body)) == ([b"random_body", b"random_body2"], [{"a": "b"}, {"e": "f"}])


def test_json_numbers_booleans_and_nulls_read_as_gson_does() -> None:
    body = b'[{"headers": {"n": 1.50, "t": true, "z": null}, "body": 12}, {"body": null}, {}]'
    assert JSON(request(body)) == ([b"12", b"", b""], [{"n": "1.50", "t": "true"}, {}, {}])


def test_json_bodies_are_stored_in_the_request_charset() -> None:
    text = json.dumps([{"body": "héllo"}])
    assert JSON(request(text.encode("utf-16-be"), "application/json; charset=UTF-16")) == (
        [b"\xfe\xff" + "héllo".encode("utf-16-be")], [{}])  # Java's getBytes("UTF-16")
    assert JSON(request(text.encode("utf-32-be"), "text/plain;charset=\"utf-32\""))[0] == [
        "héllo".encode("utf-32-be")]
    assert JSON(request(text.encode())) == ([b"h\xc3\xa9llo"], [{}])


@pytest.mark.parametrize("body, content_type, status", [
    (b"", "application/json", 400),
    (b'[{"body": "x"', "application/json", 400),
    (b'{"body": "x"}', "application/json", 400),
    (b"[1]", "application/json", 400),
    (b'[{"headers": ["a"]}]', "application/json", 400),
    (b'[{"body": {"a": 1}}]', "application/json", 400),
    (b"[]", "application/json; charset=ISO-8859-1", 415),
])
def test_json_requests_that_give_no_events_are_refused(body: bytes, content_type: str,
                                                       status: int) -> None:
    with pytest.raises(BadRequest) as refused:
        JSON(request(body, content_type))
    assert refused.value.status == status


def test_blob_handler_takes_the_whole_body_with_the_query_as_headers() -> None:
    blob = make_handler(MORPHLINE_BLOB_HANDLER, {"maxBlobLength": "10"})
    assert blob(request(b"\x00\x01binary", "application/octet-stream", "/x?a=1&b=&a=2")) == (
        [b"\x00\x01binary"], [{"_attachment_mimetype": "application/octet-stream",
                               "a": "1", "b": ""}])
    with pytest.raises(BadRequest) as refused:
        blob(request(b"x" * 11))
    assert refused.value.status == 413


def test_core_blob_handler_wants_its_mandatory_parameters() -> None:
    blob = make_handler(BLOB_HANDLER, {"mandatoryParameters": "host,app"})
    assert blob(request(b"x", "text/plain", "/?host=h&app=a")) == ([b"x"],
                                                                    [{"host": "h", "app": "a"}])
    with pytest.raises(BadRequest):
        blob(request(b"x", "text/plain", "/?host=h"))


@pytest.mark.parametrize("name, settings", [
    ("org.example.MyHandler", {}),
    (MORPHLINE_BLOB_HANDLER, {"maxBlobLength": "0"}),
    (MORPHLINE_BLOB_HANDLER, {"maxBlobLength": "ten"}),
])
def test_unknown_handlers_and_bad_settings_are_config_errors(name: str,
                                                             settings: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        make_handler(name, settings)
