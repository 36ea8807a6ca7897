"""The local sinks: logger, file_roll and null (docs/flume.md 5.3-5.5)."""
from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any, Callable

from proto import batch
from proto.batch import Blob
from services.sinks.base import Batch, DeliveryFailed, OneByOne, SinkProcess

HEX_ROW = 16  # bytes per row of commons-io HexDump


def hex_dump(data: bytes) -> str:
    """commons-io `HexDump.dump(data, 0, out, 0)` as Flume's EventHelper trims it.

    Every row is `OFFSET XX XX .. ASCII` + newline; EventHelper cuts the first row's `00000000`
    offset and the final newline, so a body of up to 16 bytes shows as one row without an
    offset, and a larger maxBytesToLog adds rows that keep theirs.
    """
    rows = [_hex_row(offset, data[offset:offset + HEX_ROW])
            for offset in range(0, len(data), HEX_ROW)]
    return "\n".join(rows)[len("00000000"):]


def _hex_row(offset: int, chunk: bytes) -> str:
    hexes = "".join(f"{b:02X} " for b in chunk) + "   " * (HEX_ROW - len(chunk))
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
    return f"{offset:08X} {hexes}{text}"


def format_event(headers: dict[str, str], body: bytes, max_bytes: int) -> str:
    """`{ headers:{k=v, ...} body: 48 65 ...  He.. }`, Flume's EventHelper.dumpEvent.

    An empty body (or maxBytesToLog 0, where Flume prints a HexDump exception) shows nothing.
    """
    shown = ", ".join(f"{k}={v}" for k, v in headers.items())
    return f"{{ headers:{{{shown}}} body:{hex_dump(body[:max_bytes])} }}"


class LoggerWriter(OneByOne):
    """Logs each event at INFO, as Flume's LoggerSink."""

    def __init__(self, params: dict[str, Any], log: logging.Logger) -> None:
        self.max_bytes = params["maxBytesToLog"]
        self.log = log

    def write(self, headers: batch.Headers, bodies: list[bytes]) -> None:
        for event_headers, body in batch.events(headers, bodies):
            self.log.info("Event: %s", format_event(event_headers, body, self.max_bytes))

    def probe(self) -> tuple[bool, str]:
        return True, ""

    def close(self) -> None:
        pass


class NullWriter(OneByOne):
    """Discards everything, as Flume's NullSink."""

    def write(self, headers: batch.Headers, bodies: list[bytes]) -> None:
        pass

    def probe(self) -> tuple[bool, str]:
        return True, ""

    def close(self) -> None:
        pass


class FileRollWriter:
    """One body per line into `<prefix><startMillis>-<n>[.ext]`, a new file every rollInterval s.

    n counts from 1 and startMillis is fixed when the sink starts, as Flume's DefaultPathManager;
    rollInterval 0 keeps one file. Each batch goes to the OS in one write() before it is reported
    DELIVERED (no fsync: Flume's file_roll flushes, it does not sync). `clock` is injectable so
    rolling is testable without sleeping.
    """

    def __init__(self, params: dict[str, Any],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = params["sink.directory"]
        self.roll_s = float(params["sink.rollInterval"])
        self.prefix = params["sink.pathManager.prefix"]
        self.extension = params["sink.pathManager.extension"]
        self.newline = b"\n" if params["sink.serializer.appendNewline"] else b""
        self.clock = clock
        self.start_ms = int(time.time() * 1000)
        self.index = 0
        self.fd = -1
        self.size = 0  # bytes in the open file that whole writes put there
        self.opened_at = 0.0

    def path(self) -> str:
        """The file being written (or the last one written)."""
        suffix = f".{self.extension}" if self.extension else ""
        return os.path.join(self.directory, f"{self.prefix}{self.start_ms}-{self.index}{suffix}")

    def _roll_if_due(self) -> None:
        due = self.roll_s > 0 and self.clock() - self.opened_at >= self.roll_s
        if self.fd >= 0 and not due:
            return
        self.close()
        os.makedirs(self.directory, exist_ok=True)
        # A file of its own, never one another sink opened: sinks sharing a directory (the
        # copies `render --instances` makes of one collector) start within the same
        # millisecond, and a failed write cuts its file back to what this sink wrote.
        while self.fd < 0:
            self.index += 1
            with contextlib.suppress(FileExistsError):
                self.fd = os.open(self.path(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.size = 0
        self.opened_at = self.clock()

    def write_many(self, batches: list[Batch]) -> list[DeliveryFailed | None]:
        """All batches in one write(): they reach the file together or fail together."""
        try:
            self.write(None, [body for _, bodies in batches for body in bodies])
        except DeliveryFailed as exc:
            return [exc] * len(batches)
        return [None] * len(batches)

    def write(self, headers: batch.Headers, bodies: list[bytes]) -> None:
        """A write that fails part-way (a full disk) is cut off again, so the file never holds
        a torn line and the retried batch is not written twice."""
        if not bodies:
            return
        try:
            self._roll_if_due()
            payload = self.newline.join(bodies) + self.newline
            data = memoryview(payload)
            while data:
                data = data[os.write(self.fd, data):]
        except OSError as exc:
            self._truncate_to(self.size)
            self.close()
            raise DeliveryFailed(f"cannot write {self.path()}: {exc}", liveness=False) from exc
        self.size += len(payload)

    def _truncate_to(self, size: int) -> None:
        if self.fd >= 0:
            try:
                os.ftruncate(self.fd, size)
            except OSError:
                pass  # the write's own error is the one reported

    def probe(self) -> tuple[bool, str]:
        return True, ""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class LocalSink(SinkProcess[Batch]):
    """A sink that writes the events themselves: it decodes each transaction's blobs."""

    def prepare(self, blobs: list[Blob]) -> Batch:
        return batch.merge(blobs)


class LoggerSink(LocalSink):
    def make_writer(self, params: dict[str, Any]) -> LoggerWriter:
        # Events are logged under the sink's own name, so collectors sharing a terminal (the
        # demo) can be told apart; the line after the name is Flume's.
        return LoggerWriter(params, self.log)


class FileRollSink(LocalSink):
    def make_writer(self, params: dict[str, Any]) -> FileRollWriter:
        return FileRollWriter(params)


class NullSink(LocalSink):
    def make_writer(self, params: dict[str, Any]) -> NullWriter:
        return NullWriter()
