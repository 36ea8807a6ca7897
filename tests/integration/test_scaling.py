"""Scaling collectors by process count: `render --instances` and `--collectors`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from tests.integration.harness import (BIN, Agent, collector_conf, free_ports, lines_in, port_open,
                                       wait_for)

TOTAL = 30_000


def test_three_rendered_collector_instances_each_receive_a_third(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When three collector instances are rendered with --instances 3 and an agent is run with
    --collectors over them, each instance receives about a third, each writes files of its
    own into the directory they share, and every number arrives once."""
    base = free_ports(3)
    (tmp_path / "c.conf").write_text(collector_conf("c", base, "out"))
    run_dir = tmp_path / "run-c"
    rendered = subprocess.run(
        [str(BIN / "zflume"), "render", "-f", "c.conf", "-n", "c", "--instances", "3",
         "--run-dir", str(run_dir)], cwd=tmp_path, capture_output=True, text=True, check=True)
    os.makedirs(run_dir, mode=0o700)
    (run_dir / "supervisord.conf").write_text(rendered.stdout)
    with open(tmp_path / "c.log", "wb") as log:
        collectors = subprocess.Popen([str(BIN / "supervisord"), "-n", "-c",
                                       str(run_dir / "supervisord.conf")], cwd=tmp_path,
                                      stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: all(port_open(base + i) for i in range(3)), 30, "three collectors")
        spread = ("--collectors", f"127.0.0.1:{base}:3")
        agents.append(Agent(tmp_path, "a", seq_agent(base), spread).start())
        counts = wait_for(lambda: _drained(run_dir), 60, f"{TOTAL} events at the collectors")
    finally:
        collectors.send_signal(signal.SIGTERM)
        collectors.wait(timeout=40)
    arrived = lines_in(tmp_path / "out")
    assert sorted(arrived) == list(range(TOTAL))
    assert len(list((tmp_path / "out").iterdir())) == 3
    # Round robin shares flights, not events: a 1000-event channel keeps flights at 500 events
    # or fewer, so 60 or more of them, and a third each within 15 % (with a 10,000-event
    # channel, flights of up to 5,000 made the shares lumpy: 9,500 / 8,600 / 11,900 once).
    assert all(abs(count - TOTAL / 3) <= 0.15 * TOTAL / 3 for count in counts), counts


def seq_agent(base: int) -> str:
    return f"""
a.sources = s
a.channels = ch
a.sinks = k
a.sources.s.type = seq
a.sources.s.totalEvents = {TOTAL}
a.sources.s.batchSize = 100
a.sources.s.channels = ch
a.channels.ch.type = memory
a.channels.ch.capacity = 1000
a.channels.ch.transactionCapacity = 100
a.sinks.k.type = avro
a.sinks.k.channel = ch
a.sinks.k.hostname = 127.0.0.1
a.sinks.k.port = {base}
"""


def _drained(run_dir: Path) -> list[int] | None:
    counts = []
    for i in (1, 2, 3):
        result = subprocess.run([str(BIN / "zflume"), "status", "--json", "--run-dir",
                                 str(run_dir / f"c-{i}")], capture_output=True, text=True)
        if result.returncode:
            return None
        counts.append(int(json.loads(result.stdout)["SINK.k"]["EventDrainSuccessCount"]))
    return counts if sum(counts) >= TOTAL else None
