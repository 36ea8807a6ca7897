"""The internal wire format: round trips and refusals of bad input."""
from __future__ import annotations

import msgpack
import pytest

from proto import messages
from proto.errors import MalformedMessage, UnknownOp, VersionMismatch

INC = b"12345678"


def test_round_trip_keeps_fields_blobs_and_txns() -> None:
    frames = messages.pack("BATCH", INC, [b"a", b"b", b"c"], rid=4,
                           txns=[(b"chan0001", 7), (b"chan0001", 8)], ns=[3, 5], parts=[1, 2],
                           unknown=[])
    msg = messages.unpack(frames)
    assert (msg.op, msg.inc, msg.txns, msg["ns"], msg.groups()) == (
        "BATCH", INC, [(b"chan0001", 7), (b"chan0001", 8)], [3, 5], [[b"a"], [b"b", b"c"]])


@pytest.mark.parametrize("frames, error", [
    ([], MalformedMessage),
    ([b"\xc1garbage"], MalformedMessage),
    ([msgpack.packb([1, "PING", INC, {"rid": 1}])], VersionMismatch),
    ([msgpack.packb([2, "LAUNCH", INC, {}])], UnknownOp),
    ([msgpack.packb([2, "PING", INC, {"rid": "x"}])], MalformedMessage),
    ([msgpack.packb([2, "COMMIT", INC, {"rid": 1, "txns": [[1, 2]]}])], MalformedMessage),
    ([msgpack.packb([2, "PUT", INC, {"rid": 1, "src": INC, "seq": 1, "ns": [1], "sizes": [1]}])],
     MalformedMessage),  # no batch frame
    ([msgpack.packb([2, "PUT", INC, {"rid": 1, "src": INC, "seq": 1, "ns": [1, 2],
                                     "sizes": [1]}]), b"x"], MalformedMessage),  # lists differ
    ([msgpack.packb([2, "BATCH", INC, {"rid": 1, "txns": [[INC, 1]], "ns": [1],
                                       "parts": [2]}]), b"x"], MalformedMessage),  # parts
    ([msgpack.packb([2, "RESULT", INC, {"fid": 1, "attempt": 1, "router": INC,
                                        "done": [1], "reason": "", "liveness": False}])],
     MalformedMessage),  # done is not bools
    ([msgpack.packb([2, "PING"])], MalformedMessage),
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
