"""HTTP monitoring as Flume users read it: `-Dflume.monitoring.type=http` serves Flume's JSON at
/metrics (what telegraf, flume_exporter and curl read), the same figures as Prometheus text, and
/health turns 503 when the sink group loses its last collector and 200 when one is back."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import Agent, collector_conf, free_ports, lines_in, wait_for

TOTAL = 5_000


def agent_conf(port: int) -> str:
    sinks = "".join(f"""
a.sinks.k{i}.type = avro
a.sinks.k{i}.channel = ch
a.sinks.k{i}.hostname = 127.0.0.1
a.sinks.k{i}.port = {port + i - 1}
""" for i in (1, 2))
    return f"""
a.sources = s
a.channels = ch
a.sinks = k1 k2
a.sources.s.type = seq
a.sources.s.totalEvents = {TOTAL}
a.sources.s.batchSize = 100
a.sources.s.channels = ch
a.channels.ch.type = memory
a.channels.ch.capacity = 10000
{sinks}
a.sinkgroups = g
a.sinkgroups.g.sinks = k1 k2
a.sinkgroups.g.processor.type = failover
a.sinkgroups.g.processor.priority.k1 = 9
a.sinkgroups.g.processor.priority.k2 = 7
"""


def get(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def metrics(port: int) -> dict[str, dict[str, str]]:
    code, body = get(port, "/metrics")
    assert code == 200
    return json.loads(body)


def test_flume_json_prometheus_and_health(tmp_path: Path, agents: list[Agent]) -> None:
    ports = free_ports(3)
    monitor = ports + 2
    out = tmp_path / "out"
    collectors = [Agent(tmp_path, f"c{i}", collector_conf(f"c{i}", ports + i - 1,
                                                          str(out / f"c{i}")))
                  for i in (1, 2)]
    ax = Agent(tmp_path, "a", agent_conf(ports), args=(
        "-Dflume.monitoring.type=http", f"-Dflume.monitoring.port={monitor}"))
    agents.extend([*collectors, ax])
    for agent in (*collectors, ax):
        agent.start()
    wait_for(lambda: len(set(lines_in(out / "c1"))) >= TOTAL, 30, "every event at c1")

    # Flume's JSON: TYPE.name keys, every value a string, the counts of what was sent
    wait_for(lambda: metrics(monitor)["SINK.k1"]["EventDrainSuccessCount"] == str(TOTAL), 10,
             "k1's drained count")
    report = metrics(monitor)
    assert {"SOURCE.s", "CHANNEL.ch", "SINK.k1", "SINK.k2", "SINK_GROUP.g"} <= set(report)
    assert all(isinstance(v, str) for r in report.values() for v in r.values())
    assert report["SOURCE.s"]["EventAcceptedCount"] == str(TOTAL)
    assert report["CHANNEL.ch"]["EventTakeSuccessCount"] == str(TOTAL)
    assert report["SINK_GROUP.g"]["LiveSinkCount"] == "2"

    families = {f.name: f for f in text_string_to_metric_families(
        get(monitor, "/metrics/prometheus")[1].decode())}
    accepted = families["Flume_EventAcceptedCount"]
    assert [(s.labels, s.value) for s in accepted.samples if s.name.endswith("_total")] == [
        ({"component": "s"}, float(TOTAL))]

    assert get(monitor, "/")[0] == 200
    assert get(monitor, "/metrics", "TRACE")[0] == 403
    assert get(monitor, "/nothing")[0] == 404

    code, body = get(monitor, "/health")
    assert code == 200 and json.loads(body)["status"] == "UP"
    for collector in collectors:
        collector.stop()
    stopped = time.monotonic()
    wait_for(lambda: get(monitor, "/health")[0] == 503, 10, "/health to say 503")
    print(f"/health 503 {time.monotonic() - stopped:.2f} s after the last collector stopped")
    assert "SINK_GROUP.g has no live sink" in json.loads(get(monitor, "/health")[1])["problems"]
    collectors[1].start()
    wait_for(lambda: get(monitor, "/health")[0] == 200, 15, "/health to say 200 again")
