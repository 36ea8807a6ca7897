"""The exec source: run a command and turn each line of its stdout into an event (FLUME.md 4.1).

Unlike Flume, a full channel never drops what was read: the batch is retried and reading pauses
(the pipe fills and the command blocks) until the channel has room. The child dies with us
(PR_SET_PDEATHSIG), so a kill -9 of the source leaves no orphaned `tail -F` behind.
"""
from __future__ import annotations

import ctypes
import os
import shlex
import signal
import subprocess
import threading
import time
from typing import IO

from services.config.model import AgentConfig
from services.sources.base import SourceProcess

READ_BYTES = 1 << 20
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def command_args(command: str, shell: str | None) -> list[str]:
    """Flume: without `shell` the command is split on whitespace; with it, passed whole."""
    if shell:
        return [*shell.split(), command]
    return command.split()


class LineSplitter:
    """Cuts a byte stream into lines (`\\n`, `\\r\\n`), keeping a partial last line."""

    def __init__(self, max_length: int) -> None:
        self.partial = b""
        self.max_length = max_length
        self.truncated = 0

    def feed(self, data: bytes) -> list[bytes]:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        return [self._fit(line[:-1] if line.endswith(b"\r") else line) for line in lines]

    def flush(self) -> list[bytes]:
        rest, self.partial = self.partial, b""
        return [self._fit(rest.rstrip(b"\r"))] if rest else []

    def _fit(self, line: bytes) -> bytes:
        if self.max_length and len(line) > self.max_length:
            self.truncated += 1
            return line[:self.max_length]
        return line


class ExecSource(SourceProcess):
    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.args = command_args(p["command"], p.get("shell"))
        self.batch_size = int(p["batchSize"])
        self.batch_timeout_s = p["batchTimeout"] / 1000.0
        self.lines = LineSplitter(int(p.get("maxLineLength", 0) or 0))
        self.pending: list[bytes] = []
        self.pending_since = 0.0
        self.child: subprocess.Popen[bytes] | None = None
        self.fd = -1
        self.reading = False
        self._spawn()
        self.every(min(self.batch_timeout_s, 0.25), self._flush_if_old)

    def _spawn(self) -> None:
        self.child = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
        self.log.info("started %s (pid %d)", shlex.join(self.args), self.child.pid)
        threading.Thread(target=self._stderr, args=(self.child.stderr,), daemon=True).start()
        self.fd = self.child.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.resume()

    def _stderr(self, stream: IO[bytes]) -> None:
        """Flume reads stderr always and logs it only with logStdErr."""
        for count, line in enumerate(stream, 1):
            if self.conf.params["logStdErr"]:
                self.log.info("StderrLogger[%d] = '%s'", count, line.decode(errors="replace").rstrip())

    def resume(self) -> None:
        if self.fd >= 0 and not self.reading and self.has_room() and not self.stopping:
            self.reading = True
            self.on(self.fd, self._on_readable)

    def _pause(self) -> None:
        if self.reading:
            self.reading = False
            self.off(self.fd)

    def _on_readable(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_BYTES)
        except BlockingIOError:
            return
        if not data:
            self._child_exited()
            return
        self._add(self.lines.feed(data))

    def _add(self, lines: list[bytes]) -> None:
        if lines and not self.pending:
            self.pending_since = time.monotonic()
        self.pending.extend(lines)
        while len(self.pending) >= self.batch_size:
            chunk, self.pending = self.pending[:self.batch_size], self.pending[self.batch_size:]
            self.submit(chunk)
            self.pending_since = time.monotonic()
        if not self.has_room():
            self._pause()

    def _flush_if_old(self) -> None:
        if self.pending and time.monotonic() - self.pending_since >= self.batch_timeout_s:
            chunk, self.pending = self.pending, []
            self.submit(chunk)

    def _child_exited(self) -> None:
        self._pause()
        self._add(self.lines.flush())
        if self.pending:
            chunk, self.pending = self.pending, []
            self.submit(chunk)
        code = self.child.wait() if self.child else None
        self.log.info("command exited with %s", code)
        self.fd = -1
        if self.conf.params["restart"] and not self.stopping:
            self.after(self.conf.params["restartThrottle"] / 1000.0, self._spawn)

    def begin_stop(self) -> None:
        """Stop reading; what was read is put before we exit."""
        self._pause()
        self._kill_child()
        if self.pending:
            chunk, self.pending = self.pending, []
            self.submit(chunk)

    def _kill_child(self) -> None:
        if self.child and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.child.kill()

    def close(self) -> None:
        self._kill_child()
        if self.lines.truncated:
            self.log.warning("%d lines were truncated to maxLineLength", self.lines.truncated)
