"""Stable event ids: `<origin>-<position>`, fixed before a batch's first put.

The origin is a short hash of host, agent and source names, so ids of different sources never
collide while the same source re-reading the same input after a crash produces the same ids.
"""
from __future__ import annotations

import hashlib
import socket


def origin(agent: str, source: str, host: str | None = None) -> str:
    """8 hex digits naming this source on this host."""
    host = socket.gethostname() if host is None else host
    text = "\0".join((host, agent, source)).encode("utf-8", "surrogateescape")
    return hashlib.blake2b(text, digest_size=4).hexdigest()
