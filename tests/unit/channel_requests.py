"""Driving a channel process in-process: a stand-in for its ROUTER socket."""
from __future__ import annotations

from typing import Any

import zmq

PEER = [b"peer-1", b""]


class Burst:
    """Hands out queued requests as from one peer, then zmq.Again, as a drained socket does."""

    def __init__(self, requests: list[list[Any]]) -> None:
        self.requests = [[*PEER, *frames] for frames in requests]

    def recv_multipart(self, flags: int = 0, copy: bool = True) -> list[Any]:
        if not self.requests:
            raise zmq.Again()
        return self.requests.pop(0)
