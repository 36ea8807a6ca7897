"""Event ids and the dedupe interceptor across a real avro hop."""
from __future__ import annotations

import socket
from pathlib import Path

from proto.avro.client import ClientConnection
from proto.avro.protocol import Status
from tests.integration.harness import (Agent, collector_conf, free_ports, lines_in, port_open,
                                       wait_for)

DEDUPE = """
c.sources.s.interceptors = d
c.sources.s.interceptors.d.type = dedupe
"""


def send(port: int, batches: list[list[int]]) -> list[Status]:
    """appendBatch each batch of numbers, with `eventId` = the number, as a retrying client."""
    statuses = []
    conn = ClientConnection()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for numbers in batches:
            serial, data = conn.append_batch([{"eventId": f"x-{n}"} for n in numbers],
                                             [b"%d" % n for n in numbers])
            sock.sendall(data)
            while True:
                out, replies = conn.feed(sock.recv(65536))
                for chunk in out:
                    sock.sendall(chunk)
                if replies:
                    statuses.append(replies[0].status)
                    break
    return statuses


def test_a_retried_batch_reaches_the_final_sink_once(tmp_path: Path, agents: list[Agent]) -> None:
    """When a client sends the same batch again (a retry after a timeout or a failover), a
    collector with the dedupe interceptor accepts it (OK) but stores its events only once."""
    port = free_ports(1)
    agents.append(Agent(tmp_path, "c", collector_conf("c", port, "out") + DEDUPE).start())
    wait_for(lambda: port_open(port), 20, "the avro source")
    first = list(range(100))
    statuses = send(port, [first, first, first[50:] + [100, 101]])
    assert statuses == [Status.OK] * 3
    got = wait_for(lambda: len(n := lines_in(tmp_path / "out")) >= 102 and n, 20, "102 events")
    assert sorted(got) == list(range(102))

