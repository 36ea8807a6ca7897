"""TLS for the Avro link: Flume's `ssl` keys turned into an SSLContext, and a sans-IO session.

The session never touches a socket: bytes read from the wire go in, bytes to write come out
(ssl.SSLObject over two MemoryBIOs). So the avro source's non-blocking loop and the avro sink's
blocking worker use the same code, and deflate can sit on either side of TLS: Flume 1.11 puts
zlib outside TLS (socket -> zlib -> TLS -> frames), Flume 1.9 inside (socket -> TLS -> zlib ->
frames); `Wire` does either.

Keys, as Flume names them (docs/flume.md 4.2, 5.1): a source's `keystore` with
`keystore-password` and `keystore-type` (JKS, the default, or PKCS12), or zflume's PEM pair
`ssl.certificate` / `ssl.key`; a sink's `truststore` (`truststore-password`, `truststore-type`;
without one the system's CA certificates) or `trust-all-certs`. Without a keystore or truststore
key, Flume's environment fallbacks FLUME_SSL_KEYSTORE_PATH / _PASSWORD / _TYPE and
FLUME_SSL_TRUSTSTORE_PATH / _PASSWORD / _TYPE apply. `include-protocols` / `exclude-protocols`
are Java's names (TLSv1.2, TLSv1.3; SSLv3 is never enabled), and so are
`include-cipher-suites` / `exclude-cipher-suites` (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256).
Unlike Flume's client, a sink checks that the collector's certificate names the host it
connects to, unless
`ssl.verify-hostname = false` (Flume's behaviour, for certificates without the right name).
Each new connection takes a context rebuilt if a certificate, key or store file changed since
(`Contexts`), so renewing a certificate needs no restart.
"""
from __future__ import annotations

import logging
import os
import re
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proto.avro.compression import Compressor, Decompressor
from proto.errors import ZflumeError
from services.keystores import Store, TlsConfigError, read_key_store, read_trust_store

PROTOCOLS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
             "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
DEFAULT_PROTOCOLS = ("TLSv1.2", "TLSv1.3")  # what Java 17 enables by default
NEVER = {"SSLv2Hello", "SSLv3"}  # accepted in the lists, never enabled
READ_BYTES = 1 << 16


class TlsError(ZflumeError, ConnectionError):
    """The handshake or a record failed (bad certificate, plaintext peer...)."""


def enabled_protocols(include: list[str], exclude: list[str]) -> list[str]:
    """Java's filtering: the defaults, kept if included (an empty include keeps all), less the
    excluded; TLSv1 and TLSv1.1 only when included by name."""
    for name in (*include, *exclude):
        if name not in PROTOCOLS and name not in NEVER:
            raise TlsConfigError(f"unknown TLS protocol {name}; known: {', '.join(PROTOCOLS)}")
    candidates = [p for p in PROTOCOLS if p in DEFAULT_PROTOCOLS or p in include]
    enabled = [p for p in candidates if (not include or p in include) and p not in exclude]
    if not enabled:
        raise TlsConfigError("no TLS protocol left enabled by include-protocols and "
                             "exclude-protocols")
    low, high = PROTOCOLS[enabled[0]], PROTOCOLS[enabled[-1]]
    if any(p not in enabled for p in PROTOCOLS if low <= PROTOCOLS[p] <= high):
        raise TlsConfigError(f"enabled TLS protocols {' '.join(enabled)} are not a contiguous "
                             "range, which OpenSSL cannot express")
    return enabled


def _limit_protocols(ctx: ssl.SSLContext, params: dict[str, Any]) -> None:
    enabled = enabled_protocols(params.get("include-protocols", []),
                                params.get("exclude-protocols", []))
    ctx.minimum_version = PROTOCOLS[enabled[0]]
    ctx.maximum_version = PROTOCOLS[enabled[-1]]
    _limit_ciphers(ctx, params.get("include-cipher-suites", []),
                   params.get("exclude-cipher-suites", []))


TLS13_SUITES = ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256")
_SUITE = re.compile(r"TLS_(?P<kx>ECDHE_ECDSA|ECDHE_RSA|DHE_RSA|RSA)_WITH_(?P<cipher>AES_128_GCM|"
                    r"AES_256_GCM|AES_128_CBC|AES_256_CBC|CHACHA20_POLY1305)_(?P<mac>SHA|SHA256|"
                    r"SHA384)")
_KX = {"ECDHE_ECDSA": "ECDHE-ECDSA-", "ECDHE_RSA": "ECDHE-RSA-", "DHE_RSA": "DHE-RSA-", "RSA": ""}


def openssl_suite(java: str) -> str:
    """A TLS 1.2 suite's Java (IANA) name in OpenSSL's spelling:
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 -> ECDHE-RSA-AES128-GCM-SHA256."""
    match = _SUITE.fullmatch(java)
    if match is None:
        raise TlsConfigError(f"unknown TLS cipher suite {java}")
    cipher = match["cipher"]
    if cipher == "CHACHA20_POLY1305":
        return _KX[match["kx"]] + "CHACHA20-POLY1305"
    bits = cipher[4:7]
    mode = "GCM-" if cipher.endswith("GCM") else ""
    return f"{_KX[match['kx']]}AES{bits}-{mode}{match['mac']}"


def _limit_ciphers(ctx: ssl.SSLContext, include: list[str], exclude: list[str]) -> None:
    """Java's filtering of cipher suites. OpenSSL chooses TLS 1.2 suites by name, but Python
    cannot choose among TLS 1.3's: those are all on or, when none is left, TLS 1.3 is off."""
    if not include and not exclude:
        return
    tls13 = set(TLS13_SUITES)
    allowed13 = (tls13 & set(include) if include else tls13) - set(exclude)
    if allowed13 and allowed13 != tls13:
        raise TlsConfigError("TLS 1.3 cipher suites can only be all enabled or all disabled "
                             f"here, not {' '.join(sorted(allowed13))} alone")
    excluded = {openssl_suite(name) for name in exclude if name not in tls13}
    if include:
        chosen = [openssl_suite(name) for name in include if name not in tls13]
    else:
        chosen = [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    chosen = [name for name in chosen if name not in excluded]
    if not allowed13:
        ctx.maximum_version = min(ctx.maximum_version, ssl.TLSVersion.TLSv1_2)
    if not chosen:
        ctx.minimum_version = max(ctx.minimum_version, ssl.TLSVersion.TLSv1_3)
    if ctx.minimum_version > ctx.maximum_version or not (chosen or allowed13):
        raise TlsConfigError("no TLS cipher suite left enabled by the protocol and cipher lists")
    if chosen:
        try:
            ctx.set_ciphers(":".join(chosen))
        except ssl.SSLError as exc:
            raise TlsConfigError(f"OpenSSL knows none of the cipher suites {' '.join(chosen)}"
                                 ) from exc


def server_context(params: dict[str, Any]) -> ssl.SSLContext:
    """An avro source's context: its certificate and key from a keystore or a PEM pair."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _limit_protocols(ctx, params)
    if params.get("ssl.certificate"):
        if not params.get("ssl.key"):
            raise TlsConfigError("ssl.certificate needs ssl.key")
        _load_chain(ctx, Path(params["ssl.certificate"]).read_bytes(),
                    Path(params["ssl.key"]).read_bytes())
        return ctx
    store = Store.from_params(params, "keystore")
    if store is None:
        raise TlsConfigError("ssl = true needs keystore (or ssl.certificate and ssl.key)")
    key_pem, chain_pem = read_key_store(store)
    _load_chain(ctx, chain_pem, key_pem)
    return ctx


def one_way_server_context(params: dict[str, Any]) -> ssl.SSLContext:
    """A syslog source's context: as an avro source's, but sending no TLS 1.3 session ticket
    after the handshake. A sender that only writes never reads a ticket, so its close would
    find unread bytes and reset the connection, and the reset discards its last messages
    still unread in our socket."""
    ctx = server_context(params)
    ctx.num_tickets = 0
    return ctx


def client_context(params: dict[str, Any]) -> ssl.SSLContext:
    """An avro sink's context: the collector's certificate checked against the truststore (or
    the system's CAs), unless trust-all-certs."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _limit_protocols(ctx, params)
    if params.get("trust-all-certs"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.check_hostname = bool(params.get("ssl.verify-hostname", True))
    store = Store.from_params(params, "truststore")
    if store is None:
        ctx.load_default_certs()
    else:
        ctx.load_verify_locations(cadata=read_trust_store(store))
    return ctx


def _load_chain(ctx: ssl.SSLContext, chain_pem: bytes, key_pem: bytes) -> None:
    """ssl reads certificates and keys only from files: a private file, deleted at once."""
    with tempfile.NamedTemporaryFile(prefix="zflume-tls-", suffix=".pem") as handle:
        os.chmod(handle.name, 0o600)
        handle.write(key_pem + b"\n" + chain_pem)
        handle.flush()
        try:
            ctx.load_cert_chain(handle.name)
        except ssl.SSLError as exc:
            raise TlsConfigError(f"certificate and key do not fit together: {exc}") from exc


class Contexts:
    """The context for the next connection: rebuilt when a file it was built from changed
    (a renewed certificate is taken up without a restart). A rebuild that fails keeps the
    previous context and says so once per change."""

    def __init__(self, build: Callable[[dict[str, Any]], ssl.SSLContext],
                 params: dict[str, Any], log: logging.Logger) -> None:
        self.build, self.params, self.log = build, params, log
        self.paths = [path for path in (
            params.get("ssl.certificate"), params.get("ssl.key"),
            params.get("keystore") or os.environ.get("FLUME_SSL_KEYSTORE_PATH"),
            params.get("truststore") or os.environ.get("FLUME_SSL_TRUSTSTORE_PATH"))
            if path]
        self.stamps = self._stamps()
        self.context = build(params)

    def current(self) -> ssl.SSLContext:
        stamps = self._stamps()
        if stamps != self.stamps:
            self.stamps = stamps
            try:
                self.context = self.build(self.params)
                self.log.info("TLS: reloaded %s", ", ".join(self.paths))
            except (TlsConfigError, OSError) as exc:
                self.log.error("TLS: cannot reload (%s); new connections keep the previous "
                               "certificates", exc)
        return self.context

    def _stamps(self) -> list[tuple[int, int] | None]:
        """(mtime, size) of each file; None for one that is missing (mid-replacement)."""
        out: list[tuple[int, int] | None] = []
        for path in self.paths:
            try:
                info = os.stat(path)
                out.append((info.st_mtime_ns, info.st_size))
            except OSError:
                out.append(None)
        return out


class TlsSession:
    """One connection's TLS, sans IO: `receive` wire bytes, `send` plain bytes, and write
    whatever `output()` returns. Plain bytes sent before the handshake is done wait for it."""

    def __init__(self, ctx: ssl.SSLContext, server_side: bool, hostname: str | None = None) -> None:
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._obj = ctx.wrap_bio(self._in, self._out, server_side=server_side,
                                 server_hostname=None if server_side else hostname)
        self.established = False
        self.closed = False  # the peer sent close_notify
        self._queued: list[bytes] = []
        if not server_side:
            self._handshake()  # the ClientHello

    def receive(self, data: bytes) -> bytes:
        """Wire bytes in; the plain bytes they complete. TlsError when the peer is not
        speaking TLS or its certificate is refused."""
        self._in.write(data)
        if not self.established:
            self._handshake()
        if not self.established:
            return b""
        plain = []
        while True:
            try:
                chunk = self._obj.read(READ_BYTES)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            except ssl.SSLError as exc:
                raise TlsError(_reason(exc)) from exc
            if not chunk:
                break
            plain.append(chunk)
        return b"".join(plain)

    def send(self, plain: bytes) -> None:
        if not plain:
            return
        if not self.established:
            self._queued.append(plain)
            return
        self._obj.write(plain)

    def output(self) -> bytes:
        """Wire bytes to write now."""
        return self._out.read()

    def peer(self) -> str:
        """The TLS version and cipher negotiated, for the log."""
        cipher = self._obj.cipher()
        return f"{self._obj.version()} {cipher[0] if cipher else ''}".strip()

    def _handshake(self) -> None:
        try:
            self._obj.do_handshake()
        except ssl.SSLWantReadError:
            return
        except ssl.SSLError as exc:
            raise TlsError(_reason(exc)) from exc
        self.established = True
        queued, self._queued = self._queued, []
        for plain in queued:
            self._obj.write(plain)


def _reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason in words: 'certificate verify failed: certificate has expired'."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    return exc.reason.replace("_", " ").lower() if exc.reason else str(exc)


class Wire:
    """What a TLS connection writes and reads, with deflate outside TLS (Flume 1.11) when
    `outer_deflate` is a level; with Flume 1.9's order the protocol connection deflates."""

    def __init__(self, session: TlsSession, outer_deflate: int | None = None) -> None:
        self.session = session
        self._deflate = Compressor(outer_deflate) if outer_deflate is not None else None
        self._inflate = Decompressor() if outer_deflate is not None else None

    def outgoing(self, plain: bytes = b"") -> bytes:
        """Plain bytes (may be empty: handshake output only) -> bytes for the socket."""
        self.session.send(plain)
        data = self.session.output()
        if data and self._deflate is not None:
            return self._deflate.compress(data)
        return data

    def incoming(self, data: bytes) -> bytes:
        """Bytes from the socket -> plain bytes."""
        if self._inflate is not None:
            data = b"".join(self._inflate.feed(data))
        return self.session.receive(data)
