"""The netcat source: one event per line received on a TCP port (FLUME.md 4.3).

With `ack-every-event` each line is answered `OK` once its channel accepted it; a line longer
than `max-line-length` (newline included) is answered with Flume's FAILED text and the
connection is closed.
"""
from __future__ import annotations

import socket

from services.config.model import AgentConfig
from services.sources.base import SourceProcess

READ_BYTES = 65536


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""


class NetcatSource(SourceProcess):
    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.max_len = int(p["max-line-length"])
        self.ack = bool(p["ack-every-event"])
        self.encoding = p["encoding"]
        self.server = socket.create_server((p["bind"], int(p["port"])), reuse_port=False)
        self.server.setblocking(False)
        self.conns: dict[int, Connection] = {}
        self.on(self.server.fileno(), self._accept)

    def _accept(self, fd: int) -> None:
        try:
            sock, _ = self.server.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self.conns[sock.fileno()] = Connection(sock)
        self.counters["OpenConnectionCount"] = len(self.conns)
        self.on(sock.fileno(), self._read)

    def _read(self, fd: int) -> None:
        conn = self.conns[fd]
        try:
            data = conn.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(fd)
            return
        conn.buffer += data
        *lines, conn.buffer = conn.buffer.split(b"\n")
        if len(conn.buffer) >= self.max_len or any(len(line) + 1 > self.max_len for line in lines):
            self._too_long(fd, [line for line in lines if len(line) + 1 <= self.max_len])
            return
        self._submit(fd, lines)

    def _submit(self, fd: int, lines: list[bytes]) -> None:
        if not lines:
            return
        bodies = [line.decode(self.encoding, errors="replace").encode() for line in lines]
        conn = self.conns[fd]
        self.submit(bodies, on_accepted=lambda: self._acked(conn, len(bodies)))

    def _acked(self, conn: Connection, count: int) -> None:
        if self.ack:
            try:
                conn.sock.sendall(b"OK\n" * count)
            except OSError:
                pass  # the client left; its lines are in the channel all the same

    def _too_long(self, fd: int, good: list[bytes]) -> None:
        self.counters["EventReadFail"] += 1
        self._submit(fd, good)
        try:
            self.conns[fd].sock.sendall(b"FAILED: Event exceeds the maximum length (%d chars, "
                                        b"including newline)\n" % self.max_len)
        except OSError:
            pass
        self._close(fd)

    def _close(self, fd: int) -> None:
        self.off(fd)
        self.conns.pop(fd).sock.close()
        self.counters["OpenConnectionCount"] = len(self.conns)

    def begin_stop(self) -> None:
        self.off(self.server.fileno())
        self.server.close()
