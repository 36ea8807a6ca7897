"""`zflume status`: every component's counters, in the shape of Flume's /metrics JSON."""
from __future__ import annotations

import glob
import os

import zmq

from proto import messages
from proto.errors import ProtocolError
from services.counters import flume_json

TIMEOUT_MS = 1000


def ask(ctx: zmq.Context, address: str) -> messages.Message | None:
    """One STATS request with a deadline; None if the process does not answer."""
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    try:
        sock.send_multipart(messages.pack("STATS", messages.new_incarnation(), rid=1))
        if not sock.poll(TIMEOUT_MS):
            return None
        return messages.unpack(sock.recv_multipart())
    except ProtocolError:
        return None
    finally:
        sock.close(linger=0)


def collect(run_dir: str) -> dict[str, dict[str, str]]:
    """Counters of every process with a ctl socket in `run_dir`, keyed `TYPE.name`."""
    reports: dict[str, dict[str, object]] = {}
    ctx = zmq.Context()
    try:
        for path in sorted(glob.glob(os.path.join(os.path.abspath(run_dir), "*.ctl"))):
            reply = ask(ctx, f"ipc://{path}")
            if reply is not None and reply.op == "STATS_REPLY":
                reports[f"{reply['type']}.{reply['name']}"] = _flat(reply["counters"])
    finally:
        ctx.destroy(linger=0)
    return flume_json(reports)


def _flat(counters: dict, prefix: str = "") -> dict[str, object]:
    """Nested router details (`sinks.k1.down`) flattened to single attributes."""
    out: dict[str, object] = {}
    for key, value in counters.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
