"""`zflume status`: every component's counters, in the shape of Flume's /metrics JSON."""
from __future__ import annotations

import glob
import os
import time

import zmq

from proto import messages
from proto.errors import ProtocolError
from services.counters import flume_json

TIMEOUT_MS = 1000


def ask_all(ctx: zmq.Context, addresses: list[str]) -> dict[str, messages.StatsReply | None]:
    """One STATS request to each address at once, one deadline for all: a component that does
    not answer (frozen, restarting) costs TIMEOUT_MS once, not once per component; a reply that
is not a STATS_REPLY is None."""
    socks: dict[zmq.Socket, str] = {}
    for address in addresses:
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        sock.send_multipart(messages.Stats(rid=1).frames(messages.new_incarnation()))
        socks[sock] = address
    replies: dict[str, messages.StatsReply | None] = {}
    poller = zmq.Poller()
    for sock in socks:
        poller.register(sock, zmq.POLLIN)
    deadline = time.monotonic() + TIMEOUT_MS / 1000.0
    try:
        while len(replies) < len(socks) and (left := deadline - time.monotonic()) > 0:
            for sock, _ in poller.poll(max(1, int(left * 1000))):
                poller.unregister(sock)
                try:
                    reply = messages.parse(sock.recv_multipart())
                except ProtocolError:
                    reply = None
                replies[socks[sock]] = reply if isinstance(reply, messages.StatsReply) else None
    finally:
        for sock in socks:
            sock.close(linger=0)
    return replies


def ctl_addresses(run_dir: str) -> list[str]:
    return [f"ipc://{path}" for path in
            sorted(glob.glob(os.path.join(os.path.abspath(run_dir), "*.ctl")))]


def collect(run_dir: str) -> dict[str, dict[str, str]]:
    """Counters of every process with a ctl socket in `run_dir`, keyed `TYPE.name`."""
    reports: dict[str, dict[str, object]] = {}
    ctx = zmq.Context()
    try:
        for reply in ask_all(ctx, ctl_addresses(run_dir)).values():
            if reply is not None:
                reports[f"{reply.type}.{reply.name}"] = _flat(reply.counters)
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
