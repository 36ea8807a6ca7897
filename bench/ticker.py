"""Timestamped lines at a steady rate, as an exec source's command: `ticker.py RATE SECONDS`.

Each 100-byte line starts with the epoch time it was written, in microseconds (16 digits), and
its number (9 digits), so a reader of the collectors' file_roll output can tell each line's
latency and which lines are missing. Run as a script (not `-m`): Flume's exec source splits
its command on whitespace and runs it with the JVM's environment.
"""
from __future__ import annotations

import os
import sys
import time

WIDTH = 100


def line(number: int) -> bytes:
    """One line, stamped now: `TTTTTTTTTTTTTTTT NNNNNNNNN xxx...\\n`, WIDTH bytes in all."""
    head = f"{time.time_ns() // 1000:016d} {number:09d} ".encode()
    return head + b"x" * (WIDTH - 1 - len(head)) + b"\n"


def write(rate: float, seconds: float) -> None:
    """Write every line when it falls due, each with its own write time; never burst ahead."""
    out, start, total = sys.stdout.buffer, time.monotonic(), int(rate * seconds)
    number = 0
    while number < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        while number < due:
            out.write(line(number))
            number += 1
        out.flush()
        time.sleep(max(0.0, start + number / rate - time.monotonic()))


def main() -> None:
    parent = os.getppid()
    write(float(sys.argv[1]), float(sys.argv[2]))
    # Stay alive like `tail -F` so an exec source never restarts us, but leave once orphaned
    # (a killed JVM does not kill its exec child).
    while os.getppid() == parent:
        time.sleep(0.5)


if __name__ == "__main__":
    main()
