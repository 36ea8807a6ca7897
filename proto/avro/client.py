"""The client side of one Avro RPC connection (Java's NettyTransceiver + Requestor), without I/O.

    conn = ClientConnection(remote=cached)          # cached: the server's protocol from an earlier
    serial, data = conn.append_batch(headers, bodies)   # connection to that address, or None
    out, replies = conn.feed(received)              # write every item of `out` (a NONE resend)
    conn.remote                                     # what to cache for the next connection

The first call of a connection carries the handshake (clientHash, our text only after a NONE,
serverHash = the cached server's hash, or ours as a guess, meta = {}). Until its reply arrives
no other call may go out (NotReady): Java serialises it behind a lock, and a second handshake
on an established connection hangs a Java server. On NONE the same call is resent under a new
serial with our protocol text; its Reply still carries the serial the caller was given.
Responses may come in any order; they are matched by serial. `protocol` is the text and hash
announced; events are always written in Flume's layout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

from .calls import read_response, request_head
from .codec import Headers, encode_event, encode_events
from .compression import Compressor, Decompressor
from .errors import HandshakeError, NotReady, UnknownSerial
from .framing import DEFAULT_MAX_FRAME_BYTES, Buffer, FrameDecoder, encode_frame, java_chunks
from .handshake import HandshakeRequest, Match, decode_response, encode_request
from .protocol import FLUME_PROTOCOL, Protocol, Status

_INT32 = 1 << 32


class Reply(NamedTuple):
    """The outcome of one call: a Status, or the text of the server's error."""
    serial: int
    status: Status | None
    error: str | None


@dataclass(frozen=True)
class _Call:
    serial: int              # the serial the caller was given
    message: str
    params: list[Buffer]     # kept for a resend after NONE


class ClientConnection:
    """Calls in, frames out, replies by serial. On AvroProtocolError close the connection."""

    def __init__(self, protocol: Protocol = FLUME_PROTOCOL, remote: Protocol | None = None, *,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, max_buffers: int | None = None,
                 deflate_level: int | None = None) -> None:
        self.protocol = protocol
        self.remote = remote if remote is not None else protocol  # Java guesses "same as ours"
        self._frames = FrameDecoder(max_frame_bytes, max_buffers)
        self._serial = 0
        self._established = False
        self._send_text = False
        self._handshake_serial: int | None = None   # wire serial of the call carrying the handshake
        self._calls: dict[int, _Call] = {}          # wire serial -> call in flight
        self._deflate = Compressor(deflate_level) if deflate_level is not None else None
        self._inflate = Decompressor() if deflate_level is not None else None

    @property
    def established(self) -> bool:
        return self._established

    @property
    def ready(self) -> bool:
        """True when a call may be sent now (no handshake call in flight)."""
        return self._established or self._handshake_serial is None

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    @property
    def has_partial_frame(self) -> bool:
        return self._frames.has_partial

    def append(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """One event; (serial, bytes to write)."""
        return self._call("append", encode_event(headers, body))

    def append_batch(self, headers: Headers, bodies: list[bytes]) -> tuple[int, bytes]:
        """A batch in columns (proto/batch.py); (serial, bytes to write). Empty is a legal ping."""
        return self.append_events(encode_events(headers, bodies))

    def append_events(self, events: bytes) -> tuple[int, bytes]:
        """appendBatch of an encoded array<AvroFlumeEvent> (proto/batch.py's `avro_array`)."""
        return self._call("appendBatch", events)

    def close(self) -> bytes:
        """The last bytes to write before closing: the end of the deflate stream, if any."""
        return self._deflate.finish() if self._deflate is not None else b""

    def feed(self, data: bytes) -> tuple[list[bytes], list[Reply]]:
        """Bytes received -> (bytes to write now, replies)."""
        out: list[bytes] = []
        replies: list[Reply] = []
        for piece in self._plain(data):
            for serial, payload in self._frames.feed(piece):
                call = self._calls.pop(serial, None)
                if call is None:
                    raise UnknownSerial(f"response {serial} answers no call in flight")
                pos = self._read_handshake(payload) if serial == self._handshake_serial else 0
                if pos is None:
                    out.append(self._send(call))
                    continue
                symbols = self.remote.status_symbols(call.message)
                status, error = read_response(payload, pos, symbols)
                replies.append(Reply(call.serial, status, error))
        return out, replies

    def _call(self, message: str, params: bytes) -> tuple[int, bytes]:
        if not self.ready:
            raise NotReady("the connection's first call (its handshake) has not been answered yet")
        call = _Call(self._next_serial(), message, java_chunks(params))
        return call.serial, self._send(call, call.serial)

    def _send(self, call: _Call, serial: int | None = None) -> bytes:
        """Frame `call` under `serial` (a new one for a resend), with the handshake if needed."""
        serial = self._next_serial() if serial is None else serial
        handshake = b""
        if not self._established:
            text = self.protocol.text if self._send_text else None
            request = HandshakeRequest(self.protocol.md5, text, self.remote.md5, {})
            handshake = encode_request(request)
            self._handshake_serial = serial
        self._calls[serial] = call
        head = java_chunks(request_head(handshake, call.message))
        frame = encode_frame(serial, [*head, *call.params])
        return self._deflate.compress(frame) if self._deflate is not None else frame

    def _read_handshake(self, payload: bytes) -> int | None:
        """Requestor.readHandshake: where the response starts, or None to resend (NONE)."""
        response, pos = decode_response(payload)
        self._handshake_serial = None
        if response.match is not Match.BOTH:
            if response.server_protocol is None or response.server_hash is None:
                raise HandshakeError(f"{response.match.value} without the server's protocol")
            self.remote = Protocol.parse(response.server_protocol, response.server_hash)
        if response.match is Match.NONE:
            if self._send_text:
                raise HandshakeError("the server refused our protocol text")
            self._send_text = True
            return None
        self._established = True
        return pos

    def _next_serial(self) -> int:
        """Java's AtomicInteger.incrementAndGet: 1, 2, ... wrapping to -2**31."""
        self._serial = (self._serial + 1 + _INT32 // 2) % _INT32 - _INT32 // 2
        return self._serial

    def _plain(self, data: bytes) -> Iterable[bytes]:
        return self._inflate.feed(data) if self._inflate is not None else (data,)
