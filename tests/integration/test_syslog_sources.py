"""The syslog sources under a real agent: every TCP message arrives; UDP datagrams at a pace."""
from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.integration.harness import Agent, wait_for
from tests.integration.test_sources import (all_lines, connect, free_port, pipeline, start,
                                            zflume_status)


def message(n: int) -> bytes:
    """RFC 3164 and RFC 5424 in turn, each with body `n` (the text after the host name)."""
    if n % 2:
        return b"<13>Oct 11 22:14:15 web1 %d\n" % n
    return b"<34>1 2003-10-11T22:14:15.003Z web2 %d\n" % n


def test_syslogtcp_loses_none_of_10000_messages_in_a_small_channel(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When two clients send 10,000 messages as fast as they can into a channel of 200, TCP
    pushes back while it is full and every message arrives once, cut or not across reads."""
    port = free_port()
    start(tmp_path, agents, pipeline(
        f"a.sources.s.type = syslogtcp\na.sources.s.host = 127.0.0.1\na.sources.s.port = {port}\n"
        "a.sources.s.clientIPHeader = ip", capacity=200))
    clients = [connect(port), connect(port)]
    for n in range(10_000):
        clients[n % 2].sendall(message(n))
    for client in clients:
        client.close()
    assert sorted(all_lines(tmp_path, "k", 10_000, timeout=60)) == list(range(10_000))


def test_syslogudp_stores_each_datagram(tmp_path: Path, agents: list[Agent]) -> None:
    """When syslog datagrams arrive (at a pace loopback does not drop), each is one event."""
    port = free_port()
    agent = start(tmp_path, agents, pipeline(
        f"a.sources.s.type = syslogudp\na.sources.s.host = 127.0.0.1\na.sources.s.port = {port}"))
    wait_for(lambda: zflume_status(agent).get("SOURCE.s"), 15, "the syslogudp source")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for n in range(200):
            sender.sendto(message(n), ("127.0.0.1", port))
            time.sleep(0.002)
    assert sorted(all_lines(tmp_path, "k", 200)) == list(range(200))


def test_multiport_syslogtcp_reads_every_port(tmp_path: Path, agents: list[Agent]) -> None:
    """When messages arrive on two ports of one multiport source, each with a line Flume's
    handler throws on, every message is stored, the bad line as an Invalid event."""
    first, second = free_port(), free_port()
    start(tmp_path, agents, pipeline(
        f"a.sources.s.type = multiport_syslogtcp\na.sources.s.host = 127.0.0.1\n"
        f"a.sources.s.ports = {first} {second}\na.sources.s.portHeader = port\n"
        f"a.sources.s.charset.port.{second} = ISO-8859-1"))
    clients = [connect(first), connect(second)]
    for n in range(1000):
        clients[n % 2].sendall(b"<13>- h %d\n" % n)
        if n == 500:
            clients[0].sendall(b"\n999999\n")  # an empty line, then one without a priority
    for client in clients:
        client.close()
    assert sorted(all_lines(tmp_path, "k", 1001)) == [*range(1000), 999999]
