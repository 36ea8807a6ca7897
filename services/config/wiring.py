"""Checks across components of one agent, run after each component was built on its own."""
from __future__ import annotations

from services.config import schema
from services.config.components import written
from services.config.model import AgentConfig, Component, SinkGroup
from services.config.raw import WHAT, RawAgent, Report

_Name = tuple[int, str, str, str, str]  # (line, namespace, name, description, key)


def check_wiring(raw: RawAgent, config: AgentConfig, report: Report) -> None:
    """Agent-wide rules: batches fit transactions, channels are used, program names are unique."""
    for component in [*config.sources.values(), *config.sinks.values()]:
        _check_batch(raw, config, component, report)
    _warn_idle_channels(config, report)
    _check_names(raw, config.groups, report)


def check_agent(raw: RawAgent, report: Report) -> None:
    """An agent needs a channel, and something to put into or take out of it."""
    if "channel" not in raw.lists:
        report.error(raw.first_line, f"{raw.name}.channels", f"agent {raw.name} has no channels")
    if "source" not in raw.lists and "sink" not in raw.lists:
        report.error(raw.first_line, f"{raw.name}.sources",
                     f"agent {raw.name} has no sources and no sinks")


def _check_batch(raw: RawAgent, config: AgentConfig, component: Component, report: Report) -> None:
    """A batch larger than the channel's transaction can never be put or taken (Flume drops
    such a component at configuration time; we refuse the file)."""
    batch_key = schema.BATCH_KEYS.get((component.kind, component.type))
    if batch_key is not None and batch_key not in component.params:
        return  # its value was already reported as invalid
    size = schema.batch_size(component)
    for name in component.channels:
        channel = config.channels.get(name)
        capacity = channel.params.get("transactionCapacity") if channel else None
        if not size or capacity is None or size <= capacity:
            continue
        keys = raw.keys_of(component.kind, component.name)
        if batch_key is not None and batch_key in keys.keys:
            line, key = written(keys, batch_key)
        else:  # the default batch is too big: point at the channel's small transactionCapacity
            line, key = written(raw.keys_of("channel", name), "transactionCapacity")
        report.error(line, key, f"batch size {size} of {WHAT[component.kind]} {component.name} "
                     f"exceeds transactionCapacity {capacity} of channel {name}")


def _warn_idle_channels(config: AgentConfig, report: Report) -> None:
    """A channel nobody writes or reads only holds memory (Flume removes it with a warning)."""
    used = {c for comp in [*config.sources.values(), *config.sinks.values()] for c in comp.channels}
    for name, channel in config.channels.items():
        if name not in used:
            report.warn(channel.line, f"{config.name}.channels",
                        f"channel {name} has no source or sink connected")


def _check_names(raw: RawAgent, groups: list[SinkGroup], report: Report) -> None:
    """Names are unique within a kind, as in Flume (a source and a channel may share one: their
    processes are then told apart, AgentConfig.process_name); a sink group's router and an
    implicit one share the routers' namespace."""
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    for line, space, name, description, key in sorted(_program_names(raw, groups),
                                                       key=lambda n: n[0]):
        if (space, name) in seen:
            other, other_line = seen[space, name]
            report.error(line, key, f"{description} has the same name as {other} "
                         f"(line {other_line}); names must be unique within a kind")
        else:
            seen[space, name] = (description, line)


def _program_names(raw: RawAgent, groups: list[SinkGroup]) -> list[_Name]:
    """(line, name, description, key) of every listed component, then of implicit routers."""
    names: list[_Name] = []
    for kind, listing in raw.lists.items():
        entry, space = listing.entry, "router" if kind == "sinkgroup" else kind
        names.extend((entry.line, space, n, f"{WHAT[kind]} {n}", entry.key)
                     for n in listing.names)
    sinks = raw.lists.get("sink")
    for group in groups:
        if group.implicit and sinks is not None:
            router = group.router_name
            description = f"the router of sink {group.sinks[0]} ({router})"
            names.append((sinks.entry.line, "router", router, description, sinks.entry.key))
    return names
