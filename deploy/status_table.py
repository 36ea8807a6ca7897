"""`zflume status` as a table: one row per program, what supervisord says of it and what it
says of itself, events per second from two samples, channel fill as a bar, and each sink
group's active sink and penalties. `--watch` redraws it in place, like `top`."""
from __future__ import annotations

import os
import time
import xmlrpc.client
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from supervisor.xmlrpc import SupervisorTransport

from deploy import status
from services import rundir

# counter of events coming in, and going out, by Flume type
FLOWS = {"SOURCE": ("EventReceivedCount", "EventAcceptedCount"),
         "CHANNEL": ("EventPutSuccessCount", "EventTakeSuccessCount"),
         "SINK": ("EventDrainAttemptCount", "EventDrainSuccessCount"),
         "SINK_GROUP": ("", "EventDeliveredCount")}
BAR_WIDTH = 10


@dataclass
class Sample:
    at: float
    reports: dict[str, dict[str, str]]  # `TYPE.name` -> counters
    programs: list[dict[str, Any]]  # supervisord's getAllProcessInfo


def sample(run_dir: str) -> Sample:
    return Sample(time.monotonic(), status.collect(run_dir), supervised(run_dir))


def supervised(run_dir: str) -> list[dict[str, Any]]:
    """supervisord's view of its programs; [] when it does not answer."""
    url = f"unix://{os.path.join(os.path.abspath(run_dir), rundir.SUPERVISOR_SOCKET)}"
    try:
        with xmlrpc.client.ServerProxy("http://127.0.0.1",
                                       transport=SupervisorTransport(None, None, url)) as proxy:
            infos = proxy.supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error):
        return []
    return [info for info in infos if isinstance(info, dict)] if isinstance(infos, list) else []


def _program_of(key: str, programs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The program of report `TYPE.name`: `AGENT-name` (or `AGENT-name.kind`)."""
    kind, name = key.split(".", 1)
    kinds = {"SOURCE": "source", "CHANNEL": "channel", "SINK": "sink", "SINK_GROUP": "router"}
    for info in programs:
        if info["name"].endswith((f"-{name}", f"-{name}.{kinds.get(kind, '')}")):
            return info
    return None


def _rate(key: str, counter: str, first: Sample, last: Sample) -> str:
    if not counter:
        return ""
    before = first.reports.get(key, {}).get(counter)
    after = last.reports.get(key, {}).get(counter)
    elapsed = last.at - first.at
    if before is None or after is None or elapsed <= 0:
        return "-"
    return f"{max(0, int(after) - int(before)) / elapsed:,.0f}"


def _uptime(info: dict[str, Any] | None) -> str:
    if info is None or info["statename"] != "RUNNING":
        return "-"
    seconds = max(0, int(info["now"]) - int(info["start"]))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _detail(kind: str, report: dict[str, str]) -> str:
    """A channel's fill as a bar; a group's active sink and penalised sinks."""
    if kind == "CHANNEL":
        fill = float(report.get("ChannelFillPercentage", "0"))
        full = round(fill / 100 * BAR_WIDTH)
        return (f"{'#' * full}{'.' * (BAR_WIDTH - full)} {fill:5.1f}% "
                f"{report.get('ChannelSize', '?')}/{report.get('ChannelCapacity', '?')}")
    if kind == "SINK_GROUP":
        parts = [f"{report.get('processor', '')}"]
        if report.get("active") not in (None, "None"):
            parts.append(f"active {report['active']}")
        for key, value in sorted(report.items()):
            if key.startswith("sinks.") and key.endswith(".penalty_remaining_s") and float(
                    value) > 0:
                parts.append(f"{key.split('.')[1]} penalised {float(value):.1f} s")
        return ", ".join(parts)
    return ""


def table(first: Sample, last: Sample) -> Table:
    out = Table(title=f"zflume status ({len(last.programs)} programs)", title_justify="left")
    for column in ("component", "state", "pid", "uptime", "in/s", "out/s", "detail"):
        out.add_column(column, justify="right" if column in ("pid", "in/s", "out/s") else "left")
    shown: set[str] = set()
    for key in sorted(last.reports):
        kind = key.split(".", 1)[0]
        info = _program_of(key, last.programs)
        if info is not None:
            shown.add(info["name"])
        state = info["statename"] if info is not None else "UP"
        incoming, outgoing = FLOWS.get(kind, ("", ""))
        out.add_row(key, state, str(info["pid"]) if info else "-", _uptime(info),
                    _rate(key, incoming, first, last), _rate(key, outgoing, first, last),
                    _detail(kind, last.reports[key]))
    for info in last.programs:  # restarting, stopped or frozen: no report, never stale figures
        if info["name"] not in shown and not info["name"].endswith("-monitor"):
            out.add_row(info["name"], f"{info['statename']} (no answer)",
                        str(info["pid"] or "-"), _uptime(info), "", "", "")
    return out


def show(run_dir: str, interval_s: float = 1.0) -> bool:
    """Print the table once (rates over `interval_s`); False when nothing answered."""
    first = sample(run_dir)
    time.sleep(interval_s)
    last = sample(run_dir)
    if not last.reports and not last.programs:
        return False
    Console().print(table(first, last))
    return True


def watch(run_dir: str, interval_s: float = 2.0) -> None:
    """Redraw the table every `interval_s` until Ctrl-C."""
    previous = sample(run_dir)
    with Live(table(previous, previous), auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval_s)
                current = sample(run_dir)
                live.update(table(previous, current), refresh=True)
                previous = current
        except KeyboardInterrupt:
            return
