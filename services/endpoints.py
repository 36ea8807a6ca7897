"""Where each process of an agent listens: the one function that names internal endpoints."""
from __future__ import annotations

import os

from proto.errors import ZflumeError

# sun_path is 108 bytes on Linux including the terminating NUL.
MAX_IPC_PATH = 107

ROLES = ("ctl", "chan", "deliver", "results")


class EndpointError(ZflumeError):
    """An endpoint the OS cannot bind, named so the user can shorten the run directory."""


def endpoint(run_dir: str, component: str, role: str) -> str:
    """`ipc://RUN_DIR/COMPONENT.ROLE`; raises EndpointError if the path is too long for the OS.

    Roles: `ctl` (every process: PING / STATS), `chan` (a channel's ROUTER), `deliver` (a sink's
    PULL), `results` (a router's PULL for sink results).
    """
    if role not in ROLES:
        raise ValueError(f"unknown endpoint role {role}")
    path = os.path.join(os.path.abspath(run_dir), f"{component}.{role}")
    if len(path.encode()) > MAX_IPC_PATH:
        raise EndpointError(f"ipc path too long for the OS ({len(path.encode())} > "
                            f"{MAX_IPC_PATH} bytes): {path}; use a shorter --run-dir")
    return f"ipc://{path}"
