"""The avro link over TLS between real processes: zflume avro sink -> zflume avro source, with
and without deflate, and every way a TLS link can be wrong failing with one clear line while the
events fail over to a good collector (certificates from tests/tlscerts.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import tlscerts
from tests.integration.harness import Agent, free_ports, lines_in, seq_source, wait_for

COUNT = 100_000
CA = tlscerts.ca()


def collector(name: str, port: int, out: Path, tls: str, compression: str = "none") -> str:
    return f"""
{name}.sources = src
{name}.channels = ch
{name}.sinks = k
{name}.sources.src.type = avro
{name}.sources.src.bind = 127.0.0.1
{name}.sources.src.port = {port}
{name}.sources.src.channels = ch
{name}.sources.src.compression-type = {compression}
{tls}
{name}.channels.ch.type = memory
{name}.channels.ch.capacity = 20000
{name}.channels.ch.transactionCapacity = 1000
{name}.sinks.k.type = file_roll
{name}.sinks.k.channel = ch
{name}.sinks.k.sink.directory = {out}
{name}.sinks.k.sink.rollInterval = 0
{name}.sinks.k.sink.batchSize = 1000
"""


def tls_source(name: str, keystore: Path) -> str:
    prefix = f"{name}.sources.src"
    return (f"{prefix}.ssl = true\n{prefix}.keystore = {keystore}\n"
            f"{prefix}.keystore-password = {tlscerts.PASSWORD}\n{prefix}.keystore-type = PKCS12\n")


def sink(name: str, port: int, host: str, tls: str, compression: str = "none") -> str:
    prefix = f"a.sinks.{name}"
    return f"""
{prefix}.type = avro
{prefix}.channel = ch
{prefix}.hostname = {host}
{prefix}.port = {port}
{prefix}.batch-size = 1000
{prefix}.compression-type = {compression}
{tls.replace("SINK", prefix)}
"""


def tls_sink(truststore: Path) -> str:
    return (f"SINK.ssl = true\nSINK.truststore = {truststore}\n"
            f"SINK.truststore-password = {tlscerts.PASSWORD}\nSINK.truststore-type = JKS\n")


def agent(total: int, sinks: str, group: bool) -> str:
    names = "k1 k2" if group else "k1"
    groups = ("a.sinkgroups = g\na.sinkgroups.g.sinks = k1 k2\n"
              "a.sinkgroups.g.processor.type = failover\na.sinkgroups.g.processor.priority.k1 = 9\n"
              "a.sinkgroups.g.processor.priority.k2 = 7\n") if group else ""
    return (f"a.channels = ch\na.sinks = {names}\n{seq_source(total, 1000)}"
            "a.channels.ch.type = memory\na.channels.ch.capacity = 20000\n"
            "a.channels.ch.transactionCapacity = 1000\n" + sinks + groups)


def stores(tmp_path: Path, server: tlscerts.Issued, issuer: tlscerts.Issued = CA
           ) -> tuple[Path, Path]:
    """(the collector's PKCS12 keystore, the agent's JKS truststore trusting `issuer`)."""
    keystore = tlscerts.write_pkcs12(tmp_path / "collector.p12", server, CA)
    return keystore, tlscerts.write_trust_jks(tmp_path / "agent.jks", issuer)


@pytest.mark.parametrize("compression", ["none", "deflate"])
def test_every_event_crosses_a_tls_link(tmp_path: Path, agents: list[Agent],
                                        compression: str) -> None:
    keystore, truststore = stores(tmp_path, tlscerts.server(CA))
    port, out = free_ports(1), tmp_path / "out"
    c1 = Agent(tmp_path, "c1", collector("c1", port, out, tls_source("c1", keystore),
                                         compression))
    ax = Agent(tmp_path, "a", agent(COUNT, sink("k1", port, "localhost", tls_sink(truststore),
                                                compression), group=False))
    agents.extend([c1, ax])
    c1.start()
    ax.start()
    wait_for(lambda: len(lines_in(out)) >= COUNT, 120, f"{COUNT} events over TLS")
    assert sorted(set(lines_in(out))) == list(range(COUNT))
    assert "TLS from 127.0.0.1:" in c1.log.read_text()


WRONG = {
    "wrong CA": "certificate verify failed: self-signed certificate in certificate chain",
    "expired": "certificate verify failed: certificate has expired",
    "wrong hostname": "certificate verify failed: Hostname mismatch",
    "plaintext client to TLS server": "collector closed the connection",
    "TLS client to plaintext server": "the collector closed the connection during the TLS "
                                      "handshake (is its avro source ssl = true?)",
}


@pytest.mark.parametrize("case", list(WRONG))
def test_a_wrong_tls_link_fails_clearly_and_loses_nothing(tmp_path: Path, agents: list[Agent],
                                                          case: str) -> None:
    """k1's link to c1 is wrong in one way; every event reaches c2 through k2 instead, and
    the agent's log says why k1 was taken out of rotation."""
    total = 5_000
    names = ("collector.example.org",) if case == "wrong hostname" else ("localhost",)
    server = tlscerts.server(CA, names, expired=case == "expired")
    issuer = tlscerts.ca("another CA") if case == "wrong CA" else CA
    keystore, truststore = stores(tmp_path, server, issuer)
    ports, out1, out2 = free_ports(2), tmp_path / "out1", tmp_path / "out2"
    c1_tls = "" if case == "TLS client to plaintext server" else tls_source("c1", keystore)
    k1_tls = "" if case == "plaintext client to TLS server" else tls_sink(truststore)
    (tmp_path / "good").mkdir()
    good_keystore, good_truststore = stores(tmp_path / "good", tlscerts.server(CA))
    c1 = Agent(tmp_path, "c1", collector("c1", ports, out1, c1_tls))
    c2 = Agent(tmp_path, "c2", collector("c2", ports + 1, out2, tls_source("c2", good_keystore)))
    ax = Agent(tmp_path, "a", agent(total, sink("k1", ports, "localhost", k1_tls)
                                    + sink("k2", ports + 1, "localhost",
                                           tls_sink(good_truststore)), group=True))
    agents.extend([c1, c2, ax])
    c1.start()
    c2.start()
    ax.start()
    wait_for(lambda: len(set(lines_in(out2))) >= total, 60, f"{total} events through k2")
    assert sorted(set(lines_in(out2))) == list(range(total))
    assert lines_in(out1) == []
    log = ax.log.read_text()
    assert WRONG[case] in log, log[-3000:]
    assert "Traceback" not in log + c1.log.read_text()
