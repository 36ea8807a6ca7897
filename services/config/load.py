"""The config parser's public API: every zflume process loads its agent through here.

    load_agent(path, agent) -> AgentConfig    raises ConfigErrors; warnings go to the log
    check_file(path, agent=None) -> (errors, warnings as `FILE:LINE: key: message` text)
    agent_names(path) -> [agent, ...]         in file order

Pipeline: properties.read_properties (Java syntax, line numbers) -> raw.group_agent (listings and
per-component keys) -> components / groups (types, typed params, wiring) -> wiring.check_wiring
(agent-wide rules). Every stage reports into one Report and carries on, so a single run lists
every problem; an agent with any error refuses to start (Flume would drop parts silently).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from services.config.components import build_channel, build_sink, build_source
from services.config.groups import build_groups
from services.config.model import AgentConfig, Component, ConfigError, ConfigErrors
from services.config.properties import PropertiesFile, read_properties
from services.config.raw import RawAgent, Report, agent_of, group_agent, valid_name
from services.config.raw import agent_names as _names_in
from services.config.wiring import check_agent, check_wiring

ANY_ADDRESS = "0.0.0.0"
logger = logging.getLogger(__name__)

Builder = Callable[[RawAgent, str, Report], "Component | None"]


def load_agent(path: str, agent: str) -> AgentConfig:
    """The validated, typed configuration of `agent`; raises ConfigErrors if anything is wrong."""
    report, configs = _run(path, agent)
    for warning in report.warnings:
        logger.warning("%s", warning)
    if report.errors:
        raise ConfigErrors(report.errors)
    return configs[0]


def check_file(path: str, agent: str | None = None) -> tuple[list[ConfigError], list[str]]:
    """(errors, warnings as text) for one agent, or for every agent in the file if None."""
    report, _ = _run(path, agent)
    return report.errors, [str(w) for w in report.warnings]


def agent_names(path: str) -> list[str]:
    """The agents a file configures, in order of their first key (empty if unreadable)."""
    return _names_in(read_properties(path))


def build_agent(props: PropertiesFile, agent: str, report: Report) -> AgentConfig:
    """Build one agent of a parsed file, reporting every problem into `report`."""
    raw = group_agent(props, agent, report)
    if not valid_name(agent):
        report.error(raw.first_line, agent, f"agent name {agent} may only contain letters, digits, "
                     "'_' and '-'")
    check_agent(raw, report)
    config = AgentConfig(agent, props.path)
    config.channels = _build_all(raw, "channel", build_channel, report)
    config.sources = _build_all(raw, "source", build_source, report)
    config.sinks = _build_all(raw, "sink", build_sink, report)
    config.groups = build_groups(raw, report)
    check_wiring(raw, config, report)
    return config


def _build_all(raw: RawAgent, kind: str, build: Builder, report: Report) -> dict[str, Component]:
    """Every listed component of a kind that could be built, in listing order."""
    built = {name: build(raw, name, report) for name in raw.names(kind)}
    return {name: component for name, component in built.items() if component is not None}


def _run(path: str, agent: str | None) -> tuple[Report, list[AgentConfig]]:
    """Read the file once and build the wanted agents; errors and warnings sorted by line."""
    props = read_properties(path)
    report = Report(path, errors=list(props.errors))
    names = _names_in(props)
    wanted = names if agent is None else [agent]
    _check_wanted(props, names, agent, report)
    _file_warnings(props, wanted, report)
    configs = [build_agent(props, name, report) for name in wanted if name in names]
    _port_warnings(props, configs, report)
    report.errors.sort(key=lambda e: e.line)
    report.warnings.sort(key=lambda e: e.line)
    return report, configs


def _check_wanted(props: PropertiesFile, names: list[str], agent: str | None,
                  report: Report) -> None:
    """The file must configure the agent asked for (or at least one agent)."""
    if props.errors and not props.entries:
        return  # unreadable: that error says it all
    if agent is not None and agent not in names:
        known = f"; this file configures {', '.join(names)}" if names else ""
        report.error(0, agent, f"agent {agent} not found{known}")
    elif not names:
        report.error(0, "", "no agent is configured in this file")


def _port_warnings(props: PropertiesFile, configs: list[AgentConfig], report: Report) -> None:
    """Two sources of the file listening on one port: the second to start would only log that
    the address is in use and retry, so say it before either runs."""
    seen: dict[int, list[tuple[str, str, int]]] = {}
    for config in configs:
        for name, source in config.sources.items():
            port = source.params.get("port")
            if not isinstance(port, int) or isinstance(port, bool) or port <= 0:
                continue
            bind = str(source.params.get("bind", "0.0.0.0"))
            key = f"{config.name}.sources.{name}.port"
            line = props.entries[key].line if key in props.entries else source.line
            for other_bind, other_key, other_line in seen.get(port, []):
                if ANY_ADDRESS in (bind, other_bind) or bind == other_bind:
                    report.warn(line, key, f"port {port} is also listened on by {other_key} "
                                f"(line {other_line}): only one of them can bind it")
            seen.setdefault(port, []).append((bind, key, line))


def _file_warnings(props: PropertiesFile, wanted: list[str], report: Report) -> None:
    """Keys under no agent, and repeated keys of the wanted agents (the later line wins)."""
    for entry in props.entries.values():
        if agent_of(entry.key) is None:
            report.warn(entry.line, entry.key, "key is not under any agent (`<agent>.`); ignored")
    for old, new in props.repeats:
        if agent_of(new.key) in wanted or agent_of(new.key) is None:
            report.warn(new.line, new.key,
                        f"repeated key: line {new.line} replaces line {old.line}")
