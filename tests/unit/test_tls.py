"""services/tls.py in memory: contexts from Flume's keys, sessions talking to each other, each
refusal with its reason (certificates made by tests/tlscerts.py)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from services.tls import (TLS13_SUITES, Contexts, TlsConfigError, TlsError, TlsSession, Wire,
                          client_context, enabled_protocols, openssl_suite, server_context)
from tests import tlscerts

CA = tlscerts.ca()
SERVER = tlscerts.server(CA)


def pem_source(tmp_path: Path, issued: tlscerts.Issued = SERVER) -> dict[str, Any]:
    cert, key = tlscerts.write_pem(tmp_path, "server", issued)
    return source_params(**{"ssl.certificate": str(cert), "ssl.key": str(key)})


def source_params(**keys: Any) -> dict[str, Any]:
    return {"exclude-protocols": ["SSLv3"], "include-protocols": [], **keys}


def sink_params(tmp_path: Path, issuer: tlscerts.Issued = CA, **keys: Any) -> dict[str, Any]:
    trust = tmp_path / "trust.pem"
    trust.write_bytes(issuer.cert_pem())
    return {"exclude-protocols": ["SSLv3"], "include-protocols": [], "truststore": str(trust),
            "truststore-type": "PEM", "ssl.verify-hostname": True, **keys}


def talk(server_ctx: Any, client_ctx: Any, hostname: str = "localhost",
         outer: int | None = None) -> tuple[Wire, Wire]:
    """A client and a server wire, handshaken and having exchanged one message each way."""
    server = Wire(TlsSession(server_ctx, server_side=True), outer)
    client = Wire(TlsSession(client_ctx, server_side=False, hostname=hostname), outer)
    to_server, to_client = client.outgoing(b"ping"), b""
    got_server, got_client = b"", b""
    for _ in range(10):
        got_server += server.incoming(to_server) if to_server else b""
        to_client = server.outgoing(b"pong" if got_server == b"ping" and not got_client else b"")
        got_client += client.incoming(to_client) if to_client else b""
        to_server = client.outgoing()
        if got_server == b"ping" and got_client == b"pong":
            return client, server
    raise AssertionError(f"no exchange: server got {got_server!r}, client {got_client!r}")


def test_pem_pair_and_truststore_talk(tmp_path: Path) -> None:
    client, server = talk(server_context(pem_source(tmp_path)), client_context(
        sink_params(tmp_path)))
    assert client.session.peer().startswith("TLSv1.3")


@pytest.mark.parametrize("outer", [None, 6])
def test_deflate_outside_tls_both_ways(tmp_path: Path, outer: int | None) -> None:
    talk(server_context(pem_source(tmp_path)), client_context(sink_params(tmp_path)),
         outer=outer)


@pytest.mark.parametrize("write, kind", [(tlscerts.write_pkcs12, "PKCS12"),
                                         (tlscerts.write_jks, "JKS")])
def test_keystores_flume_users_have(tmp_path: Path, write: Any, kind: str) -> None:
    store = write(tmp_path / f"server.{kind.lower()}", SERVER, CA)
    params = source_params(keystore=str(store), **{"keystore-password": tlscerts.PASSWORD,
                                                   "keystore-type": kind})
    talk(server_context(params), client_context(sink_params(tmp_path)))


@pytest.mark.parametrize("write, kind", [(tlscerts.write_trust_pkcs12, "PKCS12"),
                                         (tlscerts.write_trust_jks, "JKS")])
def test_truststores_flume_users_have(tmp_path: Path, write: Any, kind: str) -> None:
    store = write(tmp_path / f"trust.{kind.lower()}", CA)
    params = sink_params(tmp_path, truststore=str(store), **{
        "truststore-password": tlscerts.PASSWORD, "truststore-type": kind})
    talk(server_context(pem_source(tmp_path)), client_context(params))


def test_keystore_from_flume_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tlscerts.write_pkcs12(tmp_path / "env.p12", SERVER, CA)
    monkeypatch.setenv("FLUME_SSL_KEYSTORE_PATH", str(store))
    monkeypatch.setenv("FLUME_SSL_KEYSTORE_PASSWORD", tlscerts.PASSWORD)
    monkeypatch.setenv("FLUME_SSL_KEYSTORE_TYPE", "pkcs12")
    talk(server_context(source_params()), client_context(sink_params(tmp_path)))


@pytest.mark.parametrize("keys, why", [
    ({}, "ssl = true needs keystore"),
    ({"keystore": "/nonexistent/ks.jks"}, "cannot read /nonexistent/ks.jks"),
    ({"ssl.certificate": "/x.crt"}, "ssl.certificate needs ssl.key"),
])
def test_unusable_keystore_is_a_config_error(keys: dict[str, str], why: str) -> None:
    with pytest.raises(TlsConfigError, match=why):
        server_context(source_params(**keys))


def test_wrong_keystore_password_is_a_config_error(tmp_path: Path) -> None:
    store = tlscerts.write_pkcs12(tmp_path / "server.p12", SERVER, CA)
    with pytest.raises(TlsConfigError, match="server.p12"):
        server_context(source_params(keystore=str(store), **{
            "keystore-password": "wrong", "keystore-type": "PKCS12"}))


@pytest.mark.parametrize("server_cert, issuer, hostname, why", [
    (SERVER, tlscerts.ca("another CA"), "localhost", "unable to get local issuer certificate"),
    (tlscerts.server(CA, expired=True), CA, "localhost", "certificate has expired"),
    (SERVER, CA, "collector.example.org", "Hostname mismatch"),
])
def test_the_sink_refuses_a_certificate_with_the_reason(
        tmp_path: Path, server_cert: tlscerts.Issued, issuer: tlscerts.Issued, hostname: str,
        why: str) -> None:
    with pytest.raises(TlsError, match=why):
        talk(server_context(pem_source(tmp_path, server_cert)),
             client_context(sink_params(tmp_path, issuer)), hostname)


def test_name_check_off_and_trust_all_as_flume_allows(tmp_path: Path) -> None:
    server = server_context(pem_source(tmp_path))
    talk(server, client_context(sink_params(tmp_path, **{"ssl.verify-hostname": False})),
         "collector.example.org")
    talk(server, client_context(sink_params(tmp_path, tlscerts.ca("another CA"),
                                            **{"trust-all-certs": True})))


def test_a_plaintext_client_is_refused_by_the_server(tmp_path: Path) -> None:
    server = TlsSession(server_context(pem_source(tmp_path)), server_side=True)
    with pytest.raises(TlsError):
        server.receive(b"\x00\x00\x00\x01\x00\x00\x00\x01" + bytes(64))


@pytest.mark.parametrize("include, exclude, enabled", [
    ([], ["SSLv3"], ["TLSv1.2", "TLSv1.3"]),
    ([], ["SSLv3", "TLSv1.3"], ["TLSv1.2"]),
    (["TLSv1.3"], [], ["TLSv1.3"]),
    (["TLSv1.1", "TLSv1.2"], ["SSLv3"], ["TLSv1.1", "TLSv1.2"]),
])
def test_protocol_lists_filter_as_java_does(include: list[str], exclude: list[str],
                                            enabled: list[str]) -> None:
    assert enabled_protocols(include, exclude) == enabled


@pytest.mark.parametrize("include, exclude, why", [
    (["TLSv2"], [], "unknown TLS protocol TLSv2"),
    ([], ["TLSv1.2", "TLSv1.3"], "no TLS protocol left"),
    (["TLSv1.1", "TLSv1.3"], [], "not a contiguous range"),
])
def test_unusable_protocol_lists_are_config_errors(include: list[str], exclude: list[str],
                                                   why: str) -> None:
    with pytest.raises(TlsConfigError, match=why):
        enabled_protocols(include, exclude)


def test_only_tls12_is_negotiated_when_asked(tmp_path: Path) -> None:
    client, _ = talk(server_context(pem_source(tmp_path)), client_context(
        sink_params(tmp_path, **{"exclude-protocols": ["TLSv1.3"]})))
    assert client.session.peer().startswith("TLSv1.2")


def test_a_renewed_certificate_is_used_by_the_next_connection(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    params = pem_source(tmp_path)
    contexts = Contexts(server_context, params, logging.getLogger("test"))
    first = contexts.current()
    assert contexts.current() is first  # nothing changed: no rebuild
    renewed_ca = tlscerts.ca("renewed CA")
    (tmp_path / "renewed").mkdir()
    trusts_renewed = client_context(sink_params(tmp_path / "renewed", renewed_ca))
    with pytest.raises(TlsError):
        talk(contexts.current(), trusts_renewed)
    tlscerts.write_pem(tmp_path, "server", tlscerts.server(renewed_ca))
    talk(contexts.current(), trusts_renewed)
    assert "TLS: reloaded" in caplog.text

    Path(params["ssl.key"]).write_bytes(tlscerts.server(CA).key_pem())  # a key of another cert
    kept = contexts.current()
    talk(kept, trusts_renewed)  # the previous certificate stays in use
    assert "cannot reload" in caplog.text


@pytest.mark.parametrize("java, openssl", [
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256"),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
])
def test_java_cipher_suite_names_in_openssl_spelling(java: str, openssl: str) -> None:
    assert openssl_suite(java) == openssl


def test_cipher_suites_are_filtered_as_java_does(tmp_path: Path) -> None:
    server = server_context(pem_source(tmp_path))
    only = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    client, _ = talk(server, client_context(sink_params(
        tmp_path, **{"include-cipher-suites": [only]})))
    assert client.session.peer() == "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"
    client, _ = talk(server, client_context(sink_params(
        tmp_path, **{"exclude-cipher-suites": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                                               *TLS13_SUITES]})))
    assert client.session.peer() == "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"
    client, _ = talk(server, client_context(sink_params(
        tmp_path, **{"include-cipher-suites": list(TLS13_SUITES)})))
    assert client.session.peer().startswith("TLSv1.3")


@pytest.mark.parametrize("keys, why", [
    ({"include-cipher-suites": ["TLS_AES_128_GCM_SHA256"]}, "all enabled or all disabled"),
    ({"include-cipher-suites": ["TLS_RSA_WITH_NULL_SHA"]}, "unknown TLS cipher suite"),
    ({"include-cipher-suites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
      "exclude-cipher-suites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
      "include-protocols": ["TLSv1.2"]}, "no TLS cipher suite left"),
])
def test_unusable_cipher_lists_are_config_errors(tmp_path: Path, keys: dict[str, Any],
                                                 why: str) -> None:
    with pytest.raises(TlsConfigError, match=why):
        client_context(sink_params(tmp_path, **keys))
