"""Event batch blobs in both forms: what one writes, every reader reads the same."""
from __future__ import annotations

import pytest

from proto import batch
from proto.avro import ClientConnection, ServerConnection
from proto.avro.codec import decode_events, encode_events

HEADERS = [{"host": "a"}, {}, {"host": "a"}]
BODIES = [b"one", b"", b"three" * 50]


def avro_blob(headers: batch.Headers, bodies: list[bytes]) -> bytes:
    return batch.from_avro(encode_events(headers, bodies))


@pytest.mark.parametrize("headers", [None, HEADERS])
def test_both_forms_decode_to_the_same_columns_from_bytes_and_views(
        headers: batch.Headers) -> None:
    for blob in (batch.encode(BODIES, headers), avro_blob(headers, BODIES)):
        assert batch.decode(blob) == batch.decode(memoryview(blob)) == (headers, BODIES)


@pytest.mark.parametrize("headers", [None, HEADERS])
def test_a_split_keeps_the_form_and_every_event(headers: batch.Headers) -> None:
    for blob in (batch.encode(BODIES, headers), avro_blob(headers, BODIES)):
        first, rest = batch.split(memoryview(blob), 1)
        assert first[:1] == rest[:1] == blob[:1]
        assert batch.merge([first, rest]) == (headers, BODIES)


def test_an_avro_array_joins_avro_blobs_as_they_are_and_encodes_msgpack_ones() -> None:
    avro = avro_blob(HEADERS[:2], BODIES[:2])
    msgpacked = batch.encode([b"four"], [{"k": "v"}])
    array = batch.avro_array([memoryview(avro), msgpacked, avro_blob(None, [])])
    assert array.startswith(avro[1:-1])  # relayed byte for byte
    assert decode_events(array) == ([*HEADERS[:2], {"k": "v"}], [*BODIES[:2], b"four"],
                                    len(array))
    assert batch.avro_array([]) == b"\x00"


@pytest.mark.parametrize("blob", [
    b"\xc1",                                    # no array at all
    b"\xc1\x04\x00\x02x",                       # two events announced, one there
    avro_blob(None, [b"x"]) + b"\x00",          # bytes after the array
    b"\xc1\x02\x02\x02\xff\x00\x00\x00",        # a header key that is not UTF-8
    b"\x93\x01\x02\x03",                        # msgpack, but not [headers, bodies]
])
def test_a_blob_that_does_not_decode_is_a_batch_error_for_every_reader(blob: bytes) -> None:
    with pytest.raises(batch.BatchError):
        batch.decode(blob)
    with pytest.raises(batch.BatchError):
        batch.avro_array([blob])


def test_arrays_with_a_padded_end_marker_join_into_one_valid_array() -> None:
    """Avro reads 80 00 as 0 too, so a writer may end an array so; cutting one byte off to
    join it with the next left a stray 80 that read as a block of 128 events."""
    padded = encode_events(None, BODIES)[:-1] + b"\x80\x00"
    assert decode_events(padded)[:2] == (None, BODIES)
    joined = batch.avro_array([batch.from_avro(padded), avro_blob(None, [b"last"])])
    headers, bodies, end = decode_events(joined)
    assert (headers, bodies, end) == (None, [*BODIES, b"last"], len(joined))


def test_a_collector_relays_a_padded_end_marker_as_the_one_byte_00() -> None:
    padded = encode_events(None, BODIES)[:-1] + b"\x80\x80\x00"
    _, data = ClientConnection().append_events(padded)
    _, calls = ServerConnection().feed(data)
    assert [(call.events, call.n) for call in calls] == [(encode_events(None, BODIES), 3)]
