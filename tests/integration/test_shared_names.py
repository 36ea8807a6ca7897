"""A source, a channel and a sink all named `views`, as Flume allows (each kind has its own
namespace): three programs told apart, and every event delivered."""
from __future__ import annotations

from pathlib import Path

from tests.integration.harness import Agent, lines_in, wait_for

TOTAL = 1_000


def test_one_name_for_a_source_a_channel_and_a_sink(tmp_path: Path, agents: list[Agent]) -> None:
    agent = Agent(tmp_path, "a", f"""
a.sources = views
a.channels = views
a.sinks = views
a.sources.views.type = seq
a.sources.views.totalEvents = {TOTAL}
a.sources.views.channels = views
a.channels.views.type = memory
a.sinks.views.type = file_roll
a.sinks.views.channel = views
a.sinks.views.sink.directory = {tmp_path / 'out'}
a.sinks.views.sink.rollInterval = 0
""")
    agents.append(agent)
    agent.start()
    assert {"a-views.source", "a-views.channel", "a-views.sink",
            "a-views-router"} <= set(agent.statuses())
    wait_for(lambda: len(lines_in(tmp_path / "out")) >= TOTAL, 20, "every event")
    assert sorted(lines_in(tmp_path / "out")) == list(range(TOTAL))
