"""The agent's run directory: private (0700), one agent at a time, short enough for ipc paths."""
from __future__ import annotations

import fcntl
import os
import stat
from typing import IO


class RunDirError(Exception):
    """A run directory we must not or cannot use, with the reason."""


def prepare(path: str) -> str:
    """Create `path` 0700 if missing; refuse one that other users can read or enter."""
    path = os.path.abspath(path)
    os.makedirs(path, mode=0o700, exist_ok=True)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise RunDirError(f"run directory {path} is open to other users (mode {mode:o}); "
                          f"it holds the agent's sockets: chmod 700 it or pick another")
    return path


def lock(path: str) -> IO[str]:
    """Hold the run directory for this agent; the returned file must stay open while it runs."""
    handle = open(os.path.join(path, "agent.lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise RunDirError(f"run directory {path} is in use by another agent") from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
