"""Dying with the parent: PR_SET_PDEATHSIG for children we start and for ourselves.

A process whose supervisor is gone (supervisord killed by the OOM killer, a kill -9 of the
command) must not run on as an orphan: it would hold its ports and files, and a restarted agent
would find them taken (docs/architecture.md 1).
"""
from __future__ import annotations

import ctypes
import os
from typing import Callable

PR_SET_PDEATHSIG = 1
# Loaded before any fork: dlopen in a forked child of a threaded process can deadlock.
_LIBC = ctypes.CDLL(None, use_errno=True)


def parent_death_signal(sig: int) -> Callable[[], None]:
    """A `preexec_fn` that makes the child receive `sig` when this process dies.

    Also covers the race where we die between fork and prctl: the child then exits at once.
    """
    parent = os.getpid()

    def arm() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:
            os._exit(1)
    return arm


def signal_on_parent_death(sig: int) -> int:
    """Have this process receive `sig` when its parent dies; returns the parent's pid, which
    `orphaned` compares against (the parent may have died before the prctl)."""
    _LIBC.prctl(PR_SET_PDEATHSIG, sig)
    return os.getppid()


def orphaned(parent: int) -> bool:
    """True once the parent we started under is gone (we were re-parented)."""
    return os.getppid() != parent
