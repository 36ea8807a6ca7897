"""The exec source: run a command and turn each line of its stdout into an event
(docs/flume.md 4.1).

Unlike Flume, a full channel never drops what was read: the batch is retried and reading pauses
(the pipe fills and the command blocks) until the channel has room. At most the source's window
of batches is in flight; lines read beyond it wait in `Pending`. The child dies with us
(PR_SET_PDEATHSIG), so a kill -9 of the source leaves no orphaned `tail -F` behind; on a
supervisord stop the whole process group gets SIGTERM, pipelines under `shell` included.
"""
from __future__ import annotations

import fcntl
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from typing import IO

from services.config.model import AgentConfig
from services.parent import parent_death_signal
from services.sources.base import SourceProcess

READ_BYTES = 1 << 20
PIPE_BYTES = 1 << 20  # the stdout pipe's size: a busy command's lines come a megabyte a read
EOF_GRACE_S = 1.0  # a command that closed its stdout has this long to exit by itself
REAP_TIMEOUT_S = 2.0  # SIGTERM, then this long before SIGKILL
_LINE_END = re.compile(rb"\r\n|\r|\n")
def command_args(command: str, shell: str | None) -> list[str]:
    """Flume: without `shell` the command is split on whitespace; with it, passed whole."""
    if shell:
        return [*shell.split(), command]
    return command.split()


class LineSplitter:
    """Cuts a byte stream into lines at `\\n`, `\\r\\n` or `\\r` (Java's readLine), keeping a
    partial last line. With `max_length` > 0 a longer line is cut to that length and the rest
    of it dropped (counted in `truncated`), so a line without end cannot exhaust memory."""

    def __init__(self, max_length: int = 0) -> None:
        self.partial = b""
        self.max_length = max_length
        self.truncated = 0
        self._cutting = False  # the partial line was already truncated

    def feed(self, data: bytes) -> list[bytes]:
        text = self.partial + data
        # A trailing \r may be the first half of \r\n: keep it until the next read decides.
        held = text.endswith(b"\r")
        if held:
            text = text[:-1]
        if b"\r" in text:
            lines = _LINE_END.split(text)
        else:
            lines = text.split(b"\n")
        rest = lines.pop()
        if self._cutting or (self.max_length and lines
                             and max(map(len, lines)) > self.max_length):
            lines = [self._fit(line) for line in lines]  # the rare path: per-line work
        self.partial = self._bound(rest) + (b"\r" if held else b"")
        return lines

    def flush(self) -> list[bytes]:
        """The last line of a stream that ended without a line terminator."""
        rest, self.partial = self.partial, b""
        rest = rest[:-1] if rest.endswith(b"\r") else rest
        if not rest and not self._cutting:
            return []
        return [self._fit(rest)]

    def _fit(self, line: bytes) -> bytes:
        """A complete line, cut to max_length; counted once however it was cut."""
        cut, self._cutting = self._cutting, False
        if self.max_length and len(line) > self.max_length:
            cut = True
            line = line[:self.max_length]
        if cut:
            self.truncated += 1
        return line

    def _bound(self, partial: bytes) -> bytes:
        """Keep at most max_length bytes of an unfinished line."""
        if self.max_length and len(partial) > self.max_length:
            self._cutting = True
            return partial[:self.max_length]
        return partial


class Pending:
    """Lines read and not yet handed to the channel; `since` is when the oldest arrived."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.lines: list[bytes] = []
        self.start = 0
        self.since = 0.0

    def __len__(self) -> int:
        return len(self.lines) - self.start

    def add(self, lines: list[bytes], now: float) -> None:
        if lines and not len(self):
            self.since = now
        self.lines.extend(lines)

    def take(self, now: float) -> list[bytes]:
        """Up to one batch, oldest first."""
        end = self.start + self.batch_size
        chunk = self.lines[self.start:end]
        self.start = min(end, len(self.lines))
        if self.start * 2 >= len(self.lines):  # compact now and then, not per batch
            del self.lines[:self.start]
            self.start = 0
        self.since = now
        return chunk



def signal_group(pgid: int, sig: int) -> None:
    """Signal the process group of a command started with process_group=0, if any is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass

class ExecSource(SourceProcess):
    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        p = self.conf.params
        self.args = command_args(p["command"], p["shell"])
        self.batch_timeout_s = p["batchTimeout"] / 1000.0
        self.lines = LineSplitter(p["maxLineLength"])
        self.pending = Pending(int(p["batchSize"]))
        self.child: subprocess.Popen[bytes] | None = None
        self.fd = -1
        self.reading = False
        self._spawn()
        self.every(min(self.batch_timeout_s, 0.25), self._submit_ready)

    # -- the child --------------------------------------------------------------------------
    def _spawn(self) -> None:
        if self.stopping:
            return
        try:
            # Its own process group, so a stop reaches every member of a shell pipeline
            # (`tail -F f | cat`), not only the shell: the source may be told to stop before
            # supervisord signals the program's group, or by a direct SIGTERM.
            self.child = subprocess.Popen(
                self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, preexec_fn=parent_death_signal(signal.SIGKILL),
                process_group=0)
        except OSError as exc:
            self.log.error("cannot run %s: %s", shlex.join(self.args), exc)
            self._restart_later()
            return
        self.log.info("started %s (pid %d)", shlex.join(self.args), self.child.pid)
        threading.Thread(target=self._stderr, args=(self.child.stderr,), daemon=True).start()
        assert self.child.stdout is not None  # stdout=PIPE
        self.fd = self.child.stdout.fileno()
        os.set_blocking(self.fd, False)
        self._widen_pipe()
        self.resume()

    def _widen_pipe(self) -> None:
        """A 64 KiB pipe hands a command writing as fast as it can 650 lines of 100 bytes per
        read, so the source woke (and paid a wake-up and a read) per 650 events; a 1 MiB pipe
        lets a read take up to ten thousand. Beyond /proc/sys/fs/pipe-max-size the kernel
        refuses, and the default pipe serves as before."""
        try:
            fcntl.fcntl(self.fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except OSError as exc:
            self.log.debug("stdout pipe stays at its default size: %s", exc)

    def _restart_later(self) -> None:
        if self.conf.params["restart"] and not self.stopping:
            self.after(self.conf.params["restartThrottle"] / 1000.0, self._spawn)

    def _stderr(self, stream: IO[bytes]) -> None:
        """Flume reads stderr always and logs it only with logStdErr."""
        with stream:
            self._log_stderr(stream)

    def _log_stderr(self, stream: IO[bytes]) -> None:
        for count, line in enumerate(stream, 1):
            if self.conf.params["logStdErr"]:
                text = line.decode(errors="replace").rstrip()
                self.log.info("StderrLogger[%d] = '%s'", count, text)

    def _child_exited(self) -> None:
        """End of stdout: the last partial line is an event; the command is reaped and
        restarted if `restart`."""
        self._pause()
        self.pending.add(self.lines.flush(), time.monotonic())
        if self.child and self.child.stdout:
            self.child.stdout.close()
        self.fd = -1
        self.log.info("command exited with %s", self._reap(EOF_GRACE_S))
        self._submit_ready()
        self._restart_later()

    def _reap(self, grace_s: float = 0.0) -> int | None:
        """The child's exit status once it ended: it gets `grace_s` to exit by itself, then
        SIGTERM, then SIGKILL (Flume destroys the command at end of stream too)."""
        child = self.child
        if child is None:
            return None
        try:
            child.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            signal_group(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout=REAP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                signal_group(child.pid, signal.SIGKILL)
                child.wait(timeout=REAP_TIMEOUT_S)
        signal_group(child.pid, signal.SIGKILL)  # members the command left behind
        return child.returncode

    # -- reading ----------------------------------------------------------------------------
    def _on_readable(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_BYTES)
        except BlockingIOError:
            return
        if not data:
            self._child_exited()
            return
        self.pending.add(self.lines.feed(data), time.monotonic())
        self._submit_ready()

    def _submit_ready(self) -> None:
        """Hand batches over while the window has room: full ones always, a partial one once
        it is batchTimeout old, or at once when no more lines can come (EOF, stopping)."""
        while len(self.pending) and self.has_room():
            full = len(self.pending) >= self.pending.batch_size
            old = time.monotonic() - self.pending.since >= self.batch_timeout_s
            if not (full or old or self.fd < 0 or self.stopping):
                break
            self.submit(self.pending.take(time.monotonic()))
        self._pause_or_read()

    def _pause_or_read(self) -> None:
        """Read only while a batch can go out, so a full channel stops the command's pipe."""
        if self.has_room() and len(self.pending) < self.pending.batch_size:
            self._read_more()
        else:
            self._pause()

    def _read_more(self) -> None:
        if self.fd >= 0 and not self.reading and not self.stopping:
            self.reading = True
            self.on(self.fd, self._on_readable)

    def _pause(self) -> None:
        if self.reading:
            self.reading = False
            self.off(self.fd)

    def resume(self) -> None:
        self._submit_ready()

    # -- stop -------------------------------------------------------------------------------
    def begin_stop(self) -> None:
        """Stop reading and the command; what was read is put before we exit."""
        self._pause()
        self._reap()
        self._submit_ready()

    def drained(self) -> bool:
        return super().drained() and not len(self.pending)

    def stats(self) -> dict[str, object]:
        report = super().stats()
        report["TruncatedLineCount"] = self.lines.truncated
        return report

    def close(self) -> None:
        self._reap()
        if self.lines.truncated:
            self.log.warning("%d lines were truncated to maxLineLength", self.lines.truncated)
