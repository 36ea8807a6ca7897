"""A fingerprint of what one process reads from the agent's config, for reloads.

A reload restarts exactly the processes whose fingerprint changed (supervisord's `update`
restarts a program whose command changed, and the fingerprint is in the command). So each one
covers the component's own settings and those of every component it reads settings from or
talks to: a source reads its channels' transactionCapacity and keep-alive, a router its sinks
and their channel; a sink talks to its channel and its router but reads neither's settings.
Line numbers are left out: a comment added at the top of the file restarts nothing.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from services.config.model import AgentConfig, Component, SinkGroup


def _plain(value: Any) -> Any:
    """A value in a stable, printable form (sets sorted, dataclasses as sorted field dicts)."""
    if isinstance(value, (Component, SinkGroup)):  # `line` moves with every edit above it
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                  if f.name != "line"}
        return _plain(fields)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return sorted((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _read_by(agent: AgentConfig, kind: str, name: str) -> list[Any]:
    """What the process of `kind` `name` depends on: its settings, the settings it reads of
    others, and the process names of the peers it talks to."""
    talks_to: list[tuple[str, str]] = []
    if kind == "source":
        own: Any = agent.sources[name]
        reads = [agent.channels[ch] for ch in own.channels]
        talks_to = [("channel", ch) for ch in own.channels]
    elif kind == "channel":
        own, reads = agent.channels[name], []
    elif kind == "sink":
        own, reads = agent.sinks[name], []
        talks_to = [("channel", own.channel), ("router", agent.group_of(name).router_name)]
    else:
        own = agent.router(name)
        reads = [agent.sinks[sink] for sink in own.sinks]
        reads += [agent.channels[agent.sinks[sink].channel] for sink in own.sinks]
        talks_to = [("sink", sink) for sink in own.sinks]
        talks_to += [("channel", agent.sinks[sink].channel) for sink in own.sinks]
    names = [(peer_kind, agent.process_name(peer_kind, peer)) for peer_kind, peer in talks_to]
    return [kind, agent.process_name(kind, name), own, reads, names]


def settings_digest(agent: AgentConfig, kind: str, name: str) -> str:
    """12 hex digits that change whenever a setting this process reads changes."""
    text = repr(_plain(_read_by(agent, kind, name)))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def agent_digest(agent: AgentConfig) -> str:
    """The same over the whole agent (for the monitor, which reads every component)."""
    text = repr(_plain([agent.sources, agent.channels, agent.sinks, agent.groups]))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
