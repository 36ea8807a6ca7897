"""AvroSourceProtocol's text, hash and shapes, and the fastavro reference schemas."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import fastavro
import pytest

from proto.avro import FLUME_PROTOCOL, HandshakeError, Protocol, Status
from proto.avro.protocol import EVENT_SCHEMA, EVENTS_SCHEMA, FLUME_PROTOCOL_TEXT, STATUS_SCHEMA
from tests.paths import AVRO_FIXTURES as FIXTURES



def test_protocol_text_is_flumes_byte_for_byte() -> None:
    """The text Java hashes, licence doc included, MD5 86aadae2c45474c0fe93ffd0f2350a65."""
    assert FLUME_PROTOCOL_TEXT.encode() == (FIXTURES / "AvroSourceProtocol.json").read_bytes()
    digest = hashlib.md5(FLUME_PROTOCOL_TEXT.encode()).hexdigest()
    assert digest == "86aadae2c45474c0fe93ffd0f2350a65"
    assert FLUME_PROTOCOL.md5.hex() == "86aadae2c45474c0fe93ffd0f2350a65"
    assert FLUME_PROTOCOL.name == "AvroSourceProtocol"


def test_nodoc_variant_hashes_differently_but_reads_alike() -> None:
    nodoc = Protocol.parse((FIXTURES / "AvroSourceProtocol.nodoc.json").read_text())
    assert nodoc.md5.hex() == "30da54059df72d9584b867d5202e2069"
    assert nodoc.requests == FLUME_PROTOCOL.requests
    assert nodoc.responses == FLUME_PROTOCOL.responses


def test_shapes_ignore_namespaces_and_docs_but_not_layout() -> None:
    doc = json.loads(FLUME_PROTOCOL_TEXT)
    doc["namespace"] = "elsewhere"
    doc["types"][1]["doc"] = "an event"
    doc["messages"]["appendBatch"]["request"][0]["type"]["items"] = "elsewhere.AvroFlumeEvent"
    assert Protocol.parse(json.dumps(doc)).requests == FLUME_PROTOCOL.requests
    doc["types"][1]["fields"].reverse()
    assert Protocol.parse(json.dumps(doc)).requests != FLUME_PROTOCOL.requests


def test_status_symbols_follow_the_peers_enum_order() -> None:
    doc = json.loads(FLUME_PROTOCOL_TEXT)
    doc["types"][0]["symbols"] = ["UNKNOWN", "FAILED", "OK"]
    assert Protocol.parse(json.dumps(doc)).status_symbols("append") == ("UNKNOWN", "FAILED", "OK")
    assert FLUME_PROTOCOL.status_symbols("appendBatch") == ("OK", "FAILED", "UNKNOWN")
    assert [s.value for s in Status] == ["OK", "FAILED", "UNKNOWN"]


def test_status_symbols_of_a_non_enum_response_is_a_handshake_error() -> None:
    doc = json.loads(FLUME_PROTOCOL_TEXT)
    doc["messages"]["append"]["response"] = "string"
    with pytest.raises(HandshakeError):
        Protocol.parse(json.dumps(doc)).status_symbols("append")


def test_recursive_types_terminate() -> None:
    text = json.dumps({"protocol": "P", "types": [
        {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}],
        "messages": {"m": {"request": [{"name": "n", "type": "Node"}], "response": "null"}}})
    shape = Protocol.parse(text).requests["m"]
    assert shape == (("n", ("record", "Node", (("next", ("union", "null", ("ref", "Node"))),))),)


@pytest.mark.parametrize("text", [
    "", "not json", "[]", "{}", '{"protocol": "P", "messages": {"m": {}}}',
    '{"protocol": "P", "messages": {"m": {"request": [{"name": "x", "type": "Missing"}], '
    '"response": "null"}}}',
    '{"protocol": "P", "messages": {"m": {"request": [{"name": "x", "type": {"type": "map"}}], '
    '"response": "null"}}}',
    '{"protocol": "P", "messages": {"m": {"request": "oops", "response": "null"}}}',
    "[" * 100_000 + "]" * 100_000,
])
def test_unusable_protocol_texts_raise_handshake_error(text: str) -> None:
    with pytest.raises(HandshakeError):
        Protocol.parse(text)


def test_reference_schemas_encode_as_the_capture() -> None:
    """fastavro with the schemas from the text writes session 1's first batch exactly."""
    c2s = (FIXTURES / "session1.c2s.bin").read_bytes()
    out = io.BytesIO()
    batch = [{"headers": {"host": "peer", "seq": str(i)}, "body": f"event-{i}".encode()}
             for i in range(3)]
    fastavro.schemaless_writer(out, EVENTS_SCHEMA, batch)
    assert out.getvalue() == c2s[64:144]
    out = io.BytesIO()
    fastavro.schemaless_writer(out, EVENT_SCHEMA, batch[0])
    assert out.getvalue() == c2s[65:91]
    out = io.BytesIO()
    fastavro.schemaless_writer(out, STATUS_SCHEMA, "FAILED")
    assert out.getvalue() == b"\x02"


def test_a_protocol_that_expands_exponentially_is_refused_quickly() -> None:
    """Each record holds two of the previous one: 2**60 nodes if expanded blindly."""
    types = [{"type": "record", "name": "T0", "fields": [{"name": "x", "type": "int"}]}]
    types += [{"type": "record", "name": f"T{i}", "fields": [{"name": "a", "type": f"T{i - 1}"},
                                                            {"name": "b", "type": f"T{i - 1}"}]}
              for i in range(1, 61)]
    message = {"request": [{"name": "t", "type": "T60"}], "response": "null"}
    text = json.dumps({"protocol": "P", "types": types, "messages": {"m": message}})
    with pytest.raises(HandshakeError):
        Protocol.parse(text)
