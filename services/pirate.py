"""Request clients that survive a dead or restarted peer (the ZeroMQ Guide's Lazy Pirate).

`Client` keeps several requests in flight over a DEALER socket, each with its own deadline.
When any deadline passes, the socket is closed with LINGER 0, a fresh one is connected and every
outstanding request is sent again in order: every request of the internal protocol is safe to
repeat (a PUT carries its batch sequence, a COMMIT of a committed transaction answers OK).

`Pinger` is the heartbeat: one PING at a time over REQ; any reply is a sign of life, a missing
one recreates the socket. Heartbeats never use a queueing socket, so a peer that comes back is
not flooded with stale pings.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable

import zmq

from proto import messages
from proto.errors import ProtocolError
from services.process import Process, send_frames, waiting_messages


@dataclass
class Pending:
    """One request awaiting its reply; `context` is whatever the caller needs back."""

    rid: int
    frames: list[Any]
    timeout_s: float
    deadline: float
    context: Any


ReplyHandler = Callable[[messages.Message, Pending], None]  # a reply, or the ERROR for it


class Client:
    """A DEALER to one ROUTER peer with Lazy Pirate retries of every outstanding request."""

    def __init__(self, proc: Process, address: str, on_reply: ReplyHandler, label: str) -> None:
        self.proc = proc
        self.address = address
        self.on_reply = on_reply
        self.label = label
        self.pending: dict[int, Pending] = {}
        self._rids = itertools.count(1)
        self._sock = self._connect()
        self.peer_up = True
        self.last_reply = self.proc.now()
        proc.every(0.05, self._check_deadlines)

    def request(self, msg: messages.Request, timeout_s: float, context: Any = None) -> int:
        """Send one request (its `rid` is set here); its reply, after however many resends,
        is handled once by `on_reply`."""
        rid = msg.rid = next(self._rids)
        frames = [b"", *msg.frames(self.proc.inc)]
        self.pending[rid] = Pending(rid, frames, timeout_s, self.proc.now() + timeout_s, context)
        send_frames(self._sock, frames)
        return rid

    def _connect(self) -> zmq.Socket:
        sock = self.proc.socket(zmq.DEALER, connect=self.address)
        self.proc.on(sock, self._on_readable)
        return sock

    def _on_readable(self, sock: zmq.Socket) -> None:
        for frames in waiting_messages(sock):
            self._dispatch(frames)

    def _dispatch(self, frames: list[Any]) -> None:
        try:
            _, body = messages.split_envelope(frames)
            msg = messages.parse(body)
        except ProtocolError as exc:
            self.proc.refused(exc, self.label)
            return
        pending = self.pending.pop(messages.rid_of(msg), None)
        if pending is None:
            return  # the answer to a request we already re-sent and got answered: stale
        self.last_reply = self.proc.now()
        if not self.peer_up:
            self.peer_up = True
            self.proc.log.info("%s answers again", self.label)
        self.on_reply(msg, pending)

    def _check_deadlines(self) -> None:
        now = self.proc.now()
        if not any(p.deadline <= now for p in self.pending.values()):
            return
        if self.peer_up:
            self.peer_up = False
            self.proc.log.warning("%s did not answer; reconnecting and resending %d request(s)",
                                  self.label, len(self.pending))
        self.proc.off(self._sock)
        self._sock.close(linger=0)
        self._sock = self._connect()
        for pending in sorted(self.pending.values(), key=lambda p: p.rid):
            pending.deadline = now + pending.timeout_s
            send_frames(self._sock, pending.frames)

    def forget(self, rid: int) -> None:
        """Stop retrying a request whose answer no longer matters."""
        self.pending.pop(rid, None)

    def close(self) -> None:
        self.proc.off(self._sock)
        self._sock.close(linger=0)


class Pinger:
    """Heartbeats one peer's ctl socket; reports each PONG and each missed beat."""

    def __init__(self, proc: Process, address: str, interval_s: float,
                 on_pong: Callable[[messages.Pong], None], on_miss: Callable[[], None]) -> None:
        self.proc = proc
        self.address = address
        self.on_pong = on_pong
        self.on_miss = on_miss
        self._rids = itertools.count(1)
        self._sock: zmq.Socket | None = None
        self._rid = 0
        self._sent_at = 0.0
        self.interval_s = interval_s
        proc.every(interval_s, self._beat)

    def _beat(self) -> None:
        if self._sock is not None:  # the previous ping went unanswered for a whole interval
            self._drop()
            self.on_miss()
        self._sock = self.proc.socket(zmq.REQ, connect=self.address)
        self.proc.on(self._sock, self._on_readable)
        self._rid = next(self._rids)
        self._sock.send_multipart(messages.Ping(rid=self._rid).frames(self.proc.inc))

    def _drop(self) -> None:
        if self._sock is not None:
            self.proc.off(self._sock)
            self._sock.close(linger=0)
            self._sock = None

    def _on_readable(self, sock: zmq.Socket) -> None:
        frames = sock.recv_multipart()
        self._drop()
        try:
            msg = messages.parse(frames)
        except ProtocolError as exc:
            self.proc.refused(exc, "heartbeat")
            self.on_miss()
            return
        if isinstance(msg, messages.Pong) and msg.rid == self._rid:
            self.on_pong(msg)
        else:
            self.on_miss()

    def close(self) -> None:
        self._drop()
