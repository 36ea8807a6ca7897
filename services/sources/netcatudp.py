"""The netcat UDP source: Flume's NetcatUdpSource, one event per datagram.

The body is the datagram up to its first `\\n` (the rest of it is dropped, as in Flume; a
datagram is read whole, where Flume's Netty reads its first 2048 bytes only). With
`remoteAddress` set, that header holds the sender as Java prints it (`/127.0.0.1:5140`); Flume
without it puts a header with no name, which no sink can write, so zflume adds none. UDP is
lossy, in Flume and here: while the channel is full the source stops reading, and what the
kernel's receive buffer cannot hold is dropped by the kernel. Datagrams read in one loop turn
(at most READ_BURST) are put as one transaction.
"""
from __future__ import annotations

import socket

from services import counters
from services.config.model import AgentConfig
from services.sources.base import SourceProcess
from services.sources.listener import Listener

DATAGRAM_BYTES = 65535
READ_BURST = 1000


def java_address(addr: tuple) -> str:
    """InetSocketAddress.toString() of a literal address: `/host:port`."""
    return f"/{addr[0]}:{addr[1]}"


class NetcatUdpSource(SourceProcess):
    EXTRA_COUNTERS = (*counters.ANY_SOURCE, *counters.LISTENING_SOURCE)

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.address_header = p["remoteAddress"]
        self.listener = Listener(self, p["bind"], p["port"], self._read, datagram=True)
        self.reading = True

    def _read(self, fd: int) -> None:
        sock = self.listener.sock
        if sock is None:
            return
        bodies: list[bytes] = []
        senders: list[str] = []
        for _ in range(READ_BURST):
            try:
                data, addr = sock.recvfrom(DATAGRAM_BYTES, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            bodies.append(data.split(b"\n", 1)[0])
            senders.append(java_address(addr))
        if not bodies:
            return
        headers = ([{self.address_header: sender} for sender in senders]
                   if self.address_header else None)
        self.submit_chunked(bodies, headers)
        if not self.has_room():
            self.reading = False
            self.pause_reading(fd)

    def resume(self) -> None:
        sock = self.listener.sock
        if not self.reading and sock is not None and self.has_room() and not self.stopping:
            self.reading = True
            self.on(sock.fileno(), self._read)

    def begin_stop(self) -> None:
        self.listener.close()
