"""Sort one agent's properties into name lists and per-component key sets, before any typing.

    <agent>.sources|channels|sinks|sinkgroups = name name ...     -> Listing (file order kept)
    <agent>.<kind>.<name>.<local key> = value                      -> RawComponent.keys[local key]

Component names cannot contain dots (the name ends at the next dot, as in Flume). Every other key
under the agent is a warning, never silently dropped; an empty value is an error, as in Flume
(PROPERTY_VALUE_NULL).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.config.model import ConfigError
from services.config.properties import Entry, PropertiesFile

KINDS = {"sources": "source", "channels": "channel", "sinks": "sink", "sinkgroups": "sinkgroup"}
WHAT = {"source": "source", "channel": "channel", "sink": "sink", "sinkgroup": "sink group"}
# Names become supervisord program names and ipc:// socket paths: keep them to a safe alphabet.
_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class Report:
    """Every error and warning of one file, each as `FILE:LINE: key: message`."""

    file: str
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[ConfigError] = field(default_factory=list)

    def error(self, line: int, key: str, message: str) -> None:
        """Record a problem that stops the agent from starting."""
        self.errors.append(ConfigError(self.file, line, key, message))

    def warn(self, line: int, key: str, message: str) -> None:
        """Record a problem the agent can run with."""
        self.warnings.append(ConfigError(self.file, line, key, message))


@dataclass
class KeySet:
    """Keys of one component or plugin by local name, and how to name a key that is missing."""

    prefix: str  # full key prefix, e.g. `a1.sources.r1.` or `a1.sources.r1.interceptors.i1.`
    line: int  # where a missing key is reported: the `type` line, else the first key's line
    keys: dict[str, Entry] = field(default_factory=dict)

    def missing(self, local: str) -> str:
        """The full key, as the user would write it, of a key that is absent."""
        return self.prefix + local

    def under(self, head: str) -> KeySet:
        """The keys below `head.` with that part removed (`selector.optional` -> `optional`)."""
        cut = len(head) + 1
        keys = {k[cut:]: e for k, e in self.keys.items() if k.startswith(head + ".")}
        line = keys["type"].line if "type" in keys else min(
            (e.line for e in keys.values()), default=self.line)
        return KeySet(f"{self.prefix}{head}.", line, keys)

    def without(self, *locals_: str) -> dict[str, Entry]:
        """Keys other than `locals_` and their sub-keys."""
        return {k: e for k, e in self.keys.items()
                if not any(k == d or k.startswith(d + ".") for d in locals_)}


@dataclass
class Listing:
    """An `<agent>.<kind>s` key: its entry and the valid names it lists, in file order."""

    entry: Entry
    names: list[str]


@dataclass
class RawAgent:
    """One agent's keys, grouped."""

    name: str
    first_line: int = 0
    lists: dict[str, Listing] = field(default_factory=dict)  # kind -> listing
    components: dict[str, dict[str, KeySet]] = field(default_factory=dict)  # kind -> name -> keys

    def keys_of(self, kind: str, name: str) -> KeySet:
        """The keys of a listed component (empty if it has none); line = its listing otherwise."""
        found = self.components.get(kind, {}).get(name)
        if found is not None:
            return found
        plural = next(p for p, k in KINDS.items() if k == kind)
        return KeySet(f"{self.name}.{plural}.{name}.", self.lists[kind].entry.line)

    def names(self, kind: str) -> list[str]:
        """Listed names of a kind, file order."""
        listing = self.lists.get(kind)
        return listing.names if listing else []


def valid_name(name: str) -> bool:
    """True if `name` can be a program name and a socket file name."""
    return _NAME.fullmatch(name) is not None


def agent_of(key: str) -> str | None:
    """The agent a key belongs to: text before the first dot (None if there is none)."""
    agent, dot, _ = key.partition(".")
    return agent if dot and agent else None


def agent_names(props: PropertiesFile) -> list[str]:
    """Agents named by the file's keys, in order of first appearance."""
    names = (agent_of(e.key) for e in props.entries.values())
    return list(dict.fromkeys(n for n in names if n is not None))


def group_agent(props: PropertiesFile, agent: str, report: Report) -> RawAgent:
    """Sort the agent's keys into listings and component key sets."""
    raw = RawAgent(agent)
    for entry in props.entries.values():
        if agent_of(entry.key) != agent:
            continue
        raw.first_line = raw.first_line or entry.line
        if not entry.value:
            report.error(entry.line, entry.key, "empty value")
        else:
            _place(raw, entry, report)
    for kind, by_name in raw.components.items():
        _warn_unlisted(raw, kind, by_name, report)
    return raw


def _place(raw: RawAgent, entry: Entry, report: Report) -> None:
    """File one key under its listing or component."""
    head, _, tail = entry.key[len(raw.name) + 1:].partition(".")
    name, _, local = tail.partition(".")
    if head in KINDS and not tail:
        raw.lists[KINDS[head]] = Listing(entry, _list_names(entry, KINDS[head], report))
    elif head in KINDS and name and local:
        by_name = raw.components.setdefault(KINDS[head], {})
        keys = by_name.setdefault(name, KeySet(f"{raw.name}.{head}.{name}.", entry.line))
        keys.keys[local] = entry
        if local == "type":
            keys.line = entry.line
    elif head == "configfilters":
        report.error(entry.line, entry.key, "config filters are not supported yet")
    else:
        report.warn(entry.line, entry.key, "unknown key; ignored")


def _list_names(entry: Entry, kind: str, report: Report) -> list[str]:
    """The names of a listing, in order; repeats are warned about, bad names are errors."""
    names: list[str] = []
    for name in entry.value.split():
        if name in names:
            report.warn(entry.line, entry.key, f"{WHAT[kind]} {name} is listed twice")
        elif "." in name:
            report.error(entry.line, entry.key, f"{WHAT[kind]} name {name} contains a dot")
        elif not valid_name(name):
            report.error(entry.line, entry.key, f"{WHAT[kind]} name {name} may only contain "
                         "letters, digits, '_' and '-'")
        else:
            names.append(name)
    return names


def _warn_unlisted(raw: RawAgent, kind: str, by_name: dict[str, KeySet], report: Report) -> None:
    """A component with keys but absent from its listing is ignored, loudly."""
    listed = raw.names(kind)
    plural = next(p for p, k in KINDS.items() if k == kind)
    for name, keys in by_name.items():
        if name not in listed:
            first = min(keys.keys.values(), key=lambda e: e.line)
            report.warn(first.line, first.key, f"{WHAT[kind]} {name} is not listed in "
                        f"{raw.name}.{plural}; its keys are ignored")
