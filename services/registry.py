"""Which class runs which component: (kind, canonical type) -> process class."""
from __future__ import annotations

import functools
import importlib
from typing import Callable

from services.config.model import AgentConfig
from services.process import Process

# Looked up lazily so a process imports only the code it runs.
CLASSES: dict[tuple[str, str], str] = {
    ("source", "exec"): "services.sources.exec:ExecSource",
    ("source", "seq"): "services.sources.seq:SeqSource",
    ("source", "netcat"): "services.sources.netcat:NetcatSource",
    ("source", "avro"): "services.sources.avro:AvroSource",
    ("source", "http"): "services.sources.http:HttpSource",
    ("source", "netcatudp"): "services.sources.netcatudp:NetcatUdpSource",
    ("source", "syslogtcp"): "services.sources.syslogtcp:SyslogTcpSource",
    ("source", "syslogudp"): "services.sources.syslogudp:SyslogUdpSource",
    ("source", "multiport_syslogtcp"): "services.sources.syslogtcp:MultiportSyslogTcpSource",
    ("source", "taildir"): "services.sources.taildir:TaildirSource",
    ("source", "spooldir"): "services.sources.spooldir:SpoolDirSource",
    ("channel", "file"): "services.channels.file:FileChannel",
    ("channel", "memory"): "services.channels.memory:MemoryChannel",
    ("sink", "logger"): "services.sinks.local:LoggerSink",
    ("sink", "file_roll"): "services.sinks.local:FileRollSink",
    ("sink", "null"): "services.sinks.local:NullSink",
    ("sink", "avro"): "services.sinks.avro:AvroSink",
    ("router", "router"): "services.router.process:SinkRouter",
}


def process_class(agent: AgentConfig, kind: str, name: str) -> Callable[..., Process]:
    """The class to run for one component of an agent."""
    ctype = "router" if kind == "router" else agent.component(kind, name).type
    return _load(CLASSES[(kind, ctype)])


@functools.cache
def _load(path: str) -> Callable[..., Process]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
