"""Where a router puts a transaction no sink can ever deliver: its blobs do not decode.

Such a batch (a disk fault under a file channel, a bug) would otherwise be re-routed, rolled
back and taken again for ever, first in line, so that nothing behind it moves and every attempt
logs an error. Instead its bytes go to RUN_DIR/quarantine/ (0700), one file per transaction
(each blob as a 4-byte big-endian length and its bytes), and only then is it committed out of
the channel: it stops the flow once, with one ERROR line naming the file, and nothing of it is
thrown away.
"""
from __future__ import annotations

import os
import struct
import time
from typing import Any

from proto.messages import Txn

DIRECTORY = "quarantine"
_LENGTH = struct.Struct(">I")


def keep(run_dir: str, router: str, txn: Txn, blobs: list[Any]) -> str:
    """Write one transaction's blobs, durably; the file's path. OSError if it cannot be."""
    directory = os.path.join(run_dir, DIRECTORY)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, f"{router}-{time.strftime('%Y%m%dT%H%M%S')}-"
                                   f"{txn[0].hex()}-{txn[1]}.blobs")
    with open(path, "wb") as out:
        for blob in blobs:
            out.write(_LENGTH.pack(len(blob)))
            out.write(blob)
        out.flush()
        os.fsync(out.fileno())
    return path


def read(path: str) -> list[bytes]:
    """The blobs of a quarantine file, for whoever inspects or replays it."""
    with open(path, "rb") as handle:
        data = handle.read()
    blobs, at = [], 0
    while at < len(data):
        (size,) = _LENGTH.unpack_from(data, at)
        blobs.append(data[at + _LENGTH.size:at + _LENGTH.size + size])
        at += _LENGTH.size + size
    return blobs
