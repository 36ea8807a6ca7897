"""A numbered-line writer for tests: `numbers.py COUNT RATE` prints 0..COUNT-1, RATE lines/s."""
from __future__ import annotations

import sys
import time


def main() -> None:
    count, rate = int(sys.argv[1]), float(sys.argv[2])
    start = time.monotonic()
    out = sys.stdout
    for i in range(count):
        out.write(f"{i}\n")
        if i % 50 == 49:
            out.flush()
            lag = start + (i + 1) / rate - time.monotonic()
            if lag > 0:
                time.sleep(lag)
    out.flush()
    time.sleep(3600)  # stay alive like `tail -F`, so exec's restart never re-sends the numbers


if __name__ == "__main__":
    main()
