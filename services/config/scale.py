"""Scaling collectors by launching processes (issue: collector scaling).

- `instance(agent, i)`: copy i of a collector agent, named `NAME-i`, its avro (and netcat)
  source ports shifted by i-1, so N copies listen on base .. base+N-1.
- `over_collectors(agent, host, base_port, n)`: an agent whose avro sinks are replaced by one
  load_balance group (round_robin, backoff) over n avro sinks to host:base_port+i-1, each a copy
  of the agent's first avro sink.

Every process applies the same transform to the config it loads (the rendered command carries
the option), so the config file itself stays the user's, unchanged.
"""
from __future__ import annotations

import copy
from dataclasses import replace

from services.config import schema
from services.config.model import AgentConfig, SinkGroup

PORTED_SOURCES = ("avro", "netcat")
GROUP = "collectors"


def instance(agent: AgentConfig, i: int) -> AgentConfig:
    scaled = copy.deepcopy(agent)
    scaled.name = f"{agent.name}-{i}"
    for source in scaled.sources.values():
        if source.type in PORTED_SOURCES:
            source.params["port"] += i - 1
    return scaled


def parse_collectors(spec: str) -> tuple[str, int, int]:
    """`HOST:BASEPORT:N` -> (host, base port, n); raises ValueError with the expected form."""
    host, port, count = spec.rsplit(":", 2)
    if not host or int(port) < 1 or int(count) < 1 or int(port) + int(count) - 1 > 65535:
        raise ValueError(f"--collectors {spec}: expected HOST:BASEPORT:N")
    return host, int(port), int(count)


def over_collectors(agent: AgentConfig, host: str, base_port: int, n: int) -> AgentConfig:
    scaled = copy.deepcopy(agent)
    avro = [name for name, sink in scaled.sinks.items() if sink.type == "avro"]
    if not avro:
        raise ValueError(f"agent {agent.name} has no avro sink to scale over collectors")
    template = scaled.sinks[avro[0]]
    for name in avro:
        del scaled.sinks[name]
    scaled.groups = [g for g in scaled.groups if not set(g.sinks) & set(avro)]
    names = [f"{avro[0]}-{i}" for i in range(1, n + 1)]
    for i, name in enumerate(names):
        sink = replace(template, name=name, params=dict(template.params))
        sink.params.update(hostname=host, port=base_port + i)
        scaled.sinks[name] = sink
    params = schema.processor_defaults("load_balance")
    params.update(selector="round_robin", backoff=True)
    processor = "load_balance" if n > 1 else "default"
    scaled.groups.insert(0, SinkGroup(GROUP, names, processor, params))
    return scaled


def apply(agent: AgentConfig, instance_number: int = 0, collectors: str = "") -> AgentConfig:
    """The agent after `--collectors` and `--instance`, as renderer and processes both see it."""
    if collectors:
        agent = over_collectors(agent, *parse_collectors(collectors))
    if instance_number:
        agent = instance(agent, instance_number)
    return agent
