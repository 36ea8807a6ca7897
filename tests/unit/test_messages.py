"""The internal wire format: round trips and refusals of bad input."""
from __future__ import annotations

import msgpack
import pytest

from proto import messages
from proto.errors import MalformedMessage, UnexpectedOp, UnknownOp, VersionMismatch
from proto.messages import VERSION, Op

INC = b"12345678"


def test_round_trip_keeps_fields_blobs_and_txns() -> None:
    frames = messages.Batch(txns=[(b"chan0001", 7), (b"chan0001", 8)], ns=[3, 5], parts=[1, 2],
                            unknown=[], rid=4, blobs=[b"a", b"b", b"c"]).frames(INC)
    msg = messages.parse(frames)
    assert isinstance(msg, messages.Batch)
    assert (msg.inc, msg.rid, msg.txns, msg.ns, msg.groups()) == (
        INC, 4, ((b"chan0001", 7), (b"chan0001", 8)), (3, 5), [[b"a"], [b"b", b"c"]])


def test_every_message_round_trips_with_its_rid_first_on_the_wire() -> None:
    """Each class's constructor and parsed view agree field by field; a request's rid is the
    header's first field, which is what an ERROR for an unreadable request echoes."""
    sent = [
        messages.Put(src=INC, seq=3, ns=[2], sizes=[4], delivered=True, until=12.5, rid=9,
                     blobs=[b"xy"]),
        messages.PutOk(seq=3, stored=1, rid=9),
        messages.Full(seq=3, stored=0, reason="full", rid=9),
        messages.Take(max=10, count=2, wait_ms=100, who="a-g", commit=[(INC, 1)], rid=9),
        messages.Batch(txns=[(INC, 1)], ns=[2], parts=[1], unknown=[], rid=9, blobs=[b"ab"]),
        messages.Empty(unknown=[], rid=9),
        messages.Renew(txns=[(INC, 1)], rid=9),
        messages.Commit(txns=[(INC, 1)], rid=9),
        messages.Rollback(txns=[(INC, 1)], rid=9),
        messages.Ok(unknown=[(INC, 2)], rid=9),
        messages.Deliver(fid=1, attempt=2, router=INC, ns=[1], parts=[1], stamp=1.5,
                         max_wait_ms=0, blobs=[b"z"]),
        messages.Result(fid=1, attempt=2, router=INC, done=[True], reason="", liveness=False,
                        malformed=[False]),
        messages.Ping(rid=9),
        messages.Pong(state=messages.PeerState.BUSY, elapsed_ms=5, healthy=True, why="", rid=9),
        messages.Stats(rid=9),
        messages.StatsReply(type="SINK", name="k", counters={"a": 1}, rid=9),
        messages.Error(reason="MALFORMED", detail="x", rid=9),
    ]
    assert {type(m).OP for m in sent} == set(Op)
    for msg in sent:
        frames = msg.frames(INC)
        back = messages.parse(frames)
        assert type(back) is type(msg) and back.inc == INC
        for name in msg.FIELDS:
            value, parsed = getattr(msg, name), getattr(back, name)
            assert (list(parsed) if isinstance(parsed, tuple) else parsed) == (
                [tuple(v) if isinstance(v, list) else v for v in value]
                if isinstance(value, list) else value), name
        if "rid" in msg.FIELDS:
            assert messages.request_id(frames) == 9


@pytest.mark.parametrize("frames, error", [
    ([], MalformedMessage),
    ([b"\xc1garbage"], MalformedMessage),
    ([msgpack.packb([VERSION - 1, Op.PING, INC, 1])], VersionMismatch),
    ([msgpack.packb([VERSION, 99, INC])], UnknownOp),
    ([msgpack.packb([VERSION, "PING", INC, 1])], UnknownOp),  # op names are not codes
    ([msgpack.packb([VERSION, Op.PING, INC, "x"])], MalformedMessage),
    ([msgpack.packb([VERSION, Op.PING, INC])], MalformedMessage),  # a field missing
    ([msgpack.packb([VERSION, Op.PING, INC, 1, 2])], MalformedMessage),  # one too many
    ([msgpack.packb([VERSION, Op.PING, "inc", 1])], MalformedMessage),
    ([msgpack.packb([VERSION, Op.COMMIT, INC, 1, [[1, 2]]])], MalformedMessage),
    ([msgpack.packb([VERSION, Op.PUT, INC, 1, INC, 1, [1], [1], False, 0.0, [1]])],
     MalformedMessage),  # no blob frame
    ([msgpack.packb([VERSION, Op.PUT, INC, 1, INC, 1, [1, 2], [1], False, 0.0, [1]]), b"x"],
     MalformedMessage),  # lists differ
    ([msgpack.packb([VERSION, Op.PUT, INC, 1, INC, 1, [1], [1], False, 0.0, [2]]), b"x"],
     MalformedMessage),  # lengths do not add up to the frame
    ([msgpack.packb([VERSION, Op.PUT, INC, 1, INC, 1, [-1], [1], False, 0.0, [1]]), b"x"],
     MalformedMessage),  # a negative count
    ([msgpack.packb([VERSION, Op.BATCH, INC, 1, [[INC, 1]], [1], [2], [], [1]]), b"x"],
     MalformedMessage),  # parts ask for more blobs than there are
    ([msgpack.packb([VERSION, Op.RESULT, INC, 1, 1, INC, [1], "", False, [False]])],
     MalformedMessage),  # done is not bools
    ([msgpack.packb([VERSION, Op.PONG, INC, 1, "ASLEEP", 0, True, ""])],
     MalformedMessage),  # a state that does not exist
    ([msgpack.packb([VERSION])], MalformedMessage),
    ([b"\x00" * (messages.MAX_HEADER_BYTES + 1)], MalformedMessage),
])
def test_bad_messages_raise_protocol_errors(frames, error) -> None:
    with pytest.raises(error):
        messages.parse(frames)


def test_error_reply_echoes_the_request_id() -> None:
    frames = [msgpack.packb([VERSION + 1, Op.PING, INC, 42])]
    with pytest.raises(VersionMismatch) as caught:
        messages.parse(frames)
    reply = messages.parse(messages.error_reply(INC, caught.value, messages.request_id(frames)))
    assert isinstance(reply, messages.Error)
    assert (reply.rid, reply.reason) == (42, "BAD_VERSION")


def test_an_unexpected_message_is_refused_with_its_own_reason() -> None:
    assert UnexpectedOp("PING on a channel").reason == "UNEXPECTED"
