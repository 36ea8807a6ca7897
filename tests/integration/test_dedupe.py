"""Event ids and the dedupe interceptor across a real avro hop."""
from __future__ import annotations

from pathlib import Path

from proto.avro.protocol import Status
from tests.integration.harness import (Agent, append_batches, collector_conf, free_ports,
                                       lines_in, port_open, wait_for)

DEDUPE = """
c.sources.s.interceptors = d
c.sources.s.interceptors.d.type = dedupe
"""


def test_a_retried_batch_reaches_the_final_sink_once(tmp_path: Path, agents: list[Agent]) -> None:
    """When a client sends the same batch again (a retry after a timeout or a failover), a
    collector with the dedupe interceptor accepts it (OK) but stores its events only once."""
    port = free_ports(1)
    agents.append(Agent(tmp_path, "c", collector_conf("c", port, "out") + DEDUPE).start())
    wait_for(lambda: port_open(port), 20, "the avro source")
    first = list(range(100))
    statuses = append_batches(port, [first, first, first[50:] + [100, 101]],
                              lambda n: {"eventId": f"x-{n}"})
    assert statuses == [Status.OK] * 3
    got = wait_for(lambda: len(n := lines_in(tmp_path / "out")) >= 102 and n, 20, "102 events")
    assert sorted(got) == list(range(102))

