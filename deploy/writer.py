"""The demo's line writer: appends `line N` to a file every 100 ms, forever."""
from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.path)), exist_ok=True)
    number = 0
    with open(args.path, "a", buffering=1) as out:
        while True:
            number += 1
            out.write(f"line {number} written at {time.strftime('%H:%M:%S')}\n")
            time.sleep(args.interval)


if __name__ == "__main__":
    main()
