"""Throughput against batch size, zflume beside real Flume, from bench.two_tier's saved figures.

    python -m bench.chart [--results FILE.json] [--out FILE.png]   (bench/results/ by default)

Needs matplotlib (bench/requirements.txt, `make bench-deps`). Draws one line per engine that has
figures: events/s end to end at each setting, placed at its exec batch size on a log axis (the
seed, exec 20 / avro 100, at 20). Each point is the median two_tier saved; the legend says how
many events and runs it is a median of, so a smoke run is never mistaken for the real one.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a benchmark machine
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullLocator, StrMethodFormatter  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "two_tier.json"  # two_tier writes it
STYLE = {"zflume": "o-", "flume": "s--"}


def series(results: dict, engine: str) -> list[tuple[int, float, str]]:
    """(exec batch, events/s, setting name) of every setting `engine` has figures for, with
    Flume's acknowledgement (the `ack = delivered` settings are a cost, not a batch size)."""
    points = [(f["setting"]["batch"], f["events_per_s"], name)
              for name, engines in results.get("throughput", {}).items()
              if (f := engines.get(engine)) and f["setting"].get("ack", "channel") == "channel"]
    return sorted(points)


def basis(results: dict, engine: str) -> str:
    """'N events x R runs' behind the engine's figures, or 'mixed runs' when they differ."""
    runs = {f"{f['events']:,} events x {f['runs']} runs"
            for engines in results.get("throughput", {}).values() if (f := engines.get(engine))}
    return runs.pop() if len(runs) == 1 else "mixed runs"


def draw(results: dict, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for engine, style in STYLE.items():
        points = series(results, engine)
        if not points:
            continue
        xs, ys, names = zip(*points)
        ax.plot(xs, ys, style, label=f"{engine} ({basis(results, engine)})")
        for x, y, name in points:
            ax.annotate(f"{y:,.0f}", (x, y), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xticks([20, 100, 1000, 5000], ["seed\n20 / 100", "100", "1000", "5000"])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel("batch size (exec batchSize; seed: exec 20, avro and file_roll 100)")
    ax.set_ylabel("events/s end to end")
    ax.set_ylim(bottom=0)
    ax.set_title("two-tier failover, exec cat -> agent -> avro -> collector -> file_roll")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=RESULTS.with_name("throughput.png"))
    args = parser.parse_args()
    if not args.results.exists():
        raise SystemExit(f"no figures at {args.results}: run python -m bench.two_tier first")
    draw(json.loads(args.results.read_text()), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
