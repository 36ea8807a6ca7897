"""The seed's two-tier topologies: an agent delivering over Avro to two collectors, under faults."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.integration.harness import (Agent, collector_conf, duplicates, free_ports,
                                       frozen_collector_limit_s, lines_in, numbers_command,
                                       port_open, supervisord_pid, time_limit, wait_for)

TOTAL = 20_000
RATE = 2_000
TXN = 100
COLLECTOR_CAPACITY = 1000  # collector_conf's memory channel


def agent_conf(port1: int, port2: int, group: str) -> str:
    """The seed's agent tier, its `tail -F` replaced by a numbered-line writer."""
    return f"""
agentX.sources = sX
agentX.channels = chX
agentX.sinks = sk1 sk2
agentX.sources.sX.channels = chX
agentX.sources.sX.type = exec
agentX.sources.sX.command = {numbers_command(TOTAL, RATE)}
agentX.sources.sX.batchSize = 100
agentX.sources.sX.batchTimeout = 200
agentX.channels.chX.type = memory
agentX.channels.chX.capacity = 1000
agentX.channels.chX.transactionCapacity = {TXN}
agentX.sinks.sk1.channel = chX
agentX.sinks.sk1.type = avro
agentX.sinks.sk1.hostname = 127.0.0.1
agentX.sinks.sk1.port = {port1}
agentX.sinks.sk2.channel = chX
agentX.sinks.sk2.type = avro
agentX.sinks.sk2.hostname = 127.0.0.1
agentX.sinks.sk2.port = {port2}
agentX.sinkgroups = g1
agentX.sinkgroups.g1.sinks = sk1 sk2
{group}
"""


FAILOVER = """agentX.sinkgroups.g1.processor.type = failover
agentX.sinkgroups.g1.processor.priority.sk1 = 9
agentX.sinkgroups.g1.processor.priority.sk2 = 7
agentX.sinkgroups.g1.processor.maxpenalty = 10000"""
LOAD_BALANCE = """agentX.sinkgroups.g1.processor.type = load_balance
agentX.sinkgroups.g1.processor.backoff = true
agentX.sinkgroups.g1.processor.selector = round_robin"""


def fleet(tmp_path: Path, agents: list[Agent], group: str) -> tuple[Agent, Agent, Agent, int]:
    base = free_ports(2)
    c1 = Agent(tmp_path, "agent1", collector_conf("agent1", base, "out/c1"))
    c2 = Agent(tmp_path, "agent2", collector_conf("agent2", base + 1, "out/c2"))
    x = Agent(tmp_path, "agentX", agent_conf(base, base + 1, group))
    agents.extend([c1, c2, x])
    for agent in (c1, c2, x):
        agent.start()
    return c1, c2, x, base


def outputs(tmp_path: Path) -> tuple[list[int], list[int]]:
    return lines_in(tmp_path / "out/c1"), lines_in(tmp_path / "out/c2")


def everything(tmp_path: Path) -> tuple[list[int], list[int]]:
    def done():
        c1, c2 = outputs(tmp_path)
        return (c1, c2) if set(c1) | set(c2) >= set(range(TOTAL)) else None
    return wait_for(done, 60, "every event at a collector", step=0.5)


def assert_failed_over_cleanly(c1: list[int], c2: list[int], faults: int = 1,
                               refilled: int = 0, batches_per_fault: int = 1) -> None:
    """Nothing lost, few duplicates, and collector 2 served only while collector 1 could not.

    `refilled`: events collector 1 may take between its source coming back and its channel
    filling up while its own sink is still restarting (then it answers FAILED again).
    `batches_per_fault`: batches a frozen collector may still store after SIGCONT although they
    were re-routed meanwhile (up to the agent router's window of 4).
    """
    assert set(c1) | set(c2) == set(range(TOTAL))
    assert duplicates(c1, c2) <= TXN * faults * batches_per_fault
    assert c2, "collector 2 never took over"
    inside = [n for n in c1 if min(c2) < n < max(c2)]
    assert len(inside) <= TXN * faults + refilled, "both collectors received during the outage"


def test_failover_when_collector_processes_are_killed(tmp_path: Path, agents: list[Agent]) -> None:
    """When collector 1's source, router and sink are kill -9ed mid-stream, collector 2 takes
    over, nothing is lost, and traffic is back at collector 1 within 2 s of its port opening."""
    c1, _, _, base = fleet(tmp_path, agents, FAILOVER)
    wait_for(lambda: len(outputs(tmp_path)[0]) > 3000, 30, "collector 1 to receive")
    pids = [c1.signal(name, signal.SIGKILL) for name in ("s", "k-router", "k")]
    wait_for(lambda: outputs(tmp_path)[1], 5, "collector 2 to take over")
    wait_for(lambda: c1.pid("s") not in (0, pids[0]), 30, "collector 1's source to restart")
    wait_for(lambda: port_open(base), 30, "collector 1's port")
    reopened, count = time.monotonic(), len(outputs(tmp_path)[0])
    wait_for(lambda: len(outputs(tmp_path)[0]) > count + TXN, 10, "traffic back at collector 1")
    assert time.monotonic() - reopened < time_limit(2.5)  # a penalty of 1 s, then a heartbeat
    assert_failed_over_cleanly(*everything(tmp_path), refilled=COLLECTOR_CAPACITY)


def test_failover_when_the_whole_collector_freezes(tmp_path: Path, agents: list[Agent]) -> None:
    """When every process of collector 1 is SIGSTOPped, collector 2 takes over within 3 s;
    after SIGCONT traffic returns to collector 1 and nothing is lost."""
    c1, _, _, _ = fleet(tmp_path, agents, FAILOVER)
    wait_for(lambda: len(outputs(tmp_path)[0]) > 3000, 30, "collector 1 to receive")
    pids = [c1.pid(name) for name in ("s", "ch", "k-router", "k")]  # fetched once, then
    assert all(pids)
    c1.expect_fault("s", "ch", "k-router", "k")
    for pid in pids:  # one loop, so the whole collector freezes at one moment
        os.kill(pid, signal.SIGSTOP)
    frozen = time.monotonic()
    wait_for(lambda: outputs(tmp_path)[1], 10, "collector 2 to take over")
    assert time.monotonic() - frozen < frozen_collector_limit_s()
    time.sleep(1.0)
    for pid in pids:
        os.kill(pid, signal.SIGCONT)
    count = len(outputs(tmp_path)[0])
    wait_for(lambda: len(outputs(tmp_path)[0]) > count + 2 * TXN, 10, "collector 1 again")
    assert_failed_over_cleanly(*everything(tmp_path), faults=2, batches_per_fault=4)


def test_killing_a_whole_collector_loses_exactly_what_its_channel_held(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When collector 1 dies entirely, memory channel included, the events lost are exactly
    those its channel reported holding just before (as in Flume), and no others."""
    from deploy.status import collect
    c1, _, _, _ = fleet(tmp_path, agents, FAILOVER)
    wait_for(lambda: len(outputs(tmp_path)[0]) > 2000, 30, "collector 1 to receive")
    c1.signal("k", signal.SIGSTOP)  # its channel fills up and stops changing
    held = wait_for(lambda: _stable_size(collect, c1), 30, "collector 1's channel to fill")
    pids = [c1.pid(name) for name in ("s", "ch", "k-router", "k")]
    c1.allow_faults("killed whole: its supervisord, its agent command, then every process")
    assert c1.proc is not None
    # supervisord first: alive, it would respawn the killed programs while it shuts down, and
    # a respawned source and channel would take (and then lose) more events than were held.
    for pid in [supervisord_pid(c1), c1.proc.pid, *pids]:
        os.kill(pid, signal.SIGKILL)
    c1_out, c2_out = everything_but(tmp_path, held)
    assert TOTAL - len(set(c1_out) | set(c2_out)) == held


def _stable_size(collect, agent: Agent) -> int:
    size = int(collect(str(agent.run_dir))["CHANNEL.ch"]["ChannelSize"])
    time.sleep(0.5)
    again = int(collect(str(agent.run_dir))["CHANNEL.ch"]["ChannelSize"])
    return size if size == again == 1000 else 0


def everything_but(tmp_path: Path, missing: int) -> tuple[list[int], list[int]]:
    def done():
        c1, c2 = outputs(tmp_path)
        return (c1, c2) if len(set(c1) | set(c2)) >= TOTAL - missing else None
    result = wait_for(done, 60, f"all but {missing} events at the collectors", step=0.5)
    time.sleep(1.0)  # anything more would be a miscount
    return outputs(tmp_path) if result else result


def test_load_balance_shares_and_loses_nothing(tmp_path: Path, agents: list[Agent]) -> None:
    """When both collectors are up each receives about half; kill -9 of collector 2's source
    loses nothing."""
    _, c2, _, _ = fleet(tmp_path, agents, LOAD_BALANCE)
    wait_for(lambda: sum(map(len, outputs(tmp_path))) > 6000, 30, "6000 events delivered")
    n1, n2 = map(len, outputs(tmp_path))
    assert abs(n1 - n2) <= 0.15 * (n1 + n2), (n1, n2)
    c2.signal("s", signal.SIGKILL)
    c1_out, c2_out = everything(tmp_path)
    assert set(c1_out) | set(c2_out) == set(range(TOTAL))
    assert duplicates(c1_out, c2_out) <= TXN
