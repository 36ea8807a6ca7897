"""The C heap of component processes: a freed message buffer serves the next message.

By default glibc serves every allocation of 128 KiB or more with a fresh mmap, and hands free
memory at the top of the heap back to the OS once it passes a threshold that follows the same
size. A component receives, holds and frees flights of 0.1-2 MiB all day, so each of them was
mapped, page-faulted in 4 KiB at a time and unmapped again: 12,000-63,000 page faults per second
per process at batch 5000, and more kernel time than Python time in the channels and routers.
With both thresholds raised the heap keeps such buffers for reuse; two tiers at batch 5000 went
from 2.1-2.4 to 1.3 µs of CPU per event for the fleet (docs/architecture.md 4). Peak RSS does
not change, as it is set by the flights alive at once; an idle process keeps at most
`TRIM_BYTES` of freed heap.
"""
from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger("zflume.heap")

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_BYTES = 32 << 20  # the largest glibc accepts on 64-bit; a bigger block is still mapped
TRIM_BYTES = 64 << 20
# A user who tunes glibc through its environment variables keeps their own setting.
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def reuse_freed_buffers() -> None:
    """Raise glibc's mmap and trim thresholds for this process (all its threads' arenas).
    Elsewhere (musl, macOS) the allocator's own defaults stay."""
    if any(name in os.environ for name in USER_SETTINGS):
        return
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return
    for param, value in ((M_MMAP_THRESHOLD, MMAP_BYTES), (M_TRIM_THRESHOLD, TRIM_BYTES)):
        if not mallopt(param, value):
            log.info("glibc refused mallopt(%d, %d): keeping its default", param, value)
