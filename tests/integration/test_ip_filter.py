"""ipFilter on a running avro source: clients from other loopback addresses (127.0.0.2, .3) are
accepted or closed before a byte is read, by the first rule that matches, and each denial is one
log line and one count."""
from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from proto.avro.client import ClientConnection
from proto.avro.protocol import Status
from tests.integration.harness import BIN, Agent, free_ports, lines_in, wait_for

EVENTS = 50


def collector(port: int, out: Path, rules: str) -> str:
    return f"""
c.sources = src
c.channels = ch
c.sinks = k
c.sources.src.type = avro
c.sources.src.bind = 127.0.0.1
c.sources.src.port = {port}
c.sources.src.channels = ch
c.sources.src.ipFilter = true
c.sources.src.ipFilterRules = {rules}
c.channels.ch.type = memory
c.channels.ch.capacity = 1000
c.channels.ch.transactionCapacity = 100
c.sinks.k.type = file_roll
c.sinks.k.channel = ch
c.sinks.k.sink.directory = {out}
c.sinks.k.sink.rollInterval = 0
"""


def send_from(address: str, port: int, first: int) -> Status | None:
    """One appendBatch of EVENTS numbered lines from `address`; its status, or None when the
    source closed the connection without answering."""
    conn = ClientConnection()
    with socket.create_connection(("127.0.0.1", port), timeout=5,
                                  source_address=(address, 0)) as sock:
        _, data = conn.append_batch(None, [str(n).encode() for n in range(first, first + EVENTS)])
        try:
            sock.sendall(data)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return None
                out, replies = conn.feed(chunk)
                for piece in out:
                    sock.sendall(piece)
                if replies:
                    return replies[0].status
        except ConnectionResetError:
            return None


def denied_count(agent: Agent) -> int:
    out = subprocess.run([str(BIN / "zflume"), "status", "--json", "--run-dir", str(agent.run_dir)],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return int(json.loads(out)["SOURCE.src"].get("DeniedConnectionCount", 0))


@pytest.mark.parametrize("rules", [
    "allow:ip:127.0.0.2,deny:ip:127.0.0.*",
    # a name rule first: names are looked up off the loop, then the ip rules decide
    "deny:name:nothing.invalid,allow:ip:127.0.0.2,deny:ip:127.0.0.*",
])
def test_first_matching_rule_admits_or_closes_the_client(tmp_path: Path, agents: list[Agent],
                                                         rules: str) -> None:
    port, out = free_ports(1), tmp_path / "out"
    out.mkdir()
    agent = Agent(tmp_path, "c", collector(port, out, rules))
    agents.append(agent)
    agent.start()
    wait_for(lambda: "listening on" in agent.log.read_text(), 10, "the source to listen")

    assert send_from("127.0.0.2", port, 0) is Status.OK
    assert send_from("127.0.0.3", port, 1000) is None
    assert send_from("127.0.0.1", port, 2000) is None
    assert send_from("127.0.0.2", port, 3000) is Status.OK

    wait_for(lambda: len(lines_in(out)) >= 2 * EVENTS, 10, "the allowed events")
    assert sorted(lines_in(out)) == [*range(EVENTS), *range(3000, 3000 + EVENTS)]
    assert denied_count(agent) == 2
    log = agent.log.read_text()
    denials = [line for line in log.splitlines() if "by ipFilter rule" in line]
    assert len(denials) == 2 and all("deny:ip:127.0.0.*" in line for line in denials)
    assert "127.0.0.3:" in denials[0] and "127.0.0.1:" in denials[1]
    assert "Traceback" not in log
