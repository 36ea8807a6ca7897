"""The syslog UDP source: Flume's SyslogUDPSource, one event per datagram.

Each datagram is parsed as Flume 1.11 does (services/sources/syslog/utils.py: its first 2048
bytes, up to the first newline; one that gives no priority at all is dropped and counted in
EventReadFail). `clientIPHeader` names a header for the sender's address; `clientHostnameHeader`
one for the sender's address too, as a name lookup per datagram would stall the loop (a
documented difference). UDP is lossy, in Flume and here: while the channel is full the source
stops reading and the kernel drops what its receive buffer cannot hold. Datagrams read in one
loop turn (at most READ_BURST) are put as one transaction.
"""
from __future__ import annotations

import socket

from services import counters
from services.config.model import AgentConfig
from services.sources.base import SourceProcess
from services.sources.listener import Listener
from services.sources.syslog.utils import parse_datagram
from services.sources.syslogtcp import client_headers

DATAGRAM_BYTES = 65535
READ_BURST = 1000


class SyslogUdpSource(SourceProcess):
    EXTRA_COUNTERS = (*counters.ANY_SOURCE, *counters.LISTENING_SOURCE)

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.keep_fields = p["keepFields"]
        self.ip_header = p["clientIPHeader"]
        self.name_header = p["clientHostnameHeader"]
        self.listener = Listener(self, p["host"], p["port"], self._read, datagram=True)
        self.reading = True

    def _read(self, fd: int) -> None:
        sock = self.listener.sock
        if sock is None:
            return
        bodies: list[bytes] = []
        headers: list[dict[str, str]] = []
        for _ in range(READ_BURST):
            try:
                data, addr = sock.recvfrom(DATAGRAM_BYTES, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            event = parse_datagram(data, self.keep_fields)
            if event is None:
                self.counters["EventReadFail"] += 1
                continue
            body, header = client_headers([event], self.ip_header, addr[0], self.name_header,
                                          addr[0])
            bodies += body
            headers += header
        if bodies:
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
