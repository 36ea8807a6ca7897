"""An agent's monitoring server: Flume's HTTP metrics, Prometheus, and a health check.

    GET /                    a small page pointing at /metrics (as Flume's)
    GET /metrics             Flume's JSON: {"TYPE.name": {"Counter": "value", ...}}, every value
                             a string (flume.monitoring.type = http); Prometheus text instead
                             with flume.monitoring.type = prometheus, as Flume 1.11 does
    GET /metrics/prometheus  Prometheus text either way: Flume_<Counter>{component="name"}
    GET /health              200 and a JSON body when every component answers and every sink
                             group has a live sink; 503 and the reasons otherwise
    TRACE, OPTIONS           403, as Flume's; other paths 404, other methods 405

It is a supervisord program of its own (`AGENT-monitor`, `zflume monitor`), like every
component: it asks each component's ctl socket for its counters at each request
(deploy/status.py), so a figure is never older than the request; a component that does not
answer is shown as `"State": "DOWN"`, never with the figures it had. It binds 127.0.0.1 unless
`flume.monitoring.bind` says otherwise; a busy port is one log line and a retry every 3 s.
"""
from __future__ import annotations

import json
import logging
import signal
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from deploy import render, status
from services.config import scale
from services.config.load import load_agent
from services.parent import signal_on_parent_death
from services.process import component_logger, setup_logging

BIND_RETRY_S = 3.0
TYPES = {"source": "SOURCE", "channel": "CHANNEL", "sink": "SINK", "router": "SINK_GROUP"}
# Figures that go up and down; every other numeric one is a counter (Prometheus *_total).
GAUGES = {"ChannelSize", "ChannelCapacity", "ChannelFillPercentage", "OpenConnectionCount",
          "StartTime", "StopTime", "InFlightBatchCount", "LiveSinkCount", "Unhealthy"}
PAGE = b'For Flume metrics please click <a href = "./metrics"> here</a>.'


class Fleet:
    """The agent's components as its config names them, and what each says now."""

    def __init__(self, conf_file: str, agent_name: str, run_dir: str, instance: int = 0,
                 collectors: str = "") -> None:
        agent = scale.apply(load_agent(conf_file, agent_name), instance, collectors)
        self.expected = [f"{TYPES[kind]}.{name}" for kind, name in render.components(agent)]
        self.run_dir = run_dir

    def metrics(self) -> dict[str, dict[str, str]]:
        """Flume's JSON, plus `"State": "DOWN"` for every expected component that is silent."""
        reports = status.collect(self.run_dir)
        for key in self.expected:
            if key not in reports:
                reports[key] = {"Type": key.split(".", 1)[0], "State": "DOWN"}
        return dict(sorted(reports.items()))

    def health(self, reports: dict[str, dict[str, str]]) -> list[str]:
        """Why the agent is not healthy; empty when it is."""
        problems = [f"{key} is not answering" for key, report in reports.items()
                    if report.get("State") == "DOWN"]
        problems += [f"{key} has no live sink" for key, report in reports.items()
                     if key.startswith("SINK_GROUP.") and report.get("LiveSinkCount") == "0"]
        return problems


class FlumeCollector(Collector):
    """Flume 1.11's Prometheus names: Flume_<Counter> labelled by component."""

    def __init__(self, reports: dict[str, dict[str, str]]) -> None:
        self.reports = reports

    def collect(self) -> Any:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for key, report in self.reports.items():
            component = key.split(".", 1)[1]
            for attr, text in report.items():
                value = _number(text)
                if value is None:
                    continue
                name = "Flume_" + "".join(c if c.isalnum() else "_" for c in attr)
                if name not in families:
                    kind = GaugeMetricFamily if attr in GAUGES else CounterMetricFamily
                    families[name] = kind(name, f"Flume's {attr}", labels=["component"])
                families[name].add_metric([component], value)
        yield from families.values()


def _number(text: str) -> float | None:
    if text in ("true", "false", "True", "False"):
        return float(text.lower() == "true")
    try:
        return float(text)
    except ValueError:
        return None


def prometheus_text(reports: dict[str, dict[str, str]]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FlumeCollector(reports))
    return generate_latest(registry)


class Handler(BaseHTTPRequestHandler):
    server: "MonitorServer"
    timeout = 10  # a client that sends nothing holds one thread, for this long at most

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        fleet = self.server.fleet
        if path == "/":
            self._reply(HTTPStatus.OK, "text/html;charset=utf-8", PAGE)
        elif path == "/metrics" and self.server.kind == "http":
            self._json(HTTPStatus.OK, fleet.metrics())
        elif path in ("/metrics", "/metrics/prometheus"):
            self._reply(HTTPStatus.OK, "text/plain; version=0.0.4; charset=utf-8",
                        prometheus_text(fleet.metrics()))
        elif path == "/health":
            reports = fleet.metrics()
            problems = fleet.health(reports)
            self._json(HTTPStatus.SERVICE_UNAVAILABLE if problems else HTTPStatus.OK,
                       {"status": "DOWN" if problems else "UP", "problems": problems,
                        "components": {key: r.get("State", "RUNNING")
                                       for key, r in reports.items()}})
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def do_TRACE(self) -> None:
        self.send_error(HTTPStatus.FORBIDDEN)

    do_OPTIONS = do_TRACE

    def do_POST(self) -> None:
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED)

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _json(self, code: HTTPStatus, body: object) -> None:
        self._reply(code, "application/json;charset=utf-8", json.dumps(body).encode())

    def _reply(self, code: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log.debug("%s %s", self.address_string(), format % args)


class MonitorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fleet: Fleet, kind: str,
                 log: logging.Logger) -> None:
        self.fleet, self.kind, self.log = fleet, kind, log
        super().__init__(address, Handler)


def run_monitor(conf_file: str, agent_name: str, run_dir: str, bind: str, port: int,
                kind: str, instance: int = 0, collectors: str = "") -> int:
    """Serve until SIGTERM (or supervisord's death)."""
    setup_logging()
    log = component_logger(agent_name, "MONITOR", "monitor")
    fleet = Fleet(conf_file, agent_name, run_dir, instance, collectors)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal_on_parent_death(signal.SIGTERM)
    server = _bind(bind, port, fleet, kind, log, stop)
    if server is None:
        return 0
    log.info("serving %s metrics on http://%s:%d/metrics", kind, bind, port)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    stop.wait()
    server.shutdown()
    server.server_close()
    log.info("stopped")
    return 0


def _bind(bind: str, port: int, fleet: Fleet, kind: str, log: logging.Logger,
          stop: threading.Event) -> MonitorServer | None:
    """The server, once the port is free; None if asked to stop first."""
    failures = 0
    while not stop.is_set():
        try:
            return MonitorServer((bind, port), fleet, kind, log)
        except OSError as exc:
            failures += 1
            if failures == 1:
                log.error("cannot listen on %s:%d: %s; retrying every %.0f s", bind, port,
                          exc.strerror or exc, BIND_RETRY_S)
            stop.wait(BIND_RETRY_S)
    return None
