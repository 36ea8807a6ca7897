"""The agent's run directory: private (0700), one agent at a time, short enough for ipc paths.

It holds every component's ipc sockets and supervisord's control socket, so another user who
can enter it could inject events or stop the agent: it must be ours and closed to others.
"""
from __future__ import annotations

import fcntl
import os
import stat
from typing import IO

from proto.errors import ZflumeError
from services.endpoints import MAX_IPC_PATH

SUPERVISOR_SOCKET = "supervisor.sock"  # as deploy.render names it


class RunDirError(ZflumeError):
    """A run directory we must not or cannot use, with the reason."""


def prepare(path: str) -> str:
    """Create `path` 0700 if missing; refuse one that is not ours or that others can enter."""
    path = os.path.abspath(path)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.stat(path)
    except OSError as exc:
        raise RunDirError(f"cannot create run directory {path}: {exc}") from exc
    if info.st_uid != os.getuid():
        raise RunDirError(f"run directory {path} belongs to another user (uid {info.st_uid})")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise RunDirError(f"run directory {path} is open to other users (mode {mode:o}); "
                          f"it holds the agent's sockets: chmod 700 it or pick another")
    return path


def check_control_socket(path: str) -> str:
    """supervisord's unix socket path in `path`; RunDirError if the OS cannot bind it."""
    sock = os.path.join(os.path.abspath(path), SUPERVISOR_SOCKET)
    if len(sock.encode()) > MAX_IPC_PATH:
        raise RunDirError(f"socket path too long for the OS ({len(sock.encode())} > "
                          f"{MAX_IPC_PATH} bytes): {sock}; use a shorter --run-dir")
    return sock


def lock(path: str) -> IO[str]:
    """Hold the run directory for this agent; the returned file must stay open while it runs."""
    handle = open(os.path.join(path, "agent.lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        holder = _holder(handle)
        handle.close()
        raise RunDirError(f"run directory {path} is in use by another agent{holder}") from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _holder(handle: IO[str]) -> str:
    """` (pid N)` from the lock file, for the message; empty if it cannot be read."""
    handle.seek(0)
    pid = handle.read().strip()
    return f" (pid {pid})" if pid.isdigit() else ""
