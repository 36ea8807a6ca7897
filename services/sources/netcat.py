"""The netcat source: one event per line received on a TCP port (docs/flume.md 4.3).

A line is everything before `\\n` (a `\\r` stays in the body), decoded with `encoding` and
stored as UTF-8. With `ack-every-event` each line is answered `OK` once its channel accepted it.
A line longer than `max-line-length` characters, newline included, is answered with Flume's
FAILED text after the lines before it were acknowledged, and the connection is closed. Unlike
Flume, a full channel is waited out rather than answered FAILED: the source stops reading from
every connection until its window of batches has room, so TCP pushes back on the clients.
"""
from __future__ import annotations

import functools
import socket
from typing import Callable

from services import counters
from services.config.model import AgentConfig
from services.sources.base import SourceProcess
from services.sources.listener import Listener

READ_BYTES = 65536
SEND_TIMEOUT_S = 1.0  # a client that does not read its acknowledgements is disconnected


def split_lines(data: bytes, encoding: str, max_len: int) -> tuple[list[str], bytes, bool]:
    """(complete lines before any too long one, unfinished rest, whether one was too long).

    A line is too long when its characters plus the newline exceed `max_len`; an unfinished
    line is too long once it can no longer end within the limit, as Flume's full CharBuffer.
    """
    *raw, rest = data.split(b"\n")
    lines = [line.decode(encoding, errors="replace") for line in raw]
    for index, line in enumerate(lines):
        if len(line) + 1 > max_len:
            return lines[:index], b"", True
    unfinished = rest.decode(encoding, errors="replace")
    return lines, rest, len(unfinished) + 1 > max_len


class Connection:
    """One client: its socket and the bytes of a line not complete yet."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.buffer = b""
        self.open = True
        self.reading = False
        self.refused = False  # a too long line was read: nothing more is read from it


class NetcatSource(SourceProcess):
    EXTRA_COUNTERS = (*counters.ANY_SOURCE, *counters.LISTENING_SOURCE)

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.max_len = int(p["max-line-length"])
        self.ack = bool(p["ack-every-event"])
        self.encoding = p["encoding"]
        self.conns: dict[int, Connection] = {}
        self.listener = Listener(self, p["bind"], int(p["port"]), self._accept)

    def _accept(self, fd: int) -> None:
        accepted = self.listener.accept()
        if accepted is None:
            return
        sock = accepted[0]
        # Reads happen only when poll says readable; the timeout bounds a blocked ack.
        sock.settimeout(SEND_TIMEOUT_S)
        conn = Connection(sock)
        self.conns[conn.fd] = conn
        self.counters["OpenConnectionCount"] = len(self.conns)
        if self.has_room():
            self._listen(conn)

    def _read(self, fd: int) -> None:
        conn = self.conns[fd]
        try:
            data = conn.sock.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError, TimeoutError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)  # as Flume, an unfinished last line is not an event
            return
        lines, conn.buffer, too_long = split_lines(conn.buffer + data, self.encoding,
                                                   self.max_len)
        if too_long:
            conn.refused = True
            self._unlisten(conn)
            self._submit(conn, lines, then=lambda: self._refuse(conn))
        else:
            self._submit(conn, lines)
        if not self.has_room():
            self._pause()

    def _submit(self, conn: Connection, lines: list[str],
                then: Callable[[], None] | None = None) -> None:
        """Put the lines as one batch; acknowledge them once accepted, then run `then`."""
        if not lines:
            if then:
                then()
            return
        bodies = [line.encode() for line in lines]
        chunks = [bodies[at:at + self.txn_limit] for at in range(0, len(bodies), self.txn_limit)]
        for index, chunk in enumerate(chunks):
            last = then if index == len(chunks) - 1 else None
            self.submit(chunk, on_accepted=functools.partial(self._accepted, conn, len(chunk),
                                                             last))

    def _accepted(self, conn: Connection, count: int, then: Callable[[], None] | None) -> None:
        if self.ack:
            self._send(conn, b"OK\n" * count)
        if then:
            then()

    def _refuse(self, conn: Connection) -> None:
        self.counters["EventReadFail"] += 1
        self._send(conn, b"FAILED: Event exceeds the maximum length (%d chars, including "
                         b"newline)\n" % self.max_len)
        self._close(conn)

    def _send(self, conn: Connection, data: bytes) -> None:
        if not conn.open:
            return  # the client left; its lines are in the channel all the same
        try:
            conn.sock.sendall(data)
        except OSError as exc:
            self.log.warning("cannot answer a client (%s); closing its connection", exc)
            self._close(conn)

    def _close(self, conn: Connection) -> None:
        if not conn.open:
            return
        self._unlisten(conn)
        conn.open = False
        del self.conns[conn.fd]
        conn.sock.close()
        self.counters["OpenConnectionCount"] = len(self.conns)

    # -- flow control -----------------------------------------------------------------------
    def _listen(self, conn: Connection) -> None:
        if conn.open and not conn.reading and not conn.refused and not self.stopping:
            conn.reading = True
            self.on(conn.fd, self._read)

    def _unlisten(self, conn: Connection) -> None:
        if conn.reading:
            conn.reading = False
            self.off(conn.fd)

    def _pause(self) -> None:
        for conn in self.conns.values():
            self._unlisten(conn)

    def resume(self) -> None:
        if self.has_room():
            for conn in self.conns.values():
                self._listen(conn)

    # -- stop -------------------------------------------------------------------------------
    def begin_stop(self) -> None:
        """Take no new connection and no new line; lines already read are still put."""
        self.listener.close()
        self._pause()

    def close(self) -> None:
        for conn in list(self.conns.values()):
            self._close(conn)
