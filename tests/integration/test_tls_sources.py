"""HTTPS for the http source and TLS for the syslog TCP sources, under a real agent, with the
keys Flume users write (certificates from tests/tlscerts.py): every event sent over TLS
arrives, and a client speaking plaintext to a TLS port is refused and counted while the TLS
clients carry on."""
from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

from tests import tlscerts
from tests.integration.harness import Agent, wait_for
from tests.integration.test_http_source import events, wait_listening
from tests.integration.test_sources import (all_lines, connect, free_port, pipeline, start,
                                            zflume_status)
from tests.integration.test_syslog_sources import message

CA = tlscerts.ca()


def keystore_keys(tmp_path: Path, ssl_key: str = "ssl", password_key: str = "keystore-password"
                  ) -> str:
    """A PKCS12 keystore for 127.0.0.1, in Flume's keys (or their deprecated spellings)."""
    store = tlscerts.write_pkcs12(tmp_path / "source.p12", tlscerts.server(CA), CA)
    return (f"a.sources.s.{ssl_key} = true\na.sources.s.keystore = {store}\n"
            f"a.sources.s.{password_key} = {tlscerts.PASSWORD}\n"
            "a.sources.s.keystore-type = PKCS12\n")


def client_context() -> ssl.SSLContext:
    return ssl.create_default_context(cadata=CA.cert_pem().decode())


def https_post(port: int, body: bytes) -> int:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=client_context())
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def plaintext_is_refused(port: int, request: bytes) -> bool:
    """A plaintext client gets no answer but the connection's end."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        try:
            return sock.recv(4096) == b""
        except ConnectionResetError:
            return True


def tls_failures(agent: Agent) -> int:
    return int(zflume_status(agent).get("SOURCE.s", {}).get("TlsFailureCount", "0"))


def test_https_with_flume_deprecated_keys_stores_every_posted_event(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When clients post 2,000 events over HTTPS (the source configured with Flume's deprecated
    enableSSL and keystorePassword), every one arrives; a plaintext POST is refused and counted."""
    port = free_port()
    agent = start(tmp_path, agents, pipeline(
        f"a.sources.s.type = http\na.sources.s.bind = 127.0.0.1\na.sources.s.port = {port}\n"
        + keystore_keys(tmp_path, "enableSSL", "keystorePassword")))
    wait_listening(port)
    for first in range(0, 1000, 100):
        assert https_post(port, events(range(first, first + 100))) == 200
    assert plaintext_is_refused(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]")
    for first in range(1000, 2000, 100):
        assert https_post(port, events(range(first, first + 100))) == 200
    assert sorted(all_lines(tmp_path, "k", 2000)) == list(range(2000))
    wait_for(lambda: tls_failures(agent) == 1, 15, "the plaintext client counted")


def test_syslog_over_tls_loses_nothing_and_refuses_plaintext(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When two TLS clients send 5,000 syslog messages into a channel of 200 (TCP pushing back
    while it is full), every message arrives once; a plaintext sender is refused and counted."""
    port = free_port()
    agent = start(tmp_path, agents, pipeline(
        f"a.sources.s.type = syslogtcp\na.sources.s.host = 127.0.0.1\na.sources.s.port = {port}\n"
        + keystore_keys(tmp_path), capacity=200))
    ctx = client_context()
    clients = [ctx.wrap_socket(connect(port), server_hostname="127.0.0.1") for _ in range(2)]
    for n in range(5000):
        clients[n % 2].sendall(message(n))
    assert plaintext_is_refused(port, message(9999) * 10)
    for client in clients:
        client.close()
    assert sorted(all_lines(tmp_path, "k", 5000, timeout=60)) == list(range(5000))
    wait_for(lambda: tls_failures(agent) == 1, 15, "the plaintext sender counted")


def test_multiport_syslog_over_tls_reads_every_port(tmp_path: Path, agents: list[Agent]) -> None:
    """When TLS clients send to both ports of a multiport source, every message arrives."""
    first, second = free_port(), free_port()
    start(tmp_path, agents, pipeline(
        f"a.sources.s.type = multiport_syslogtcp\na.sources.s.host = 127.0.0.1\n"
        f"a.sources.s.ports = {first} {second}\n" + keystore_keys(tmp_path)))
    ctx = client_context()
    clients = [ctx.wrap_socket(connect(port), server_hostname="127.0.0.1")
               for port in (first, second)]
    for n in range(1000):
        clients[n % 2].sendall(b"<13>- h %d\n" % n)
    for client in clients:
        client.close()
    assert sorted(all_lines(tmp_path, "k", 1000)) == list(range(1000))
