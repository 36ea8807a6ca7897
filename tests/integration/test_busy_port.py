"""A source whose port is taken says so once and binds it when it is free, never crash-looping."""
from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.integration.harness import Agent, collector_conf, free_ports, lines_in, wait_for
from tests.integration.test_orphans import TOTAL, sender_conf


def test_a_busy_port_is_one_log_line_and_retried_until_free(tmp_path: Path,
                                                             agents: list[Agent]) -> None:
    """With its port held by another process, the collector's avro source logs one line
    naming itself, the address and the reason, keeps running (same pid, no traceback) and
    retries every 3 s; once the port is free it listens and every event arrives, the sending
    agent having kept them meanwhile."""
    port = free_ports(1)
    squatter = socket.create_server(("127.0.0.1", port))
    try:
        collector = Agent(tmp_path, "c", collector_conf("c", port, str(tmp_path / "out"))).start()
        agents.append(collector)
        agents.append(Agent(tmp_path, "a", sender_conf(port)).start())
        pid = collector.pid("s")
        line = f"source.s: cannot listen on 127.0.0.1:{port}: Address already in use; retrying"
        wait_for(lambda: line in collector.log.read_text(), 10, "the busy-port line")
        time.sleep(7)  # two retries
        assert collector.pid("s") == pid
    finally:
        squatter.close()
    got = wait_for(lambda: len(n := set(lines_in(tmp_path / "out"))) >= TOTAL and n, 60,
                   "every event once the port is free")
    assert got == set(range(TOTAL))
    log = collector.log.read_text()
    assert log.count("cannot listen on") == 1, "one line, not one per retry"
    assert "Traceback" not in log
    assert "failed attempt(s)" in log
