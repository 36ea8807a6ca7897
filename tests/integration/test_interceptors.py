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


def test_taildir_runs_its_interceptors_once_per_event_even_when_puts_are_retried(
        tmp_path: Path, agents: list[Agent]) -> None:
    """TAILDIR hands its lines to the interceptors once: a PUT the small channel answers FULL
    is offered again as it was, so a search_replace that prefixes "1" is never applied
    twice ("11n") and every line arrives once."""
    total = 5_000
    logs, out = tmp_path / "logs", tmp_path / "out"
    logs.mkdir()
    (logs / "app.log").write_text("".join(f"{n}\n" for n in range(total)))
    conf = f"""
a.sources = src
a.sources.src.type = TAILDIR
a.sources.src.channels = ch
a.sources.src.filegroups = f1
a.sources.src.filegroups.f1 = {logs}/app\\\\.log
a.sources.src.positionFile = {tmp_path}/positions.json
a.sources.src.batchSize = 100
a.sources.src.interceptors = rewrite
a.sources.src.interceptors.rewrite.type = search_replace
a.sources.src.interceptors.rewrite.searchPattern = ^(\\\\d+)$
a.sources.src.interceptors.rewrite.replaceString = 1$1
a.channels = ch
a.channels.ch.type = memory
a.channels.ch.capacity = 200
a.channels.ch.transactionCapacity = 100
a.sinks = k
a.sinks.k.type = file_roll
a.sinks.k.channel = ch
a.sinks.k.sink.directory = {out}
a.sinks.k.sink.rollInterval = 0
a.sinks.k.sink.batchSize = 100
"""
    agent = Agent(tmp_path, "a", conf)
    agents.append(agent)
    agent.start()
    wait_for(lambda: len(lines_in(out)) >= total, 30, "every line")
    assert sorted(lines_in(out)) == [int(f"1{n}") for n in range(total)]
