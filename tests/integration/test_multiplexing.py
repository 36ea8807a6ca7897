"""The multiplexing selector in a running agent: events split across channels by a header (here
set by regex_extractor from the body), each channel's sink gets exactly its share."""
from __future__ import annotations

from pathlib import Path

from tests.integration.harness import Agent, lines_in, seq_source, wait_for

TOTAL = 3_000


def test_events_reach_the_channels_their_header_maps_to(tmp_path: Path,
                                                        agents: list[Agent]) -> None:
    sinks = "".join(f"""
a.channels.{c}.type = memory
a.channels.{c}.capacity = 1000
a.sinks.k{c}.type = file_roll
a.sinks.k{c}.channel = {c}
a.sinks.k{c}.sink.directory = {tmp_path / c}
a.sinks.k{c}.sink.rollInterval = 0
""" for c in ("odd", "even", "fives"))
    conf = seq_source(TOTAL, 100).replace("a.sources.src.channels = ch",
                                          "a.sources.src.channels = odd even fives") + f"""
a.channels = odd even fives
a.sinks = kodd keven kfives
a.sources.src.interceptors = last
a.sources.src.interceptors.last.type = regex_extractor
a.sources.src.interceptors.last.regex = (\\\\d)$
a.sources.src.interceptors.last.serializers = s1
a.sources.src.interceptors.last.serializers.s1.name = digit
a.sources.src.selector.type = multiplexing
a.sources.src.selector.header = digit
a.sources.src.selector.mapping.1 = odd
a.sources.src.selector.mapping.3 = odd
a.sources.src.selector.mapping.5 = odd fives
a.sources.src.selector.mapping.7 = odd
a.sources.src.selector.mapping.9 = odd
a.sources.src.selector.default = even
{sinks}"""
    agent = Agent(tmp_path, "a", conf)
    agents.append(agent)
    agent.start()
    expected = {"odd": [n for n in range(TOTAL) if n % 2], "even": list(range(0, TOTAL, 2)),
                "fives": [n for n in range(TOTAL) if n % 10 == 5]}
    for channel, numbers in expected.items():
        wait_for(lambda c=channel, n=numbers: len(lines_in(tmp_path / c)) >= len(n), 30,
                 f"{channel}'s events")
    for channel, numbers in expected.items():
        assert sorted(lines_in(tmp_path / channel)) == numbers, channel
