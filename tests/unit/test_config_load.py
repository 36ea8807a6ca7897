"""load_agent / check_file / agent_names: errors name file, line and key, and all are collected."""

from __future__ import annotations

import logging
from pathlib import Path
from textwrap import dedent

import pytest

from services.config.load import agent_names, check_file, load_agent
from services.config.model import ConfigErrors
from tests.paths import SEED_EXAMPLES, nonempty

EXAMPLES = nonempty(SEED_EXAMPLES, "seed example configs")

BASE = """\
a.sources = r1
a.channels = c1
a.sinks = k1
a.sources.r1.type = seq
a.sources.r1.channels = c1
a.channels.c1.type = memory
a.sinks.k1.type = null
a.sinks.k1.channel = c1
"""


def write(tmp_path: Path, text: str) -> str:
    """Write a config and return its path."""
    path = tmp_path / "agent.conf"
    path.write_text(dedent(text))
    return str(path)


def problems(tmp_path: Path, text: str, agent: str | None = "a") -> list[tuple[int, str, str]]:
    """(line, key, message) of every error, after checking each names the file."""
    path = write(tmp_path, text)
    errors, _ = check_file(path, agent)
    assert all(e.file == path for e in errors)
    return [(e.line, e.key, e.message) for e in errors]


def warnings(tmp_path: Path, text: str, agent: str | None = "a") -> list[str]:
    """Warnings as `FILE:LINE: key: message`, with the file name cut to `F`."""
    path = write(tmp_path, text)
    errors, found = check_file(path, agent)
    assert errors == []
    return [w.replace(path, "F") for w in found]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_validates_without_errors_or_warnings(path: Path) -> None:
    for agent in agent_names(str(path)):
        assert check_file(str(path), agent) == ([], [])
        assert load_agent(str(path), agent).name == agent
    assert check_file(str(path)) == ([], [])


def test_base_config_is_clean(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE) == []


def test_load_agent_raises_every_error_at_once(tmp_path: Path) -> None:
    text = BASE.replace("a.sinks.k1.channel = c1\n", "") + "a.channels.c1.capacity = lots\n"
    with pytest.raises(ConfigErrors) as raised:
        load_agent(write(tmp_path, text), "a")
    assert [(e.line, e.key) for e in raised.value.errors] == [
        (7, "a.sinks.k1.channel"),
        (8, "a.channels.c1.capacity"),
    ]
    assert "agent.conf:8: a.channels.c1.capacity: 'lots' is not an integer" in str(raised.value)


def test_load_agent_logs_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, BASE + "a.sinks.k1.bogus = 1\n")
    with caplog.at_level(logging.WARNING, logger="services.config.load"):
        load_agent(path, "a")
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}:9: a.sinks.k1.bogus: unknown key bogus for null sink; ignored"
    ]


def test_agent_names_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "zed.channels = c\nalpha.channels = c\nzed.sinks = k\nmid.sources = s\n")
    assert agent_names(path) == ["zed", "alpha", "mid"]


def test_check_file_without_agent_checks_every_agent(tmp_path: Path) -> None:
    text = BASE + "b.sources = r\n"
    assert problems(tmp_path, text, None) == [
        (9, "b.channels", "agent b has no channels"),
        (9, "b.sources.r.type", "source r has no type"),
        (9, "b.sources.r.channels", "source r has no channels"),
    ]
    assert problems(tmp_path, text, "a") == []


def test_unknown_agent(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE, "nope") == [
        (0, "nope", "agent nope not found; this file configures a")
    ]


def test_agent_with_no_channels(tmp_path: Path) -> None:
    assert problems(tmp_path, "a.sources = r1\n# c\na.sources.r1.type = seq\n") == [
        (1, "a.channels", "agent a has no channels"),
        (3, "a.sources.r1.channels", "source r1 has no channels"),
    ]


def test_agent_with_neither_sources_nor_sinks(tmp_path: Path) -> None:
    assert problems(tmp_path, "a.channels = c\na.channels.c.type = memory\n") == [
        (1, "a.sources", "agent a has no sources and no sinks")
    ]


def test_source_with_no_channels(tmp_path: Path) -> None:
    text = BASE.replace("a.sources.r1.channels = c1\n", "a.sources.r1.channel = c1\n")
    assert problems(tmp_path, text) == [
        (
            4,
            "a.sources.r1.channels",
            "source r1 has no channels (a source names its `channels`, plural)",
        )
    ]


def test_source_naming_an_unknown_channel(tmp_path: Path) -> None:
    text = BASE.replace("a.sources.r1.channels = c1", "a.sources.r1.channels = c1 c9")
    assert problems(tmp_path, text) == [(5, "a.sources.r1.channels", "unknown channel c9")]


def test_sink_naming_an_unknown_channel(tmp_path: Path) -> None:
    text = BASE.replace("a.sinks.k1.channel = c1", "a.sinks.k1.channel = c2")
    assert problems(tmp_path, text) == [(8, "a.sinks.k1.channel", "unknown channel c2")]


def test_sink_naming_two_channels(tmp_path: Path) -> None:
    text = BASE.replace("a.sinks.k1.channel = c1", "a.sinks.k1.channel = c1 c1")
    assert problems(tmp_path, text) == [
        (8, "a.sinks.k1.channel", "a sink reads exactly one channel")
    ]


def test_sink_with_no_channel(tmp_path: Path) -> None:
    text = BASE.replace("a.sinks.k1.channel = c1", "a.sinks.k1.channels = c1")
    assert problems(tmp_path, text) == [
        (7, "a.sinks.k1.channel", "sink k1 has no channel (a sink reads one `channel`, singular)")
    ]


def test_listed_component_without_type(tmp_path: Path) -> None:
    text = BASE.replace("a.sinks.k1.type = null\n", "")
    assert problems(tmp_path, text) == [(7, "a.sinks.k1.type", "sink k1 has no type")]


def test_listed_component_without_any_key_is_reported_at_its_listing(tmp_path: Path) -> None:
    text = BASE.replace("a.channels = c1", "a.channels = c1 c2")
    assert problems(tmp_path, text) == [(2, "a.channels.c2.type", "channel c2 has no type")]


def test_component_with_keys_but_not_listed_is_a_warning(tmp_path: Path) -> None:
    assert warnings(tmp_path, BASE + "a.sinks.k2.type = logger\na.sinks.k2.channel = c1\n") == [
        "F:9: a.sinks.k2.type: sink k2 is not listed in a.sinks; its keys are ignored"
    ]


def test_batch_size_above_transaction_capacity(tmp_path: Path) -> None:
    text = (
        BASE + "a.channels.c1.transactionCapacity = 10\na.sources.r1.batchSize = 50\n"
        "a.sinks.k1.batchSize = 11\n"
    )
    assert problems(tmp_path, text) == [
        (
            10,
            "a.sources.r1.batchSize",
            "batch size 50 of source r1 exceeds transactionCapacity 10 of channel c1",
        ),
        (
            11,
            "a.sinks.k1.batchSize",
            "batch size 11 of sink k1 exceeds transactionCapacity 10 of channel c1",
        ),
    ]


def test_default_batch_size_above_transaction_capacity_points_at_the_channel(
    tmp_path: Path,
) -> None:
    text = BASE + "a.channels.c1.transactionCapacity = 10\na.channels.c1.capacity = 10\n"
    assert problems(tmp_path, text) == [
        (
            9,
            "a.channels.c1.transactionCapacity",
            "batch size 100 of sink k1 exceeds transactionCapacity 10 of channel c1",
        )
    ]


def test_transaction_capacity_above_capacity(tmp_path: Path) -> None:
    text = BASE + "a.channels.c1.capacity = 50\n"
    assert problems(tmp_path, text) == [
        (9, "a.channels.c1.capacity", "transactionCapacity 100 is higher than capacity 50")
    ]
    text = BASE + "a.channels.c1.transactionCapacity = 500\n"
    assert problems(tmp_path, text) == [
        (
            9,
            "a.channels.c1.transactionCapacity",
            "transactionCapacity 500 is higher than capacity 100",
        )
    ]


def test_a_name_may_be_shared_across_kinds_as_flume_allows(tmp_path: Path) -> None:
    """Each kind has its own namespace in Flume; the processes are then told apart."""
    text = (BASE.replace("a.sinks = k1", "a.sinks = k1 r1")
            .replace("a.channels = c1", "a.channels = c1 r1")
            + "a.sinks.r1.type = null\na.sinks.r1.channel = c1\na.channels.r1.type = memory\n")
    assert problems(tmp_path, text) == []
    path = tmp_path / "shared.conf"
    path.write_text(text)
    agent = load_agent(str(path), "a")
    assert [agent.process_name(kind, "r1") for kind in ("source", "channel", "sink")] == [
        "r1.source", "r1.channel", "r1.sink"]
    assert agent.process_name("channel", "c1") == "c1"


def test_sink_named_like_an_implicit_router_is_told_apart(tmp_path: Path) -> None:
    text = (
        BASE.replace("a.sinks = k1", "a.sinks = k1 k1-router")
        + "a.sinks.k1-router.type = null\na.sinks.k1-router.channel = c1\n"
    )
    assert problems(tmp_path, text) == []
    path = tmp_path / "router.conf"
    path.write_text(text)
    agent = load_agent(str(path), "a")
    assert (agent.process_name("router", "k1-router"),
            agent.process_name("sink", "k1-router")) == ("k1-router.router", "k1-router.sink")


def test_empty_value_is_an_error(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + "a.channels.c1.capacity =\n") == [
        (9, "a.channels.c1.capacity", "empty value")
    ]


def test_unknown_agent_level_key_is_a_warning(tmp_path: Path) -> None:
    assert warnings(tmp_path, BASE + "a.sink.k1.type = null\na.sources.r1 = x\n") == [
        "F:9: a.sink.k1.type: unknown key; ignored",
        "F:10: a.sources.r1: unknown key; ignored",
    ]


def test_key_under_no_agent_is_a_warning(tmp_path: Path) -> None:
    assert warnings(tmp_path, "nodot = 1\n" + BASE) == [
        "F:1: nodot: key is not under any agent (`<agent>.`); ignored"
    ]


def test_repeated_key_warning_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "a.sinks.k1.type = logger\n")
    errors, found = check_file(path, "a")
    assert errors == [] and found == [
        f"{path}:9: a.sinks.k1.type: repeated key: line 9 replaces line 7"
    ]
    assert load_agent(path, "a").sinks["k1"].type == "logger"


def test_repeated_key_of_another_agent_is_not_reported(tmp_path: Path) -> None:
    assert warnings(tmp_path, BASE + "b.x = 1\nb.x = 2\n") == []


def test_name_with_a_dot_is_an_error(tmp_path: Path) -> None:
    text = BASE.replace("a.sinks = k1", "a.sinks = k1 k.2")
    assert problems(tmp_path, text) == [(3, "a.sinks", "sink name k.2 contains a dot")]


def test_name_with_unsafe_characters_is_an_error(tmp_path: Path) -> None:
    text = BASE.replace("a.sinks = k1", "a.sinks = k1 k/2")
    assert problems(tmp_path, text) == [
        (3, "a.sinks", "sink name k/2 may only contain letters, digits, '_' and '-'")
    ]


def test_config_filters_are_not_supported_yet(tmp_path: Path) -> None:
    assert problems(tmp_path, BASE + "a.configfilters = f1\n") == [
        (9, "a.configfilters", "config filters are not supported yet")
    ]


def test_model_keeps_list_order(tmp_path: Path) -> None:
    text = (
        BASE.replace("a.channels = c1", "a.channels = c1 zc bc").replace(
            "a.sources.r1.channels = c1", "a.sources.r1.channels = zc bc c1"
        )
        + "a.channels.zc.type = memory\na.channels.bc.type = memory\n"
    )
    config = load_agent(write(tmp_path, text), "a")
    assert list(config.channels) == ["c1", "zc", "bc"]
    assert config.sources["r1"].channels == ["zc", "bc", "c1"]


def test_channel_without_users_is_a_warning(tmp_path: Path) -> None:
    text = BASE.replace("a.channels = c1", "a.channels = c1 c2") + "a.channels.c2.type = memory\n"
    assert warnings(tmp_path, text) == [
        "F:9: a.channels: channel c2 has no source or sink connected"
    ]


def test_unreadable_file_is_one_error(tmp_path: Path) -> None:
    path = str(tmp_path / "missing.conf")
    with pytest.raises(ConfigErrors) as raised:
        load_agent(path, "a")
    (error,) = raised.value.errors
    assert (error.file, error.line, error.key) == (path, 0, "")
    assert error.message.startswith("cannot read:")
    assert agent_names(path) == []


def test_file_without_agents(tmp_path: Path) -> None:
    assert problems(tmp_path, "# nothing here\n", None) == [
        (0, "", "no agent is configured in this file")
    ]


def test_agent_name_with_unsafe_characters(tmp_path: Path) -> None:
    text = BASE.replace("a.", "a@b.")
    assert problems(tmp_path, text, "a@b")[0] == (
        1,
        "a@b",
        "agent name a@b may only contain letters, digits, '_' and '-'",
    )


def avro_agent(agent: str, port: int, bind: str = "0.0.0.0") -> str:
    return (f"{agent}.sources = r\n{agent}.channels = c\n{agent}.sinks = k\n"
            f"{agent}.sources.r.type = avro\n{agent}.sources.r.channels = c\n"
            f"{agent}.sources.r.bind = {bind}\n{agent}.sources.r.port = {port}\n"
            f"{agent}.channels.c.type = memory\n{agent}.sinks.k.type = null\n"
            f"{agent}.sinks.k.channel = c\n")


def test_two_agents_of_one_file_on_one_port_is_a_warning(tmp_path: Path) -> None:
    text = avro_agent("c1", 4141) + avro_agent("c2", 4141, "127.0.0.1") + avro_agent("c3", 4142)
    assert warnings(tmp_path, text, None) == [
        "F:17: c2.sources.r.port: port 4141 is also listened on by c1.sources.r.port (line 7): "
        "only one of them can bind it"]


def test_one_port_on_two_distinct_addresses_is_fine(tmp_path: Path) -> None:
    text = avro_agent("c1", 4141, "127.0.0.1") + avro_agent("c2", 4141, "127.0.0.2")
    assert warnings(tmp_path, text, None) == []
