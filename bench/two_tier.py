"""Two-tier benchmark: exec -> agent -> failover avro -> collectors -> file_roll.

    python -m bench.two_tier [--events N] [--runs R] [--settings NAME ...] [--flume]
                             [--latency] [--gaps]

For each setting of bench/topology.py (seed, batch100, batch1000, batch5000): the medians over R
runs of N 100-byte lines of events/s end to end (from the first arrival at a collector to the
last event), CPU µs per event of every process, of each agent and of the fleet (/proc utime +
stime in that window) and every process's peak RSS (VmHWM just before the stop). --latency adds
p50/p99 write -> file_roll latency at 1,000 lines/s, --gaps the longest pause in arrivals after
a kill -9 and a SIGSTOP of the active collector. --flume runs the same configs on real Apache
Flume 1.11.0 (bench/flume.py) and prints both side by side. Figures only, no assertions; they
are also merged into bench/results/two_tier.json, which `python -m bench.chart` draws.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from bench import measure
from bench.measure import Figures, FleetFactory
from bench.topology import COLLECTORS, SETTINGS, Setting, agent_conf, collector_conf, out_dir
from proto import accelerated
from tests.integration.harness import Agent, free_ports

RESULTS = Path(__file__).resolve().parent / "results" / "two_tier.json"
FAULTS = ("kill -9", "SIGSTOP")


def children_by_parent() -> dict[int, list[int]]:
    """Every process's children, from the ppid field of /proc/PID/stat."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children[int(stat.read_text().rsplit(")", 1)[1].split()[1])].append(
                int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
    return children


def component_of(pid: int) -> str | None:
    """The component a `zflume component` process runs, from its command line; None otherwise."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return args[args.index(b"--component") + 1].decode() if b"--component" in args else None


def zflume_processes(launcher: int) -> dict[str, int]:
    """The processes of one `zflume agent`: its components, then the launcher and supervisord.
    Not what exec sources run (cat, the ticker): that is the workload, for Flume as well."""
    children, found, others, todo = children_by_parent(), {}, {}, [launcher]
    while todo:
        pid = todo.pop()
        try:
            component = component_of(pid)
        except OSError:
            continue
        if component:
            found[component] = pid
        else:
            others["launcher" if pid == launcher else "supervisord"] = pid
            todo.extend(children[pid])
    return {**found, **others}  # components first: a kill -9 must reach them before supervisord


class ZflumeFleet:
    """The collectors and the agent, each a `zflume agent`: supervisord and one process per
    component."""

    def __init__(self, work: Path, command: str, s: Setting) -> None:
        base = free_ports(2)
        self.agents = [Agent(work, c, collector_conf(c, base + i, out_dir(work, c), s))
                       for i, c in enumerate(COLLECTORS)]
        self.agents.append(Agent(work, "x", agent_conf(command, base, s)))

    def start(self) -> None:
        for collector in self.agents[:-1]:
            collector.start()
        self.agents[-1].start(wait=False)  # the pipeline runs before supervisord says RUNNING

    def processes(self) -> dict[str, int]:
        return {f"{a.name}:{label}": pid for a in self.agents if a.proc
                for label, pid in zflume_processes(a.proc.pid).items()}

    def stop(self) -> None:
        for agent in reversed(self.agents):  # the agent first: no retries to stopped collectors
            agent.stop()


def engines(with_flume: bool) -> dict[str, FleetFactory]:
    """zflume, and real Flume when asked for and installed (else say why it is left out)."""
    found: dict[str, FleetFactory] = {"zflume": ZflumeFleet}
    if with_flume:
        from bench import flume
        reason = flume.missing()
        if reason:
            print(f"Flume column skipped: {reason}")
        else:
            found["flume"] = flume.FlumeFleet
    return found


def save(path: tuple[str, ...], figures: Figures) -> None:
    """Merge one result into RESULTS at `path`, so partial runs keep the others' figures."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = {**figures, "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def table(figures: dict[str, Figures]) -> list[str]:
    """Events/s, CPU µs per event and peak RSS per agent and for the fleet: a column per engine
    and, when both ran, zflume/flume."""
    names = list(figures)
    rows = [f"  {'':<22}" + "".join(f"{n:>12}" for n in names)
            + (f"{'zflume/flume':>14}" if len(names) == 2 else "")]
    lines = [("events/s", lambda f: f["events_per_s"], "{:,.0f}")]
    for key, label, fmt in (("cpu_us_per_event", "cpu µs/event", "{:.2f}"),
                            ("peak_rss_mib", "peak RSS MiB", "{:.0f}")):
        lines += [(f"{label} {tier}", lambda f, k=key, t=tier: f[k].get(t, 0.0), fmt)
                  for tier in ("x", *COLLECTORS, "fleet")]
    for label, get, fmt in lines:
        values = [get(figures[n]) for n in names]
        ratio = f"{values[0] / values[1]:>14.2f}" if len(values) == 2 and values[1] else ""
        rows.append(f"  {label:<22}" + "".join(f"{fmt.format(v):>12}" for v in values) + ratio)
    return rows


def process_rows(f: Figures) -> list[str]:
    """zflume's figures per process (Flume's are one JVM per agent, in the table already)."""
    cpu, rss = f["cpu_us_per_event"], f["peak_rss_mib"]
    by_tier: dict[str, list[str]] = defaultdict(list)
    helpers = ("launcher", "supervisord")  # last: they idle while the components work
    for label in sorted((k for k in cpu if ":" in k), key=lambda k: (k.endswith(helpers), k)):
        tier, program = label.split(":", 1)
        by_tier[tier].append(f"{program} {cpu[label]:.2f} µs {rss.get(label, 0.0):.0f} MiB")
    return [f"    {tier}: " + ", ".join(items) for tier, items in by_tier.items()]


def bench_setting(found: dict[str, FleetFactory], s: Setting, events: int, runs: int) -> None:
    """Median figures of `runs` runs of each engine at setting `s`, printed and saved. The
    engines take turns (zflume, Flume, zflume, ...) rather than running all of one first, so
    that the machine's drift over minutes weighs on both alike; each round's ratio is printed
    too, which shows how much of a difference is noise."""
    results: dict[str, list[Figures]] = {name: [] for name in found}
    failed: set[str] = set()
    for _ in range(runs):
        for name, factory in found.items():
            if name in failed:
                continue
            try:
                results[name].append(measure.throughput(factory, events, s))
            except (RuntimeError, AssertionError) as exc:  # stalled, or never started: go on
                print(f"{name} {s.name}: failed: {exc}")
                failed.add(name)
    figures = {name: measure.median(runs_of) for name, runs_of in results.items()
               if runs_of and name not in failed}
    for name, f in figures.items():
        save(("throughput", s.name, name),
             {**f, "events": events, "runs": runs, "setting": s.as_dict()})
    print(f"{s.name}: exec batch {s.batch}, avro/file_roll batch {s.sink_batch}, channels "
          f"{s.capacity}/{s.txn}; median of {runs} run(s) of {events:,} events")
    for row in table(figures) if figures else []:
        print(row)
    if len(figures) == 2:
        pairs = zip(*(results[name] for name in figures))
        print("  each round, zflume/flume: " + ", ".join(
            f"{a['events_per_s'] / b['events_per_s']:.2f}" for a, b in pairs))
    if "zflume" in figures:
        print("  zflume per process (cpu µs/event, peak RSS):")
        print("\n".join(process_rows(figures["zflume"])))


def bench_latency(found: dict[str, FleetFactory], rate: float, seconds: float) -> None:
    print(f"latency write -> file_roll, seed settings, {rate:,.0f} lines/s over {seconds:g} s "
          f"(after 2 s not counted), polled every 5 ms:")
    for name, factory in found.items():
        f = measure.latency(factory, rate, seconds, warmup=2.0)
        save(("latency", name), f)
        print(f"  {name:<7} p50 {f['p50_ms']:7.1f} ms  p99 {f['p99_ms']:7.1f} ms  max "
              f"{f['max_ms']:7.1f} ms  ({f['lines']:,} lines, {f['missing']:,} missing)")


def bench_gaps(found: dict[str, FleetFactory], rate: float, window: float) -> None:
    for fault in FAULTS:
        figures = {name: measure.failover_gap(factory, fault, rate, window)
                   for name, factory in found.items()}
        for name, f in figures.items():
            save(("gaps", fault, name), f)
        print(f"failover gap after {fault} of c1 at {rate:,.0f} lines/s: " + ", ".join(
            f"{name} {'' if f['resumed'] else '>= '}{f['longest_pause_s']:.2f} s"
            for name, f in figures.items()))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settings", nargs="*", choices=list(SETTINGS), default=list(SETTINGS),
                        help="throughput settings to run (none given: no throughput runs)")
    parser.add_argument("--flume", action="store_true", help="add real Flume's column")
    parser.add_argument("--latency", action="store_true", help="measure write -> file latency")
    parser.add_argument("--latency-rate", type=float, default=1000.0, help="lines/s")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--gaps", action="store_true", help="measure failover gaps")
    parser.add_argument("--gap-rate", type=float, default=20_000.0, help="lines/s")
    parser.add_argument("--gap-window", type=float, default=25.0,
                        help="seconds watched after the fault (Flume's avro request-timeout "
                             "is 20 s, so a frozen collector needs more than that)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    print(accelerated.describe())
    found = engines(args.flume)
    for name in args.settings:
        bench_setting(found, SETTINGS[name], args.events, args.runs)
    if args.latency:
        bench_latency(found, args.latency_rate, args.latency_seconds)
    if args.gaps:
        bench_gaps(found, args.gap_rate, args.gap_window)


if __name__ == "__main__":
    main()
