"""`zflume agent` and `zflume status` as a user runs them, under supervisord."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.harness import (BIN, Agent, copy_output, fail_on_surprises, free_ports,
                                       lines_in, time_limit, wait_for)
from tests.integration.test_sources import pids_matching, zflume_status

FAILOVER = """
a.sources = s
a.channels = c
a.sinks = k1 k2
a.sources.s.type = seq
a.sources.s.totalEvents = 1000
a.sources.s.batchSize = 100
a.sources.s.channels = c
a.channels.c.type = memory
a.channels.c.capacity = 500
a.sinks.k1.type = file_roll
a.sinks.k1.channel = c
a.sinks.k1.sink.directory = out/k1
a.sinks.k1.sink.rollInterval = 0
a.sinks.k2.type = file_roll
a.sinks.k2.channel = c
a.sinks.k2.sink.directory = out/k2
a.sinks.k2.sink.rollInterval = 0
a.sinkgroups = g
a.sinkgroups.g.sinks = k1 k2
a.sinkgroups.g.processor.type = failover
a.sinkgroups.g.processor.priority.k1 = 10
a.sinkgroups.g.processor.priority.k2 = 5
"""


def tailing(marker: Path) -> str:
    """Two exec sources that never end: a plain `tail -F` and a pipeline under a shell."""
    return f"""
a.sources = plain piped
a.channels = c
a.sinks = k
a.sources.plain.type = exec
a.sources.plain.command = tail -F {marker}
a.sources.plain.channels = c
a.sources.piped.type = exec
a.sources.piped.shell = /bin/sh -c
a.sources.piped.command = tail -F {marker} | cat
a.sources.piped.channels = c
a.channels.c.type = memory
a.sinks.k.type = null
a.sinks.k.channel = c
"""


def start(tmp_path: Path, agents: list[Agent], conf: str) -> Agent:
    agent = Agent(tmp_path, "a", conf)
    agents.append(agent)
    return agent.start()


@pytest.fixture(scope="module")
def failover_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """One failover agent shared by the tests that only look at it: starting one costs seconds."""
    agent = Agent(tmp_path_factory.mktemp("failover"), "a", FAILOVER)
    try:
        yield agent.start()
    finally:
        agent.stop()
    fail_on_surprises([agent])


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, children of children included."""
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, timeout=10)
    children = {int(child) for child in result.stdout.split()}
    return children.union(*(descendants(child) for child in children))


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def agent_tree(agent: Agent, marker: Path) -> set[int]:
    """`zflume agent` and everything under it, once both exec sources' tails run: supervisord,
    five components, `tail`, and `sh` with `tail` and `cat`."""
    wait_for(lambda: len(pids_matching(f"^tail -F {marker}")) == 2, 10, "both tails to run")
    assert agent.proc is not None
    tree = {agent.proc.pid} | descendants(agent.proc.pid)
    assert len(tree) == 11, sorted(cmdline(pid) for pid in tree if alive(pid))
    return tree


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_every_component_is_its_own_supervisord_program(failover_agent: Agent) -> None:
    """When an agent with a failover group over two file_roll sinks runs, `supervisorctl
    status` shows the source, the channel, each sink and the router as separate programs
    with distinct pids, each running its own component."""
    states = failover_agent.statuses()
    expected = {"s": "source", "c": "channel", "k1": "sink", "k2": "sink", "g": "router"}
    assert set(states) == {f"a-{name}" for name in expected}
    pids = {name: states[f"a-{name}"][1] for name in expected}
    assert all(states[f"a-{name}"][0] == "RUNNING" for name in expected)
    assert len(set(pids.values())) == len(expected) and 0 not in pids.values()
    for name, kind in expected.items():
        assert f"--kind {kind} --component {name} " in cmdline(pids[name])


def test_every_thread_of_every_component_runs_under_sched_batch(failover_agent: Agent) -> None:
    """Components ask for SCHED_BATCH before their ZeroMQ I/O thread and sink writer threads
    exist, so every thread has it (a woken peer then does not preempt a sender mid-turn)."""
    states = failover_agent.statuses()
    for program, (_, pid) in states.items():
        threads = list(Path(f"/proc/{pid}/task").iterdir())
        assert len(threads) >= 2, program  # the main thread and ZeroMQ's I/O thread at least
        for task in threads:
            assert os.sched_getscheduler(int(task.name)) == os.SCHED_BATCH, (program, task.name)


def test_status_prints_flume_shaped_counters(failover_agent: Agent) -> None:
    """When an agent has delivered 1000 events, `zflume status` prints Flume's /metrics shape:
    `TYPE.name` groups of string values, the channel's capacity, and sink counts matching
    what reached the files."""
    agent, out = failover_agent, failover_agent.workdir / "out"
    wait_for(lambda: len(lines_in(out / "k1")) + len(lines_in(out / "k2"))
             >= 1000, 20, "1000 events in the files")

    def settled() -> dict[str, dict[str, str]] | None:
        stats = zflume_status(agent)
        drained = sum(int(stats.get(f"SINK.{k}", {}).get("EventDrainSuccessCount", "0"))
                      for k in ("k1", "k2"))
        return stats if drained >= 1000 else None
    stats = wait_for(settled, 10, "the sinks' counters to reach 1000")
    assert {"SOURCE.s", "CHANNEL.c", "SINK.k1", "SINK.k2"} <= set(stats)
    assert all(isinstance(value, str) for group in stats.values() for value in group.values())
    assert stats["SOURCE.s"]["Type"] == "SOURCE"
    assert stats["SOURCE.s"]["EventAcceptedCount"] == "1000"
    channel = stats["CHANNEL.c"]
    assert (channel["Type"], channel["ChannelCapacity"], channel["ChannelSize"],
            channel["EventPutSuccessCount"], channel["EventTakeSuccessCount"]) == (
        "CHANNEL", "500", "0", "1000", "1000")
    for sink in ("k1", "k2"):
        delivered = len(lines_in(out / sink))
        assert stats[f"SINK.{sink}"]["EventDrainSuccessCount"] == str(delivered)
        assert stats[f"SINK.{sink}"]["StopTime"] == "0"


def test_sigterm_stops_every_process_exec_children_included(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When `zflume agent` gets SIGTERM it exits 0 and leaves no process behind: no
    component, no supervisord, and no exec child, a shell pipeline's members included."""
    marker = tmp_path / "watched.log"
    agent = start(tmp_path, agents, tailing(marker))
    tree = agent_tree(agent, marker)
    assert agent.proc is not None
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=40) == 0
    wait_for(lambda: not any(map(alive, tree)), 5, "every process of the agent to end")


def test_an_exec_source_stopping_by_itself_ends_every_member_of_its_pipeline(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When an exec source gets SIGTERM itself (as `zflume agent` sends it, possibly before
    supervisord signals the program's group), its shell, `tail` and `cat` all end: the command
    runs in a process group of its own, which the source signals whole."""
    marker = tmp_path / "watched.log"
    agent = start(tmp_path, agents, tailing(marker))
    source = agent.pid("piped")
    pipeline = wait_for(lambda: len(found := descendants(source)) == 3 and found, 10,
                        "sh, tail and cat under the source")
    agent.signal("piped", signal.SIGTERM)
    wait_for(lambda: not any(map(alive, pipeline)), time_limit(5.0), "the pipeline to end")


def test_kill_9_of_the_agent_command_still_stops_the_agent(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When `zflume agent` itself is killed -9, supervisord is told to stop, and every
    component and exec child ends."""
    marker = tmp_path / "watched.log"
    agent = start(tmp_path, agents, tailing(marker))
    tree = agent_tree(agent, marker)
    assert agent.proc is not None
    agent.allow_faults("kill -9 of its `zflume agent` command")
    agent.proc.kill()
    agent.proc.wait(timeout=10)
    wait_for(lambda: not any(map(alive, tree)), 40, "every process of the agent to end")


def test_a_second_agent_on_the_same_run_dir_is_refused(failover_agent: Agent) -> None:
    """When an agent already runs in a run directory, a second `zflume agent` on it exits 2
    naming the directory, and the first keeps running."""
    agent = failover_agent
    second = subprocess.run(
        [str(BIN / "zflume"), "agent", "-f", str(agent.conf), "-n", "a", "--run-dir",
         str(agent.run_dir)], capture_output=True, text=True, timeout=30, cwd=agent.workdir)
    assert second.returncode == 2
    assert f"{agent.run_dir} is in use by another agent" in second.stderr
    assert agent.running()


def test_a_flume_ng_start_script_runs_with_zflume_as_the_command(tmp_path: Path) -> None:
    """flume-ng's switches, a conf dir with flume-env.sh, JVM options: the agent runs, and each
    switch that does nothing here is one warning."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "flume-env.sh").write_text('export JAVA_OPTS="-Xms100m -Xmx2000m '
                                       '-Dflume.root.logger=INFO,console"\n')
    (conf / "a.conf").write_text(FAILOVER)
    port = free_ports(1)
    script = tmp_path / "start-agent.sh"
    script.write_text(f"""#!/bin/sh
# a Flume start script with flume-ng replaced by zflume
cd {tmp_path}
exec {BIN / 'zflume'} agent --conf conf --conf-file conf/a.conf --name a \\
    -Dflume.monitoring.type=http -Dflume.monitoring.port={port} \\
    -Dorg.apache.flume.log.printconfig=true -Xmx512m --no-reload-conf --run-dir run-a
""")
    script.chmod(0o755)
    log = tmp_path / "agent.log"
    # Through a pipe: supervisord reopens /dev/stdout per program, which on a plain file would
    # make the programs write over each other (tests/integration/harness.py).
    proc = subprocess.Popen([str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    copier = threading.Thread(target=copy_output, args=(proc.stdout, log), daemon=True)
    copier.start()
    try:
        wait_for(lambda: len(lines_in(tmp_path / "out" / "k1")) >= 1000, 30, "1000 events")
        assert sorted(lines_in(tmp_path / "out" / "k1")) == list(range(1000))
        wait_for(lambda: f"serving http metrics on http://127.0.0.1:{port}/metrics"
                 in log.read_text(), 20, "the monitor to serve")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            assert json.loads(reply.read())["SOURCE.s"]["EventAcceptedCount"] == "1000"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        copier.join(timeout=10)
    text = log.read_text()
    assert "read 1 -D switch(es) from conf/flume-env.sh" in text
    assert "-Xmx512m: a JVM option" in text and "unrecognized" not in text


def test_logfile_appender_writes_every_component_to_flume_log(
        tmp_path: Path, agents: list[Agent]) -> None:
    """With -Dflume.root.logger=INFO,LOGFILE, every component's lines go to
    flume.log.dir/flume.log (the launcher its only writer) and not to the console."""
    (tmp_path / "out" / "k1").mkdir(parents=True)
    agent = Agent(tmp_path, "a", FAILOVER, args=(
        "-Dflume.root.logger=INFO,LOGFILE", f"-Dflume.log.dir={tmp_path / 'logs'}"))
    agents.append(agent)
    agent.start()
    log = tmp_path / "logs" / "flume.log"
    names = ("source.s", "channel.c", "sink.k1", "sink.k2", "sink_group.g")
    wait_for(lambda: log.exists() and all(f"zflume.a.{n}: started" in log.read_text()
                                          for n in names), 20, "every component in flume.log")
    console = agent.log.read_text()
    assert "zflume: logging to" in console and "zflume.a.source.s: started" not in console


def test_status_table_shows_every_program_its_flow_and_its_group(failover_agent: Agent) -> None:
    """`zflume status` (no --json) prints one row per component with supervisord's state and
    pid, the channel's fill bar and the group's active sink; a stopped program shows as such."""
    agent = failover_agent
    wait_for(lambda: len(lines_in(agent.workdir / "out" / "k1")) >= 1000, 20, "1000 events")
    agent.ctl("stop", "a-k2")
    result = subprocess.run([str(BIN / "zflume"), "status", "--run-dir", str(agent.run_dir)],
                            capture_output=True, text=True, timeout=30,
                            env={**os.environ, "COLUMNS": "200"})
    rows = {line.split()[1]: line for line in result.stdout.splitlines()
            if line.startswith("│") and len(line.split()) > 2}
    assert result.returncode == 0, result.stderr
    for key in ("SOURCE.s", "CHANNEL.c", "SINK.k1", "SINK_GROUP.g"):
        assert "RUNNING" in rows[key] and str(agent.pid(key.split(".")[1])) in rows[key]
    assert "0.0% 0/500" in rows["CHANNEL.c"] and "active k1" in rows["SINK_GROUP.g"]
    assert "STOPPED (no answer)" in rows["a-k2"]
    agent.ctl("start", "a-k2")
