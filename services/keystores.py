"""Flume's keystores and truststores (JKS via pyjks, PKCS12 via cryptography, PEM) read into the
PEM text Python's ssl takes; services/tls.py builds its contexts from them."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proto.errors import ZflumeError


class TlsConfigError(ZflumeError, ValueError):
    """A keystore, truststore or protocol list that cannot be used; the message says which."""


@dataclass(frozen=True)
class Store:
    """A keystore or truststore as configured: path, password, type."""
    path: str
    password: str | None
    kind: str

    @classmethod
    def from_params(cls, params: dict[str, Any], role: str) -> "Store | None":
        """`role` is keystore or truststore; the component's keys first, then Flume's env."""
        env = f"FLUME_SSL_{role.upper()}_"
        path = params.get(role) or os.environ.get(env + "PATH")
        if not path:
            return None
        password = params.get(f"{role}-password") or os.environ.get(env + "PASSWORD")
        kind = params.get(f"{role}-type") or os.environ.get(env + "TYPE") or "JKS"
        return cls(path, password, kind.upper())


def read_key_store(store: Store) -> tuple[bytes, bytes]:
    """(private key PEM, certificate chain PEM) of the keystore's one key entry."""
    data = _read(store)
    if store.kind == "PKCS12":
        from cryptography.hazmat.primitives.serialization import pkcs12
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, _password(store))
        except ValueError as exc:
            raise TlsConfigError(f"keystore {store.path}: {exc}") from exc
        if key is None or cert is None:
            raise TlsConfigError(f"keystore {store.path} holds no private key and certificate")
        return _key_pem(key), b"".join(_cert_pem(c) for c in (cert, *extra))
    if store.kind == "JKS":
        keystore = _load_jks(store, data)
        entries = list(keystore.private_keys.values())
        if len(entries) != 1:
            raise TlsConfigError(f"keystore {store.path} holds {len(entries)} private keys, "
                                 "not one")
        entry = entries[0]
        if not entry.is_decrypted():
            entry.decrypt(store.password or "")
        key_pem = _pem("PRIVATE KEY", entry.pkey_pkcs8)
        return key_pem, b"".join(_pem("CERTIFICATE", cert) for _, cert in entry.cert_chain)
    raise TlsConfigError(f"keystore-type {store.kind} is not JKS or PKCS12")


def read_trust_store(store: Store) -> str:
    """Every trusted certificate of a truststore, as PEM text."""
    data = _read(store)
    if store.kind == "PEM":
        return data.decode("ascii")
    if store.kind == "PKCS12":
        from cryptography.hazmat.primitives.serialization import pkcs12
        try:
            parsed = pkcs12.load_pkcs12(data, _password(store))
        except ValueError as exc:
            raise TlsConfigError(f"truststore {store.path}: {exc}") from exc
        certs = [c.certificate for c in parsed.additional_certs]
        if parsed.cert is not None:
            certs.append(parsed.cert.certificate)
        return b"".join(map(_cert_pem, certs)).decode("ascii")
    if store.kind == "JKS":
        keystore = _load_jks(store, data)
        return b"".join(_pem("CERTIFICATE", entry.cert)
                        for entry in keystore.certs.values()).decode("ascii")
    raise TlsConfigError(f"truststore-type {store.kind} is not JKS, PKCS12 or PEM")


def _read(store: Store) -> bytes:
    try:
        return Path(store.path).read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"cannot read {store.path}: {exc.strerror}") from exc


def _password(store: Store) -> bytes | None:
    return store.password.encode() if store.password else None


def _load_jks(store: Store, data: bytes) -> Any:
    import jks
    try:
        return jks.KeyStore.loads(data, store.password or "", try_decrypt_keys=True)
    except (jks.util.KeystoreException, ValueError) as exc:
        raise TlsConfigError(f"{store.path}: {exc}") from exc


def _pem(label: str, der: bytes) -> bytes:
    import base64
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"".join([f"-----BEGIN {label}-----\n".encode(), *(line + b"\n" for line in lines),
                     f"-----END {label}-----\n".encode()])


def _key_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM)
