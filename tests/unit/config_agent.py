"""A one-source, one-sink agent `a` written to a temporary file, for config tests."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from services.config.load import check_file, load_agent
from services.config.model import AgentConfig

HEAD = """\
a.sources = r1
a.channels = c1
a.sinks = k1
a.sources.r1.channels = c1
a.sinks.k1.channel = c1
a.channels.c1.type = memory
"""  # lines 7 and 8 hold the source's and the sink's type; extra keys start at line 9


def config(source: str = "seq", sink: str = "null", extra: str = "") -> str:
    """An agent with the given source and sink types and extra lines."""
    return HEAD + f"a.sources.r1.type = {source}\na.sinks.k1.type = {sink}\n" + dedent(extra)


def write(tmp_path: Path, text: str) -> str:
    """Write a config and return its path."""
    path = tmp_path / "agent.conf"
    path.write_text(text)
    return str(path)


def load(tmp_path: Path, text: str) -> AgentConfig:
    """A valid agent `a`."""
    return load_agent(write(tmp_path, text), "a")


def problems(tmp_path: Path, text: str) -> list[tuple[int, str, str]]:
    """(line, key, message) of every error."""
    return [(e.line, e.key, e.message) for e in check_file(write(tmp_path, text), "a")[0]]
