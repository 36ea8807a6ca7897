"""Config reload under a running agent (TAILDIR -> memory -> failover over file_roll sinks) while
a logger writes 35,000 numbered lines: each edit restarts exactly the changed programs, a
broken edit changes nothing, a changed memory channel is drained first, and nothing is lost."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.integration.harness import Agent, collector_conf, free_ports, lines_in, wait_for
from tests.integration.test_taildir import Logger

TOTAL = 35_000
RATE = 2_500


def taildir_source(logs: Path, positions: Path) -> str:
    """Source `s` of both tests' agents: TAILDIR on logs/app.log into channel `c`."""
    return f"""a.sources.s.type = TAILDIR
a.sources.s.channels = c
a.sources.s.filegroups = f1
a.sources.s.filegroups.f1 = {logs}/app\\\\.log
a.sources.s.positionFile = {positions}
a.sources.s.batchSize = 100"""


def config(logs: Path, positions: Path, k1_batch: int = 100, third_sink: bool = False,
           capacity: int = 5000) -> str:
    sinks = "k1 k2 k3" if third_sink else "k1 k2"
    text = f"""
a.sources = s
a.channels = c
a.sinks = {sinks}
{taildir_source(logs, positions)}
a.sources.s.writePosInterval = 500
a.channels.c.type = memory
a.channels.c.capacity = {capacity}
a.channels.c.transactionCapacity = 100
a.sinkgroups = g
a.sinkgroups.g.sinks = {sinks}
a.sinkgroups.g.processor.type = load_balance
"""
    for n, sink in enumerate(sinks.split(), 1):
        batch = k1_batch if sink == "k1" else 100
        text += (f"a.sinks.{sink}.type = file_roll\na.sinks.{sink}.channel = c\n"
                 f"a.sinks.{sink}.sink.directory = out/{n}\na.sinks.{sink}.sink.rollInterval = 0\n"
                 f"a.sinks.{sink}.sink.batchSize = {batch}\n")
    return text


def delivered(tmp_path: Path, *sinks: int) -> list[int]:
    return [n for sink in sinks for n in lines_in(tmp_path / "out" / str(sink))]


def pids(agent: Agent) -> dict[str, int]:
    return {name.removeprefix("a-"): pid for name, (state, pid) in agent.statuses().items()
            if state == "RUNNING"}


def reload(agent: Agent, text: str, expect: str) -> None:
    """Write the config, send SIGHUP, and wait for the launcher's line saying `expect`."""
    seen = agent.log.read_text().count(expect)
    agent.conf.write_text(text)
    assert agent.proc is not None
    os.kill(agent.proc.pid, signal.SIGHUP)
    wait_for(lambda: agent.log.read_text().count(expect) > seen, 60, f"the log to say {expect}")


def settled(agent: Agent, expected: set[str]) -> dict[str, int]:
    """Pids once exactly the `expected` programs run."""
    return wait_for(lambda: (lambda now: now if set(now) == expected else None)(pids(agent)),
                    60, f"programs {sorted(expected)} to run")


def test_each_edit_restarts_only_what_changed_and_loses_nothing(
        tmp_path: Path, agents: list[Agent]) -> None:
    logs, positions = tmp_path / "logs", tmp_path / "positions.json"
    logs.mkdir()
    agent = Agent(tmp_path, "a", config(logs, positions))
    agents.append(agent)
    agent.start()
    logger = Logger(logs / "app.log", TOTAL, RATE)
    logger.start()
    before = settled(agent, {"s", "c", "k1", "k2", "g"})

    reload(agent, config(logs, positions, k1_batch=50), "reloaded")  # a changed sink
    after = settled(agent, {"s", "c", "k1", "k2", "g"})
    assert {p for p in before if before[p] != after[p]} == {"k1", "g"}

    reload(agent, config(logs, positions, k1_batch=50, third_sink=True), "reloaded")  # added
    added = settled(agent, {"s", "c", "k1", "k2", "k3", "g"})
    assert {p for p in after if after[p] != added[p]} == {"g"}
    wait_for(lambda: delivered(tmp_path, 3), 30, "the third sink to take a share")

    broken = config(logs, positions, k1_batch=50, third_sink=True) + "a.sinks.k2.type = nosuch\n"
    reload(agent, broken, "reload refused")
    assert f"{agent.conf}:" in agent.log.read_text()  # the error names file and line
    assert pids(agent) == added  # the broken config changed nothing

    reload(agent, config(logs, positions, k1_batch=50), "reloaded")  # k3 removed again
    removed = settled(agent, {"s", "c", "k1", "k2", "g"})
    assert {p for p in removed if added[p] != removed[p]} == {"g"}

    reload(agent, config(logs, positions, k1_batch=50, capacity=6000), "reloaded")  # channel
    drained = settled(agent, {"s", "c", "k1", "k2", "g"})
    assert {p for p in drained if removed[p] != drained[p]} >= {"c", "s"}
    assert "draining memory channel(s) c" in agent.log.read_text()

    logger.join(60)
    got = wait_for(lambda: (lambda n: n if len(set(n)) >= TOTAL else None)(
        delivered(tmp_path, 1, 2, 3)), 60, "every line")
    assert set(got) == set(range(TOTAL))
    assert "Traceback" not in agent.log.read_text()


def balanced_agent(logs: Path, positions: Path, ports: dict[str, int]) -> str:
    """TAILDIR -> memory -> load_balance round robin over avro sinks: name -> collector port."""
    sinks = " ".join(ports)
    text = f"""
a.sources = s
a.channels = c
a.sinks = {sinks}
{taildir_source(logs, positions)}
a.channels.c.type = memory
a.channels.c.capacity = 5000
a.channels.c.transactionCapacity = 100
a.sinkgroups = g
a.sinkgroups.g.sinks = {sinks}
a.sinkgroups.g.processor.type = load_balance
a.sinkgroups.g.processor.backoff = true
"""
    for sink, port in ports.items():
        text += (f"a.sinks.{sink}.type = avro\na.sinks.{sink}.channel = c\n"
                 f"a.sinks.{sink}.hostname = 127.0.0.1\na.sinks.{sink}.port = {port}\n")
    return text


def test_a_collector_added_live_takes_a_third_and_one_removed_loses_nothing(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When a third collector's sink is added to a running load_balance group under steady
    traffic, it takes about a third of the events within 10 s; when the first is removed, the
    other two take everything and no event is lost."""
    total, rate = 36_000, 3_000
    base = free_ports(3)
    ports = {"sk1": base, "sk2": base + 1, "sk3": base + 2}
    for i, port in enumerate(ports.values(), 1):
        collector = Agent(tmp_path, f"c{i}", collector_conf(f"c{i}", port,
                                                           str(tmp_path / "out" / str(i))))
        agents.append(collector)
        collector.start()
    logs, positions = tmp_path / "logs", tmp_path / "positions.json"
    logs.mkdir()
    agent = Agent(tmp_path, "a", balanced_agent(logs, positions, {
        "sk1": ports["sk1"], "sk2": ports["sk2"]}))
    agents.append(agent)
    agent.start()
    logger = Logger(logs / "app.log", total, rate)
    logger.start()
    wait_for(lambda: len(delivered(tmp_path, 1, 2)) > 5_000, 30, "traffic on two collectors")

    reload(agent, balanced_agent(logs, positions, ports), "reloaded")
    joined = [len(lines_in(tmp_path / "out" / str(i))) for i in (1, 2, 3)]
    wait_for(lambda: len(lines_in(tmp_path / "out" / "3")) > 0, 10, "the third collector's first")
    time.sleep(4)
    later = [len(lines_in(tmp_path / "out" / str(i))) for i in (1, 2, 3)]
    shares = [b - a for a, b in zip(joined, later, strict=True)]
    print(f"\nfor 4 s after the third collector's first event: {shares} events")
    assert shares[2] >= sum(shares) / 5, shares  # about a third; a fifth at least

    reload(agent, balanced_agent(logs, positions, {"sk2": ports["sk2"], "sk3": ports["sk3"]}),
           "reloaded")
    time.sleep(2)  # what collector 1 had already taken reaches its file
    removed = len(lines_in(tmp_path / "out" / "1"))
    logger.join(60)
    got = wait_for(lambda: (lambda n: n if len(set(n)) >= total else None)(
        delivered(tmp_path, 1, 2, 3)), 60, "every line")
    assert set(got) == set(range(total))
    assert len(lines_in(tmp_path / "out" / "1")) == removed  # nothing more went to it
