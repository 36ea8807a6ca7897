"""Driving a channel process in-process: a stand-in for its ROUTER socket."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zmq

PEER = [b"peer-1", b""]


@dataclass
class Received:
    """What a received zmq.Frame offers: its bytes, a view of them, and whether more follow."""

    bytes: bytes
    more: bool

    @property
    def buffer(self) -> memoryview:
        return memoryview(self.bytes)


class Burst:
    """Hands out queued requests as from one peer, frame by frame, then zmq.Again, as a
    drained socket does; ZMQ_EVENTS says whether a request is left."""

    def __init__(self, requests: list[list[Any]]) -> None:
        self.requests = [[*PEER, *frames] for frames in requests]
        self.frames: list[Any] = []  # what is left of the message being read

    type = zmq.ROUTER

    def recv(self, flags: int = 0, copy: bool = True) -> Any:
        if not self.frames:
            if not self.requests:
                raise zmq.Again()
            self.frames = self.requests.pop(0)
        frame = self.frames.pop(0)
        return frame if copy else Received(frame, bool(self.frames))

    def get(self, option: int) -> int:
        assert option == zmq.EVENTS
        return int(zmq.POLLIN) if self.requests else 0
