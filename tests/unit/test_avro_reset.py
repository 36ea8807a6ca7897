"""The avro sink's reset-connection-interval (FLUME-1926): the delivery connection is closed
and opened again once it is that old, between deliveries, and never otherwise."""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from typing import Iterator

import pytest

from proto.avro.codec import encode_events
from proto.avro.protocol import Status
from proto.avro.server import ServerConnection
from services.config.schema import SINKS
from services.sinks.avro import AvroWriter


class Collector:
    """A listening Avro server in a thread that answers every call OK and records, per
    connection, the bodies it received (the prober's empty calls add none)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.bodies: list[list[bytes]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            received: list[bytes] = []
            self.bodies.append(received)
            threading.Thread(target=self._serve, args=(sock, received), daemon=True).start()

    @staticmethod
    def _serve(sock: socket.socket, received: list[bytes]) -> None:
        conn = ServerConnection()
        with sock:
            while data := sock.recv(65536):
                out, calls = conn.feed(data)
                for call in calls:
                    received.extend(call.columns()[1])
                    out.append(conn.answer(call.serial, Status.OK))
                sock.sendall(b"".join(out))

    def delivery_connections(self) -> list[list[bytes]]:
        return [bodies for bodies in self.bodies if bodies]


@pytest.fixture
def collector() -> Iterator[Collector]:
    made = Collector()
    yield made
    made.listener.close()


def writer(port: int, reset_s: int) -> tuple[AvroWriter, Counter]:
    params = {key: param.default for key, param in SINKS["avro"].items()}
    params.update(hostname="127.0.0.1", port=port, **{"reset-connection-interval": reset_s})
    counters: Counter = Counter()
    return AvroWriter(params, counters, logging.getLogger("test")), counters


@pytest.mark.parametrize("reset_s, connections", [(1, 2), (0, 1)])
def test_the_delivery_connection_is_renewed_once_it_is_older_than_the_interval(
        collector: Collector, reset_s: int, connections: int) -> None:
    """Two deliveries 1.2 s apart go over two connections with an interval of 1 s, over one
    with 0 (never), and every event arrives once either way."""
    sink, counters = writer(collector.port, reset_s)
    try:
        assert sink.write_many([encode_events(None, [b"a", b"b"])]) == [None]
        time.sleep(1.2)
        assert sink.write_many([encode_events(None, [b"c"])]) == [None]
        assert counters["ConnectionCreatedCount"] == connections
        assert len(collector.delivery_connections()) == connections
        assert sorted(b for bodies in collector.delivery_connections() for b in bodies) == [
            b"a", b"b", b"c"]
    finally:
        sink.close()
