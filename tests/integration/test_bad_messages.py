"""Malformed and wrong-version internal messages on every ZeroMQ socket of an agent."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgpack
import zmq

from proto import messages
from tests.integration.harness import BIN, Agent, lines_in, wait_for

TOTAL = 3000
CONF = f"""
a.sources = s
a.channels = c
a.sinks = k
a.sources.s.type = seq
a.sources.s.totalEvents = {TOTAL}
a.sources.s.batchSize = 10
a.sources.s.channels = c
a.channels.c.type = memory
a.channels.c.capacity = 100
a.channels.c.transactionCapacity = 10
a.sinks.k.type = file_roll
a.sinks.k.channel = c
a.sinks.k.sink.directory = out
a.sinks.k.sink.rollInterval = 0
a.sinks.k.sink.batchSize = 10
"""
INC = b"intruder"
V, Op = messages.VERSION, messages.Op
GARBAGE = [
    [b"\xc1\xc1not msgpack"],
    [msgpack.packb([99, Op.PING, INC, 1])],  # a version we do not speak
    [msgpack.packb([V, 99, INC, 1])],  # an op nobody defines
    [msgpack.packb([V, Op.COMMIT, INC, 1, "nope"])],  # wrong shape
    [msgpack.packb([V, Op.PUT, INC, 1, INC, 1, [1], [1], False, 0.0])],  # no blob lengths, frame
    [msgpack.packb([V, Op.DELIVER, INC, 1, 1, INC, [1], [1], 0.0, 0]),  # a frame, no lengths
     b"\x93garbage"],
    [b""],
]


def test_every_socket_refuses_bad_messages_and_keeps_working(tmp_path: Path,
                                                             agents: list[Agent]) -> None:
    """When every internal socket (channel, ctl of each process, sink deliveries, router
    results) receives garbage, wrong versions and wrong shapes, each process stays up (same pid),
    answers requests with an ERROR, counts what it refused, and every event is delivered."""
    agent = Agent(tmp_path, "a", CONF).start()
    agents.append(agent)
    pids = {name: agent.pid(name) for name in ("s", "c", "k", "k-router")}
    ctx = zmq.Context()
    try:
        errors = [_request(ctx, zmq.REQ, agent.run_dir / f"{name}.ctl")
                  for name in ("s", "c", "k", "k-router")]
        errors.append(_request(ctx, zmq.DEALER, agent.run_dir / "c.chan"))
        _push(ctx, agent.run_dir / "k.deliver")
        _push(ctx, agent.run_dir / "k-router.results")
    finally:
        ctx.destroy(linger=0)
    assert [len(reasons) for reasons in errors] == [len(GARBAGE)] * len(errors), errors
    assert {"BAD_VERSION", "UNKNOWN_OP", "MALFORMED"} <= {r for rs in errors for r in rs}
    got = wait_for(lambda: len(n := lines_in(tmp_path / "out")) >= TOTAL and n, 60,
                   "every event at the sink")
    assert sorted(set(got)) == list(range(TOTAL))
    assert {name: agent.pid(name) for name in pids} == pids
    counts = _refused_counts(agent)
    assert all(counts[key] >= len(GARBAGE) - 1 for key in counts), counts


def _request(ctx: zmq.Context, kind: int, path: Path) -> list[str]:
    """Send each bad message as a request; the ERROR reasons that came back."""
    reasons = []
    for frames in GARBAGE:
        sock = ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"ipc://{path}")
        sock.send_multipart(([b""] if kind == zmq.DEALER else []) + frames)
        if sock.poll(3000):
            reply = sock.recv_multipart()
            reply = reply[1:] if kind == zmq.DEALER else reply
            error = messages.parse(reply)
            assert isinstance(error, messages.Error), error
            reasons.append(error.reason)
        sock.close(linger=0)
    return reasons


def _push(ctx: zmq.Context, path: Path) -> None:
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(f"ipc://{path}")
    for frames in GARBAGE:
        sock.send_multipart(frames)
    sock.close()


def _refused_counts(agent: Agent) -> dict[str, int]:
    out = subprocess.run([str(BIN / "zflume"), "status", "--json", "--run-dir", str(agent.run_dir)],
                         capture_output=True, text=True, check=True).stdout
    return {key: int(report.get("MalformedMessageCount", 0))
            for key, report in json.loads(out).items()}
