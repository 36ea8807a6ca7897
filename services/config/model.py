"""The typed agent model every process reads its settings from.

The parser (`services.config.load`) turns a Flume properties file into these objects with every
key converted to its type and Flume's defaults filled in, so no process ever reads raw strings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proto.errors import ZflumeError


@dataclass(frozen=True)
class ConfigError(ZflumeError):
    """One problem in a config file, printed as `FILE:LINE: key: message`."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}"


class ConfigErrors(ZflumeError):
    """Every problem found in one file; an agent with any of them refuses to start."""

    def __init__(self, errors: list[ConfigError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class Plugin:
    """An interceptor or channel selector: canonical type plus typed, defaulted params."""

    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Component:
    """A source, channel or sink. `type` is the canonical lower-case alias (`exec`, `file_roll`)."""

    kind: str  # "source" | "channel" | "sink"
    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    line: int = 0  # line of the component's `type` key, for messages
    channels: list[str] = field(default_factory=list)  # sources: `channels`; sinks: [`channel`]
    interceptors: list[Plugin] = field(default_factory=list)  # sources only, in listed order
    selector: Plugin | None = None  # sources only; replicating when absent

    @property
    def channel(self) -> str:
        """A sink's single channel."""
        return self.channels[0]


@dataclass
class SinkGroup:
    """A sink group, or the implicit one-sink group of a sink outside every group.

    `processor` is `default`, `failover` or `load_balance`; `params` hold the processor keys with
    the `processor.` prefix removed (`maxpenalty`, `selector`, `backoff`, `selector.maxTimeOut`,
    `heartbeat.interval`, `heartbeat.liveness`, `window`), typed and defaulted. `priorities`
    maps each failover sink to its rank, larger first, sinks without a priority ranked below every
    explicit one in file order. `implicit` is true for a standalone sink's group.
    """

    name: str
    sinks: list[str]
    processor: str
    params: dict[str, Any] = field(default_factory=dict)
    priorities: dict[str, int] = field(default_factory=dict)
    implicit: bool = False
    line: int = 0

    @property
    def router_name(self) -> str:
        """Program name suffix of this group's sink-router: `g1`, or `k1-router` if implicit."""
        return f"{self.sinks[0]}-router" if self.implicit else self.name


@dataclass
class AgentConfig:
    """One agent of a properties file, validated."""

    name: str
    file: str
    sources: dict[str, Component] = field(default_factory=dict)
    channels: dict[str, Component] = field(default_factory=dict)
    sinks: dict[str, Component] = field(default_factory=dict)
    groups: list[SinkGroup] = field(default_factory=list)  # explicit groups then implicit ones

    def component(self, kind: str, name: str) -> Component:
        """Look a component up by kind (`source`, `channel`, `sink`) and name."""
        return {"source": self.sources, "channel": self.channels, "sink": self.sinks}[kind][name]

    def process_name(self, kind: str, name: str) -> str:
        """What a component's process is called (its program, its ctl socket): its own name,
        or `name.kind` when a component of another kind has the same name, which Flume allows
        (each kind has its own namespace; a name never holds a dot)."""
        namespaces = {"source": self.sources, "channel": self.channels, "sink": self.sinks,
                      "router": [g.router_name for g in self.groups]}
        shared = sum(name in names for names in namespaces.values()) > 1
        return f"{name}.{kind}" if shared else name

    def router(self, name: str) -> SinkGroup:
        """The sink group whose router process is called `name`."""
        return next(g for g in self.groups if g.router_name == name)

    def group_of(self, sink: str) -> SinkGroup:
        """The group (explicit or implicit) that routes to `sink`."""
        return next(g for g in self.groups if sink in g.sinks)
