"""The fast array<AvroFlumeEvent> codec, with fastavro as the oracle."""
from __future__ import annotations

import io
import random

import fastavro
import pytest

from proto.avro import MalformedFrame
from proto.avro.binary import encode_bytes, encode_long, encode_string
from proto.avro.codec import (
    decode_events,
    encode_event,
    encode_events,
    scan_event,
    scan_events,
)
from proto.avro.protocol import EVENT_SCHEMA, EVENTS_SCHEMA

WORDS = ["host", "seq", "", "k", "ключ", "日本語", "emoji 🎉", "x" * 70, "v" * 9000]


def fast_write(schema: dict, value: object) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, value)
    return out.getvalue()


def fast_read(schema: dict, data: bytes) -> object:
    return fastavro.schemaless_reader(io.BytesIO(data), schema)


def random_batch(rng: random.Random) -> tuple[list[dict[str, str]] | None, list[bytes]]:
    """Bodies of 0 to 20000 bytes (1-, 2- and 3-byte lengths); headers None, shared, or varied."""
    n = rng.choice([0, 1, 2, 17, 300])
    bodies = [rng.randbytes(rng.choice([0, 1, 63, 64, 100, 8191, 8192, 20000])) for _ in range(n)]
    kind = rng.choice(["none", "shared", "equal", "varied", "some-empty"])
    if kind == "none":
        return None, bodies
    shared = {rng.choice(WORDS): rng.choice(WORDS) for _ in range(3)}
    headers = {
        "shared": lambda: [shared] * n,
        "equal": lambda: [dict(shared) for _ in range(n)],
        "varied": lambda: [{**shared, "seq": str(i), rng.choice(WORDS): rng.choice(WORDS)}
                           for i in range(n)],
        "some-empty": lambda: [rng.choice([{}, shared]) for _ in range(n)],
    }[kind]()
    return headers, bodies


def as_records(headers: list[dict[str, str]] | None, bodies: list[bytes]) -> list[dict]:
    return [{"headers": h or {}, "body": b} for h, b in zip(headers or [{}] * len(bodies), bodies)]


def expected_headers(headers: list[dict[str, str]] | None) -> list[dict[str, str]] | None:
    return headers if headers and any(headers) else None


@pytest.mark.parametrize("seed", range(40))
def test_random_batches_match_fastavro_both_ways(seed: int) -> None:
    rng = random.Random(seed)
    headers, bodies = random_batch(rng)
    ours = encode_events(headers, bodies)
    assert ours == fast_write(EVENTS_SCHEMA, as_records(headers, bodies))
    assert fast_read(EVENTS_SCHEMA, ours) == as_records(headers, bodies)
    tail = rng.randbytes(5)
    expected = (expected_headers(headers), bodies, 3 + len(ours))
    assert decode_events(b"pre" + ours + tail, 3) == expected


@pytest.mark.parametrize("seed", range(10))
def test_single_events_match_fastavro(seed: int) -> None:
    rng = random.Random(seed)
    headers = {rng.choice(WORDS): rng.choice(WORDS) for _ in range(rng.randint(0, 4))}
    body = rng.randbytes(rng.choice([0, 5, 300]))
    ours = encode_event(headers, body)
    assert ours == fast_write(EVENT_SCHEMA, {"headers": headers, "body": body})
    assert scan_event(ours + b"\x00") == (len(body), len(ours))
    assert decode_events(b"\x02" + ours + b"\x00") == ([headers] if headers else None, [body],
                                                       len(ours) + 2)


def block(items: list[bytes], negative: bool) -> bytes:
    """One array/map block; negative: count < 0, then the block's byte size."""
    content = b"".join(items)
    if negative:
        return encode_long(-len(items)) + encode_long(len(content)) + content
    return encode_long(len(items)) + content


def encoded_map(pairs: list[tuple[str, str]], blocks: int, negative: bool) -> bytes:
    entries = [encode_string(k) + encode_string(v) for k, v in pairs]
    size = -(-len(entries) // blocks) if entries else 1
    parts = [block(entries[i:i + size], negative) for i in range(0, len(entries), size)]
    return b"".join(parts) + b"\x00"


@pytest.mark.parametrize("negative", [False, True])
def test_multi_block_arrays_and_maps(negative: bool) -> None:
    """Writers other than Java's may cut arrays and maps into several, negative-count, blocks."""
    rng = random.Random(3)
    items, expected = [], []
    for i in range(50):
        pairs = [(f"k{j}", rng.choice(WORDS)) for j in range(rng.randint(0, 5))]
        body = rng.randbytes(rng.randint(0, 200))
        items.append(encoded_map(pairs, rng.randint(1, 3), negative) + encode_bytes(body))
        expected.append({"headers": dict(pairs), "body": body})
    data = b"".join(block(items[i:i + 7], negative) for i in range(0, 50, 7)) + b"\x00"
    assert fast_read(EVENTS_SCHEMA, data) == expected
    headers, bodies, end = decode_events(data)
    assert (as_records(headers, bodies), end) == (expected, len(data))


def test_events_sharing_a_map_on_the_wire_get_a_dict_each() -> None:
    """Interceptors set headers in place, so a shared wire map must not become a shared dict."""
    shared = {"host": "peer"}
    headers, _, _ = decode_events(encode_events([shared, shared, {}], [b"a", b"b", b"c"]))
    assert headers == [shared, shared, {}]
    headers[0]["ts"] = "1"
    assert headers[1] == {"host": "peer"}
    assert len({id(h) for h in headers}) == 3


def test_encoder_reuses_the_previous_map_only_when_equal() -> None:
    first, second = {"a": "1"}, {"a": "2"}
    headers = [first, first, dict(first), second, first]
    data = encode_events(headers, [b""] * 5)
    assert decode_events(data)[0] == headers


def test_headers_must_match_bodies() -> None:
    with pytest.raises(ValueError):
        encode_events([{}], [b"a", b"b"])


@pytest.mark.parametrize("seed", range(5))
def test_every_truncation_is_malformed(seed: int) -> None:
    rng = random.Random(seed)
    headers = [{"host": "peer", "seq": str(i), "ü": "ß" * 70} for i in range(4)]
    bodies = [rng.randbytes(rng.choice([3, 150])) for _ in range(4)]
    for data in (encode_events(headers, bodies), encode_events(None, bodies)):
        for cut in range(len(data)):
            with pytest.raises(MalformedFrame):
                decode_events(data[:cut])
            with pytest.raises(MalformedFrame):
                scan_events(data[:cut])
    single = encode_event(headers[0], b"body")
    for cut in range(len(single)):
        with pytest.raises(MalformedFrame):
            scan_event(single[:cut])


def test_random_garbage_is_malformed_or_decodes_never_anything_else() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        data = rng.randbytes(rng.randint(0, 64))
        try:
            decode_events(data)
        except MalformedFrame:
            pass


@pytest.mark.parametrize("data", [
    encode_long(2**62),                                 # an array block of 2**62 events
    encode_long(-(2**62)) + encode_long(10),            # the same as a negative block
    encode_long(1) + encode_long(2**40),                # a map block of 2**40 entries
    encode_long(1) + b"\x00" + encode_long(2**60),      # a body of 2**60 bytes
    encode_long(1) + b"\x00" + encode_long(-1),         # a negative body length
    encode_long(2) + b"\x00" + encode_long(100) + b"x" * 40,  # bodies past the end
    encode_long(2) + b"\x00\x02x\x00" + encode_long(-70),   # a negative 2-byte body length
    encode_long(1) + encode_long(1) + encode_long(-3),  # a negative key length
    encode_long(-1) + encode_long(-5),                  # a negative block byte size
    b"\xff" * 11,                                       # an 11-byte varint
    encode_long(1) + encode_long(1) + b"\x02\xff" + b"\x00\x00\x00\x00",  # a key that is not UTF-8
])
def test_hostile_lengths_are_refused_without_allocating(data: bytes) -> None:
    with pytest.raises(MalformedFrame):
        decode_events(data + b"\x00" * 8)
    with pytest.raises(MalformedFrame):
        scan_events(data + b"\x00" * 8)


def scan_or_error(data: bytes) -> tuple[int, int, int] | str:
    try:
        count, nbytes, _, end = scan_events(data)
    except MalformedFrame:
        return "malformed"
    return count, nbytes, end


def decode_counts_or_error(data: bytes) -> tuple[int, int, int] | str:
    try:
        _, bodies, end = decode_events(data)
    except MalformedFrame:
        return "malformed"
    return len(bodies), sum(map(len, bodies)), end


@pytest.mark.parametrize("seed", range(20))
def test_the_scan_accepts_exactly_what_decoding_accepts(seed: int) -> None:
    """What a collector relays undecoded must decode at the next hop: good, cut and corrupted
    arrays get the same verdict, count, body bytes and end from both."""
    rng = random.Random(seed)
    headers, bodies = random_batch(rng)
    good = encode_events(headers, bodies)
    assert scan_events(good) == (len(bodies), sum(map(len, bodies)), len(good) - 1, len(good))
    for _ in range(50):
        bad = bytearray(good[:rng.randrange(1, len(good) + 1)])
        for _ in range(rng.choice([0, 1, 3])):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        assert scan_or_error(bytes(bad)) == decode_counts_or_error(bytes(bad))
