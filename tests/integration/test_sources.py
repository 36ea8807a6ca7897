"""Sources under real agents: seq, exec, netcat, netcatudp, the replicating and load_balancing selectors."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.integration.harness import BIN, Agent, lines_in, wait_for

SINK = """
a.sinks.{k}.type = file_roll
a.sinks.{k}.channel = {c}
a.sinks.{k}.sink.directory = out/{k}
a.sinks.{k}.sink.rollInterval = 0
"""


def pipeline(source: str, capacity: int = 1000, extra: str = "") -> str:
    """Source `s` -> memory channel `c` -> file_roll sink `k` writing under out/k."""
    return f"""
a.sources = s
a.channels = c
a.sinks = k
a.sources.s.channels = c
{source}
a.channels.c.type = memory
a.channels.c.capacity = {capacity}
a.channels.c.transactionCapacity = 100
{SINK.format(k="k", c="c")}
{extra}
"""


def start(tmp_path: Path, agents: list[Agent], conf: str) -> Agent:
    agent = Agent(tmp_path, "a", conf)
    agents.append(agent)
    return agent.start()


def zflume_status(agent: Agent) -> dict[str, dict[str, str]]:
    """`zflume status --run-dir` of the agent, parsed; {} while nothing answers."""
    result = subprocess.run([str(BIN / "zflume"), "status", "--json", "--run-dir", str(agent.run_dir)],
                            capture_output=True, text=True, timeout=30)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def pids_matching(marker: str) -> set[int]:
    """Live processes whose command line contains `marker`."""
    result = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, timeout=10)
    return {int(pid) for pid in result.stdout.split()}


def kill_everything(marker: Path) -> None:
    """kill -9 every process whose command line names `marker` (the agent's directory),
    again until none is left: supervisord may respawn a component killed before it."""
    def kill_round() -> bool:
        pids = pids_matching(str(marker))
        for pid in sorted(pids):  # oldest first: the agent and supervisord before components
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)
        return not pids
    wait_for(kill_round, 10, "every process of the agent to be killed")


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def all_lines(tmp_path: Path, sink: str, count: int, timeout: float = 30) -> list[int]:
    """The sink's numbers once it holds at least `count` of them."""
    return wait_for(lambda: (lambda got: got if len(got) >= count else None)(
        lines_in(tmp_path / "out" / sink)), timeout, f"{count} lines in {sink}'s files")


def test_seq_puts_every_number_exactly_once(tmp_path: Path, agents: list[Agent]) -> None:
    """When a seq source of 5000 events in batches of 100 feeds a file_roll sink, the file
    holds 0..4999, each exactly once."""
    start(tmp_path, agents, pipeline("a.sources.s.type = seq\na.sources.s.totalEvents = 5000\n"
                                     "a.sources.s.batchSize = 100"))
    all_lines(tmp_path, "k", 5000)
    time.sleep(0.5)  # a duplicate or a 5001st event would have landed by now
    assert sorted(lines_in(tmp_path / "out/k")) == list(range(5000))


def test_a_channel_holding_one_batch_keeps_events_flowing(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When the channel holds just one batch (Flume's defaults: capacity and
    transactionCapacity 100), 2000 events still pass within seconds, each once."""
    agent = start(tmp_path, agents, pipeline("a.sources.s.type = seq\n"
                                             "a.sources.s.totalEvents = 2000\n"
                                             "a.sources.s.batchSize = 100", capacity=100))
    try:
        assert sorted(all_lines(tmp_path, "k", 2000, timeout=5)) == list(range(2000))
    finally:
        agent.allow_faults("kill -9 of every process: a stalled agent would take its whole "
                           "stop budget to drain")
        kill_everything(tmp_path)


def exec_source(command: str) -> str:
    return (f"a.sources.s.type = exec\na.sources.s.shell = /bin/sh -c\n"
            f"a.sources.s.command = {command}\na.sources.s.batchSize = 100\n")


def after_go(go: Path, command: str) -> str:
    """A shell command that waits for the file `go` before running `command`."""
    return f"while [ ! -e {go} ]; do sleep 0.05; done; {command}"


def test_exec_never_drops_a_line_when_its_channel_is_full(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When exec reads 20,000 lines into a 300-event channel whose router starts late, the
    source waits on the full channel and every line arrives exactly once."""
    total = 20_000
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"{n}\n" for n in range(total)))
    go = tmp_path / "go"
    agent = start(tmp_path, agents, pipeline(exec_source(after_go(go, f"exec cat {lines}")),
                                             capacity=300, extra="a.channels.c.keep-alive = 1"))
    agent.ctl("stop", "a-k-router")
    go.touch()

    def full_and_refusing() -> bool:
        stats = zflume_status(agent)
        return (stats.get("CHANNEL.c", {}).get("ChannelSize") == "300"
                and int(stats.get("SOURCE.s", {}).get("ChannelWriteFail", "0")) >= 2)
    wait_for(full_and_refusing, 20, "the channel to fill and answer FULL")
    assert lines_in(tmp_path / "out/k") == []
    agent.ctl("start", "a-k-router")
    numbers = all_lines(tmp_path, "k", total)
    assert sorted(numbers) == list(range(total))


def test_exec_flushes_a_partial_batch_after_batch_timeout(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When a running command prints fewer lines than batchSize, they reach the sink after
    batchTimeout (1 s here) and within batchTimeout + 1 s."""
    go = tmp_path / "go"
    source = exec_source(after_go(go, "printf '1\\n2\\n3\\n'; exec sleep 1000"))
    start(tmp_path, agents, pipeline(source + "a.sources.s.batchTimeout = 1000"))
    go.touch()
    began = time.monotonic()
    assert all_lines(tmp_path, "k", 3, timeout=2.0) == [1, 2, 3]
    assert time.monotonic() - began >= 1.0 - 0.05


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def connect(port: int) -> socket.socket:
    def attempt() -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            return None
    return wait_for(attempt, 10, f"the netcat source to listen on {port}")


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_netcat_acknowledges_lines_and_refuses_a_too_long_one(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When lines arrive over TCP each is answered OK and stored; a line longer than
    max-line-length is answered Flume's FAILED text and the connection is closed."""
    port = free_port()
    start(tmp_path, agents, pipeline(
        f"a.sources.s.type = netcat\na.sources.s.bind = 127.0.0.1\na.sources.s.port = {port}\n"
        "a.sources.s.max-line-length = 20"))
    with connect(port) as client:
        client.sendall(b"1\n2\n")
        assert receive(client, 6) == b"OK\nOK\n"
        client.sendall(b"9" * 19 + b"\n")  # 19 characters + newline: exactly the limit
        assert receive(client, 3) == b"OK\n"
    failed = b"FAILED: Event exceeds the maximum length (20 chars, including newline)\n"
    with connect(port) as client:
        client.sendall(b"3\n" + b"8" * 20 + b"\n4\n")
        assert receive(client, 1000) == b"OK\n" + failed  # and then end of stream
    assert all_lines(tmp_path, "k", 4) == [1, 2, int("9" * 19), 3]


def test_netcatudp_stores_each_datagram_up_to_its_first_newline(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When datagrams arrive at a netcatudp source (at a pace loopback does not drop), each is
    one event, cut at its first newline as in Flume."""
    port = free_port()
    agent = start(tmp_path, agents, pipeline(
        f"a.sources.s.type = netcatudp\na.sources.s.bind = 127.0.0.1\na.sources.s.port = {port}\n"
        "a.sources.s.remoteAddress = sender"))
    wait_for(lambda: zflume_status(agent).get("SOURCE.s"), 15, "the netcatudp source")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for n in range(200):
            sender.sendto(b"%d\nnot this" % n if n % 2 else b"%d" % n, ("127.0.0.1", port))
            time.sleep(0.002)
    assert sorted(all_lines(tmp_path, "k", 200)) == list(range(200))


def test_replicating_selector_gives_every_event_to_every_channel(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When a source has two channels (the replicating default), each channel's sink
    receives every event."""
    start(tmp_path, agents, f"""
a.sources = s
a.channels = c1 c2
a.sinks = k1 k2
a.sources.s.type = seq
a.sources.s.totalEvents = 1000
a.sources.s.batchSize = 100
a.sources.s.channels = c1 c2
a.channels.c1.type = memory
a.channels.c1.capacity = 1000
a.channels.c2.type = memory
a.channels.c2.capacity = 1000
{SINK.format(k="k1", c="c1")}
{SINK.format(k="k2", c="c2")}
""")
    assert sorted(all_lines(tmp_path, "k1", 1000)) == list(range(1000))
    assert sorted(all_lines(tmp_path, "k2", 1000)) == list(range(1000))


def test_load_balancing_selector_gives_each_event_to_one_channel(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When a source load-balances over two channels (round_robin), the two sinks together
    receive every event once, half each."""
    start(tmp_path, agents, f"""
a.sources = s
a.channels = c1 c2
a.sinks = k1 k2
a.sources.s.type = seq
a.sources.s.totalEvents = 1000
a.sources.s.batchSize = 100
a.sources.s.channels = c1 c2
a.sources.s.selector.type = load_balancing
a.channels.c1.type = memory
a.channels.c1.capacity = 1000
a.channels.c2.type = memory
a.channels.c2.capacity = 1000
{SINK.format(k="k1", c="c1")}
{SINK.format(k="k2", c="c2")}
""")
    first, second = all_lines(tmp_path, "k1", 500), all_lines(tmp_path, "k2", 500)
    assert sorted(first + second) == list(range(1000))
    assert sorted(first) == list(range(0, 1000, 2))


def test_exec_child_dies_with_a_killed_source(tmp_path: Path, agents: list[Agent]) -> None:
    """When the exec source is killed -9, its command dies with it and the restarted source
    runs exactly one new copy."""
    marker = str(tmp_path / "watched.log")
    agent = start(tmp_path, agents, pipeline(f"a.sources.s.type = exec\n"
                                             f"a.sources.s.command = tail -F {marker}"))
    [first] = wait_for(lambda: pids_matching(f"tail -F {marker}"), 10, "tail to run")
    old = agent.signal("s", signal.SIGKILL)
    new = agent.restarted("s", old)
    wait_for(lambda: first not in pids_matching(f"tail -F {marker}"), 5, "the old tail to die")
    [second] = wait_for(lambda: pids_matching(f"tail -F {marker}"), 10, "a new tail to run")
    assert parent_of(second) == new


def test_exec_restart_reruns_the_command_and_survives_a_missing_one(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When a command ends and restart is true it runs again after restartThrottle; a command
    that cannot be started is logged and retried, without crashing its source process."""
    agent = start(tmp_path, agents, f"""
a.sources = s bad
a.channels = c
a.sinks = k
a.sources.s.type = exec
a.sources.s.command = echo 7
a.sources.s.restart = true
a.sources.s.restartThrottle = 200
a.sources.s.batchTimeout = 100
a.sources.s.channels = c
a.sources.bad.type = exec
a.sources.bad.command = {tmp_path}/no-such-command
a.sources.bad.restart = true
a.sources.bad.restartThrottle = 200
a.sources.bad.channels = c
a.channels.c.type = memory
{SINK.format(k="k", c="c")}
""")
    bad_pid = agent.pid("bad")
    assert set(all_lines(tmp_path, "k", 3, timeout=5)) == {7}
    assert agent.statuses()["a-bad"] == ("RUNNING", bad_pid)
    assert agent.log.read_text().count(f"cannot run {tmp_path}/no-such-command") >= 2
