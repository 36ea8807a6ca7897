"""A source's listening TCP socket (or its UDP socket), bound as soon as its address is free.

A port still held by someone else (a process of a previous run, another agent of the same file)
must not crash-loop the source with a traceback until supervisord gives up on it: the source
logs one line naming its address and the reason, and tries again every BIND_RETRY_S, as Flume's
lifecycle supervisor restarts a component that failed to start.
"""
from __future__ import annotations

import os
import socket
from typing import Any, Callable

from services.process import Process

BIND_RETRY_S = 3.0


class Listener:
    """Binds `bind:port` now or later; `on_accept(fd)` runs whenever a client is waiting (with
    `datagram`, whenever a datagram is)."""

    def __init__(self, proc: Process, bind: str, port: int, on_accept: Callable[[Any], None],
                 backlog: int | None = None, datagram: bool = False) -> None:
        self.proc = proc
        self.address = (bind, port)
        self.on_accept = on_accept
        self.backlog = backlog
        self.datagram = datagram
        self.sock: socket.socket | None = None
        self.failures = 0
        self._try()

    def _try(self) -> None:
        if self.proc.stopping:
            return
        try:
            sock = self._datagram_socket() if self.datagram else socket.create_server(
                self.address, backlog=self.backlog)
        except OSError as exc:
            self.failures += 1
            self.proc.counters["BindFailureCount"] += 1
            if self.failures == 1:
                self.proc.log.error("cannot listen on %s:%d: %s; retrying every %.0f s",
                                    *self.address, os.strerror(exc.errno) if exc.errno else exc,
                                    BIND_RETRY_S)
            self.proc.after(BIND_RETRY_S, self._try)
            return
        sock.setblocking(False)
        self.sock = sock
        self.proc.on(sock.fileno(), self.on_accept)
        again = f" after {self.failures} failed attempt(s)" if self.failures else ""
        self.proc.log.info("listening on %s:%d%s", *self.address, again)

    def _datagram_socket(self) -> socket.socket:
        family = socket.getaddrinfo(*self.address, type=socket.SOCK_DGRAM)[0][0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(self.address)
        except OSError:
            sock.close()
            raise
        return sock

    def accept(self) -> tuple[socket.socket, Any] | None:
        """A waiting client, or None (none after all, or accept failed: it waits in the
        backlog, e.g. while descriptors run out)."""
        if self.sock is None:
            return None
        try:
            return self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self.proc.log.warning("cannot accept a connection: %s", exc)
            return None

    def close(self) -> None:
        if self.sock is not None:
            self.proc.off(self.sock.fileno())
            self.sock.close()
            self.sock = None
