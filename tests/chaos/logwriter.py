"""A logger for the chaos runs: `logwriter.py PATH COUNT RATE` appends "0\\n" .. "COUNT-1\\n" to
PATH at RATE lines/s through one O_APPEND descriptor, in slices every TICK_S, then exits.

A process of its own, so that the test's polling threads never slow the stream down.
"""
from __future__ import annotations

import os
import sys
import time

TICK_S = 0.02


def main() -> None:
    path, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    start, written = time.monotonic(), 0
    while written < count:
        due = min(count, int((time.monotonic() - start) * rate) + 1)
        if due > written:
            os.write(fd, "".join(f"{n}\n" for n in range(written, due)).encode())
            written = due
        time.sleep(TICK_S)
    os.close(fd)


if __name__ == "__main__":
    main()
