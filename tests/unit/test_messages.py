"""The internal wire format: round trips and refusals of bad input."""
from __future__ import annotations

import msgpack
import pytest

from proto import messages
from proto.errors import MalformedMessage, UnknownOp, VersionMismatch

INC = b"12345678"


def test_round_trip_keeps_fields_blobs_and_txn() -> None:
    frames = messages.pack("DELIVER", INC, [b"blob"], txn=(b"chan0001", 7), attempt=1,
                           router=INC, n=3, stamp=1.5, max_wait_ms=0)
    msg = messages.unpack(frames)
    assert (msg.op, msg.inc, msg.txn, msg["n"], msg.blobs) == (
        "DELIVER", INC, (b"chan0001", 7), 3, [b"blob"])


@pytest.mark.parametrize("frames, error", [
    ([], MalformedMessage),
    ([b"\xc1garbage"], MalformedMessage),
    ([msgpack.packb([2, "PING", INC, {"rid": 1}])], VersionMismatch),
    ([msgpack.packb([1, "LAUNCH", INC, {}])], UnknownOp),
    ([msgpack.packb([1, "PING", INC, {"rid": "x"}])], MalformedMessage),
    ([msgpack.packb([1, "COMMIT", INC, {"rid": 1, "txn": [1, 2]}])], MalformedMessage),
    ([msgpack.packb([1, "PUT", INC, {"rid": 1, "src": INC, "seq": 1, "n": 1, "nbytes": 1}])],
     MalformedMessage),  # no batch frame
    ([msgpack.packb([1, "PING"])], MalformedMessage),
    ([b"\x00" * (messages.MAX_HEADER_BYTES + 1)], MalformedMessage),
])
def test_bad_messages_raise_protocol_errors(frames, error) -> None:
    with pytest.raises(error):
        messages.unpack(frames)


def test_error_reply_echoes_the_request_id() -> None:
    frames = [msgpack.packb([9, "PING", INC, {"rid": 42}])]
    with pytest.raises(VersionMismatch) as caught:
        messages.unpack(frames)
    reply = messages.unpack(messages.error_reply(INC, caught.value, messages.request_id(frames)))
    assert (reply["rid"], reply["reason"]) == (42, "BAD_VERSION")
