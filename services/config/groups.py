"""Sink groups: explicit groups in file order, then one implicit group per sink in no group.

Flume's surprises decided here (docs/architecture.md 8):
  * a group of several sinks without `processor.type` is an error (Flume drops the group and its
    sinks idle); a one-sink group without it gets the `default` processor, as the docs promise;
  * failover priorities that are equal or not integers are errors (Flume silently ignores one
    sink, or invents a priority);
  * a sink without a priority ranks below every explicit one, in the group's `sinks` order (Flume
    uses hash order): it gets min(explicit) - 1, - 2, ... (-1, -2, ... if none is explicit).
"""
from __future__ import annotations

from services.config import schema
from services.config.components import apply_schema, resolve_type, written
from services.config.model import SinkGroup
from services.config.raw import KeySet, RawAgent, Report

Taken = dict[str, tuple[str, int]]  # sink -> (group that routes it, line of that group's `sinks`)


def build_groups(raw: RawAgent, report: Report) -> list[SinkGroup]:
    """Every group of the agent: explicit ones in listing order, then implicit ones."""
    taken: Taken = {}
    groups = [g for g in (_explicit(raw, n, taken, report) for n in raw.names("sinkgroup")) if g]
    for sink in raw.names("sink"):
        if sink not in taken:
            groups.append(implicit_group(sink, raw.keys_of("sink", sink).line))
    return groups


def implicit_group(sink: str, line: int = 0) -> SinkGroup:
    """The one-sink `default` group of a sink outside every group (named after the sink)."""
    return SinkGroup(sink, [sink], "default", schema.processor_defaults("default"),
                     implicit=True, line=line)


def _explicit(raw: RawAgent, name: str, taken: Taken, report: Report) -> SinkGroup | None:
    """One explicit group, typed; None if its processor cannot be resolved."""
    keys = raw.keys_of("sinkgroup", name)
    members = _members(raw, name, keys, taken, report)
    for local, entry in keys.keys.items():
        if local != "sinks" and not local.startswith("processor."):
            report.warn(entry.line, entry.key, f"unknown key {local} for a sink group; ignored")
    proc = keys.under("processor")
    processor = _processor_type(name, members, proc, report)
    if processor is None:
        return None
    owned = ("type", "priority") if processor == "failover" else ("type",)
    params = apply_schema(("processor", processor), proc.without(*owned), proc, report)
    if params.get("selector.maxTimeOut") == 0:  # Flume: 0 means the default
        params["selector.maxTimeOut"] = schema.PROCESSORS[processor]["selector.maxTimeOut"].default
    _check_size(name, processor, members, proc, report)
    priorities = {}
    if processor == "failover":
        priorities = _priorities(members, proc.under("priority"), report)
    line = proc.keys["type"].line if "type" in proc.keys else keys.line
    return SinkGroup(name, members, processor, params, priorities, line=line)


def _members(raw: RawAgent, name: str, keys: KeySet, taken: Taken, report: Report) -> list[str]:
    """The group's `sinks`, in order; a sink may belong to one group only."""
    entry = keys.keys.get("sinks")
    if entry is None:
        report.error(keys.line, keys.missing("sinks"), f"sink group {name} has no sinks")
        return []
    members: list[str] = []
    for sink in entry.value.split():
        if sink in members:
            report.warn(entry.line, entry.key, f"sink {sink} is listed twice")
            continue
        members.append(sink)
        if sink not in raw.names("sink"):
            report.error(entry.line, entry.key, f"unknown sink {sink}")
        elif sink in taken:
            group, line = taken[sink]
            report.error(entry.line, entry.key,
                         f"sink {sink} is already in sink group {group} (line {line})")
        else:
            taken[sink] = (name, entry.line)
    return members


def _processor_type(name: str, members: list[str], proc: KeySet, report: Report) -> str | None:
    """The group's processor; only a one-sink group may leave it out (then `default`)."""
    if "type" in proc.keys:
        return resolve_type("processor", f"sink group {name}", proc, report)
    if len(members) <= 1:
        return "default"
    report.error(proc.line, proc.missing("type"),
                 f"sink group {name} has {len(members)} sinks but no processor.type")
    return None


def _check_size(name: str, processor: str, members: list[str], proc: KeySet,
                report: Report) -> None:
    """`default` drives exactly one sink; `load_balance` needs two to balance between."""
    line, key = written(proc, "type")
    if processor == "default" and len(members) > 1:
        report.error(line, key, f"the default processor drives one sink; sink group {name} "
                     f"has {len(members)} (use failover or load_balance)")
    elif processor == "load_balance" and len(members) < 2:
        report.error(line, key, f"load_balance needs at least 2 sinks; sink group {name} "
                     f"has {len(members)}")


def _priorities(members: list[str], given: KeySet, report: Report) -> dict[str, int]:
    """Explicit failover priorities, checked: integers, one per sink of the group, all distinct."""
    explicit: dict[str, int] = {}
    holder: dict[int, tuple[str, int]] = {}  # priority -> (sink, line)
    for sink, entry in sorted(given.keys.items(), key=lambda item: item[1].line):
        if sink not in members:
            report.warn(entry.line, entry.key,
                        f"sink {sink} is not in this group; priority ignored")
            continue
        try:
            value = schema.to_int(entry.value)
        except ValueError as exc:
            report.error(entry.line, entry.key, f"{exc}: a failover priority must be an integer")
            continue
        if value in holder:
            other, line = holder[value]
            report.error(entry.line, entry.key, f"priority {value} of sink {sink} equals that of "
                         f"sink {other} (line {line}); failover priorities must differ")
            continue
        holder[value] = (sink, entry.line)
        explicit[sink] = value
    return rank(members, explicit)


def rank(members: list[str], explicit: dict[str, int]) -> dict[str, int]:
    """Explicit priorities as given; the others below the lowest explicit one, in order."""
    lowest = min(explicit.values(), default=0)
    ranks: dict[str, int] = {}
    for sink in members:
        if sink in explicit:
            ranks[sink] = explicit[sink]
        else:
            lowest -= 1
            ranks[sink] = lowest
    return ranks
