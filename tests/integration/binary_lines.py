"""`binary_lines.py COUNT SEED`: COUNT lines `N <random bytes>` (no \\n, no \\r) on stdout.

The bytes include every non-newline value, non-UTF-8 sequences and NULs, so a test can check
bodies survive every hop byte for byte; `expected_body` regenerates line N.
"""
from __future__ import annotations

import random
import sys
import time

ALPHABET = bytes(b for b in range(256) if b not in (10, 13))


def expected_body(number: int, seed: int) -> bytes:
    rng = random.Random(seed * 1_000_003 + number)
    return b"%d " % number + bytes(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 40)))


def main() -> None:
    count, seed = int(sys.argv[1]), int(sys.argv[2])
    out = sys.stdout.buffer
    for number in range(count):
        out.write(expected_body(number, seed) + b"\n")
    out.flush()
    time.sleep(3600)  # stay alive so exec never restarts it


if __name__ == "__main__":
    main()
