"""Call and response payloads, after the handshake when there is one (Avro Requestor/Responder).

    request   [HandshakeRequest]  meta:map<bytes>  name:string  params
              Java: 00 16 "appendBatch" <array<AvroFlumeEvent>>     ("" = handshake-only ping)
    response  [HandshakeResponse] meta:map<bytes>  error:boolean  result
              ok:    00 00 <Status index>         e.g. 00 00 02 = FAILED
              error: 00 01 00 <string>            a system error: union{string}, Java's e.toString()

Java writes a response as three groups of buffers: [handshake (one empty buffer once the
connection is established)] [meta] [flag + result]; `response_buffers` does the same, so our
frames are byte-identical to an AvroSource's.
"""
from __future__ import annotations

from .binary import encode_long, encode_string, read_long, read_string, skip_bytes_map
from .errors import MalformedFrame
from .framing import Buffer, java_chunks
from .protocol import Status

EMPTY_META = b"\x00"
_OK_FLAG = b"\x00"
_ERROR_FLAG_AND_BRANCH = b"\x01\x00"  # error = true, union{string} branch 0


def request_head(handshake: bytes, message: str) -> bytes:
    """Everything before the parameters: Java sends it as the first buffer(s) of a request."""
    return handshake + EMPTY_META + encode_string(message)


def read_request_head(payload: bytes, pos: int) -> tuple[str, int]:
    """The message name, and where its parameters start."""
    pos = skip_bytes_map(payload, pos)
    return read_string(payload, pos)


def response_buffers(handshake: bytes, symbols: tuple[str, ...], status: Status) -> list[Buffer]:
    """A successful response, Java's buffer layout; `symbols` is the local Status enum."""
    return _buffers(handshake, _OK_FLAG + encode_long(symbols.index(status.value)))


def error_buffers(handshake: bytes, text: str) -> list[Buffer]:
    """A system error response (what Java sends for any exception a call raises)."""
    return _buffers(handshake, _ERROR_FLAG_AND_BRANCH + encode_string(text))


def _buffers(handshake: bytes, result: bytes) -> list[Buffer]:
    return [*java_chunks(handshake), EMPTY_META, *java_chunks(result)]


def read_response(payload: bytes, pos: int,
                  symbols: tuple[str, ...]) -> tuple[Status | None, str | None]:
    """(status, None) or (None, error text); `symbols`: the server's Status enum, read by name."""
    pos = skip_bytes_map(payload, pos)
    if pos >= len(payload):
        raise MalformedFrame("response ends before its error flag")
    flag = payload[pos]
    if flag == 1:
        branch, pos = read_long(payload, pos + 1)
        if branch != 0:
            raise MalformedFrame(f"error union branch {branch}, expected 0 (string)")
        return None, read_string(payload, pos)[0]
    if flag != 0:
        raise MalformedFrame(f"error flag byte {flag:#x}")
    index = read_long(payload, pos + 1)[0]
    if not 0 <= index < len(symbols):
        raise MalformedFrame(f"Status index {index} outside {symbols}")
    try:
        return Status(symbols[index]), None
    except ValueError as exc:
        raise MalformedFrame(f"server Status symbol {symbols[index]!r} is not one of ours") from exc
