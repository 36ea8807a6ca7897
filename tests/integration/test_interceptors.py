"""A running source's interceptors: regex_filter drops events before the channel, and the
source still finishes (a batch filtered to nothing counts as delivered)."""
from __future__ import annotations

from pathlib import Path

from tests.integration.harness import Agent, lines_in, seq_source, wait_for

TOTAL = 2_000


def test_regex_filter_and_search_replace_in_a_running_agent(tmp_path: Path,
                                                            agents: list[Agent]) -> None:
    out = tmp_path / "out"
    conf = seq_source(TOTAL, 100) + f"""
a.sources.src.interceptors = keep rewrite
a.sources.src.interceptors.keep.type = regex_filter
a.sources.src.interceptors.keep.regex = 7$
a.sources.src.interceptors.rewrite.type = search_replace
a.sources.src.interceptors.rewrite.searchPattern = ^(\\\\d+)$
a.sources.src.interceptors.rewrite.replaceString = 1$1
a.channels = ch
a.channels.ch.type = memory
a.sinks = k
a.sinks.k.type = file_roll
a.sinks.k.channel = ch
a.sinks.k.sink.directory = {out}
a.sinks.k.sink.rollInterval = 0
"""
    agent = Agent(tmp_path, "a", conf)
    agents.append(agent)
    agent.start()
    expected = sorted(int(f"1{n}") for n in range(TOTAL) if n % 10 == 7)
    wait_for(lambda: len(lines_in(out)) >= len(expected), 20, "the kept events")
    assert sorted(lines_in(out)) == expected
