"""The server side of one Avro RPC connection (Java's NettyServer + Responder), without I/O.

    conn = ServerConnection(known)          # one KnownProtocols per listening server
    out, calls = conn.feed(received)        # write every item of `out`, in order
    out = conn.answer(call.serial, Status.OK)   # any order: clients match responses by serial

Per frame, as Responder.respond does it:
    not yet established: HandshakeRequest -> HandshakeResponse; on NONE the frame is answered
        with the handshake alone and its call is NOT run (the client resends it)
    then meta, name: ""            -> answered with the handshake alone (a ping)
                     unknown name  -> a system error on the same serial, connection kept
                     append(Batch) -> a Call, to be answered with a Status or an error text
Once a handshake succeeded no later frame is read as one: a client that sends a second handshake
gets a system error here (a Java server hangs).
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

from .binary import encode_long
from .calls import error_buffers, read_request_head, response_buffers
from .codec import EMPTY, Headers, decode_events, scan_event, scan_events
from .compression import Compressor, Decompressor
from .errors import MalformedFrame, UnknownMessage
from .framing import (
    DEFAULT_MAX_FRAME_BYTES,
    Buffer,
    FrameDecoder,
    encode_frame,
    java_chunks,
    with_serial,
)
from .handshake import KnownProtocols, decode_request, encode_response
from .protocol import Protocol, Status

# Java's text for an exception a call raised; Flume's client logs it as the cause.
SYSTEM_ERROR_PREFIX = "org.apache.avro.AvroRuntimeException: "
ONE = encode_long(1)  # the block count of an array of one event


class Call(NamedTuple):
    """One call, its events checked but not decoded: a collector that needs no event relays
    `events` as they came (proto/batch.py's Avro form)."""
    serial: int
    message: str            # "append" (one event) or "appendBatch"
    events: bytes           # array<AvroFlumeEvent>; an `append`'s event as an array of one
    n: int                  # events
    nbytes: int             # body bytes, which a channel's byteCapacity counts

    def columns(self) -> tuple[Headers, list[bytes]]:
        """The events as columns; `headers` is None when no event has headers."""
        headers, bodies, _ = decode_events(self.events)
        return headers, bodies


class ServerConnection:
    """Bytes in, calls out, answers by serial. On AvroProtocolError close the connection."""

    def __init__(self, known: KnownProtocols | None = None, *,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, max_buffers: int | None = None,
                 deflate_level: int | None = None) -> None:
        self.known = known if known is not None else KnownProtocols()
        self._frames = FrameDecoder(max_frame_bytes, max_buffers)
        self._remote: Protocol | None = None     # the client's protocol, once a handshake succeeded
        self._compatible: frozenset[str] = frozenset()
        # serial -> (the handshake response its answer starts with, message)
        self._pending: dict[int, tuple[bytes, str]] = {}
        self._deflate = Compressor(deflate_level) if deflate_level is not None else None
        self._inflate = Decompressor() if deflate_level is not None else None
        # Calls answered with a system error here (malformed, unknown message, a second
        # handshake): the I/O layer takes them to count and log; the connection stays open.
        self.rejected: list[str] = []
        self._answers: dict[tuple[str, Status], bytes] = {}  # (message, status) -> its frame

    @property
    def established(self) -> bool:
        return self._remote is not None

    @property
    def pending(self) -> frozenset[int]:
        """Serials of the calls not answered yet."""
        return frozenset(self._pending)

    @property
    def has_partial_frame(self) -> bool:
        return self._frames.has_partial

    def feed(self, data: bytes) -> tuple[list[bytes], list[Call]]:
        """Bytes received -> (bytes to send now, in order; calls to answer)."""
        out: list[bytes] = []
        calls: list[Call] = []
        for piece in self._plain(data):
            for serial, payload in self._frames.feed(piece):
                buffers, call = self._on_frame(serial, payload)
                if buffers is not None:
                    out.append(self._send(serial, buffers))
                if call is not None:
                    calls.append(call)
        return out, calls

    def answer(self, serial: int, result: Status | str) -> bytes:
        """The response to call `serial` (KeyError if it is not pending): a Status, or a string
        sent as an Avro system error (Flume's client raises EventDeliveryException with it)."""
        handshake, message = self._pending.pop(serial)
        if not isinstance(result, Status):
            return self._send(serial, error_buffers(handshake, result))
        if handshake:
            symbols = self.known.local.status_symbols(message)
            return self._send(serial, response_buffers(handshake, symbols, result))
        # After the handshake a status answer differs only by its serial: framed once.
        framed = self._answers.get((message, result))
        if framed is None:
            symbols = self.known.local.status_symbols(message)
            framed = self._answers[message, result] = encode_frame(
                0, response_buffers(b"", symbols, result))
        return self._wire(with_serial(serial, framed))

    def _plain(self, data: bytes) -> Iterable[bytes]:
        return self._inflate.feed(data) if self._inflate is not None else (data,)

    def _send(self, serial: int, buffers: list[Buffer]) -> bytes:
        return self._wire(encode_frame(serial, buffers))

    def _wire(self, frame: bytes) -> bytes:
        """A frame as it goes out: deflated when the connection is."""
        return self._deflate.compress(frame) if self._deflate is not None else frame

    def _on_frame(self, serial: int, payload: bytes) -> tuple[list[Buffer] | None, Call | None]:
        """(buffers to answer at once, or a call to hand up) for one request frame."""
        if serial in self._pending:
            raise MalformedFrame(f"serial {serial} reused while its call is pending")
        handshake, pos = b"", 0
        if self._remote is None:
            handshake, pos = self._handshake(payload)
        remote = self._remote
        if remote is None:
            return java_chunks(handshake), None
        try:
            message, pos = read_request_head(payload, pos)
            if not message:
                return java_chunks(handshake), None
            call = self._decode_call(remote, serial, message, payload, pos)
        except (MalformedFrame, UnknownMessage) as exc:
            self.rejected.append(str(exc))
            return error_buffers(handshake, f"{SYSTEM_ERROR_PREFIX}{exc}"), None
        self._pending[serial] = (handshake, message)
        return None, call

    def _handshake(self, payload: bytes) -> tuple[bytes, int]:
        """Run Responder.handshake; the encoded response and where the call starts."""
        request, pos = decode_request(payload)
        response, remote = self.known.answer(request)
        if remote is not None:
            self._remote = remote
            local = self.known.local.requests
            self._compatible = frozenset(m for m in local if remote.requests.get(m) == local[m])
        return encode_response(response), pos

    def _decode_call(self, remote: Protocol, serial: int, message: str, payload: bytes,
                     pos: int) -> Call:
        """Call `serial` of `message` with its events read from `payload` at `pos`."""
        if message not in remote.requests:
            raise UnknownMessage(f"No such remote message: {message}")
        if message not in self.known.local.requests:
            raise UnknownMessage(f"No message named {message} in {self.known.local.name}")
        if message not in self._compatible:
            raise UnknownMessage(f"{message} of the client's {remote.name} does not read as ours")
        if message == "append":
            nbytes, end = scan_event(payload, pos)
            return Call(serial, message, b"".join((ONE, payload[pos:end], EMPTY)), 1, nbytes)
        count, nbytes, marker, end = scan_events(payload, pos)
        # Relayed arrays are joined by cutting off their end marker: keep it the one byte 00.
        events = payload[pos:end] if end - marker == 1 else payload[pos:marker] + EMPTY
        return Call(serial, message, events, count, nbytes)
