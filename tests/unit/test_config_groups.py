"""Sink groups: processors, typed params, failover priorities, implicit groups, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.config.load import check_file, load_agent
from services.config.model import AgentConfig

SINKS = """\
a.sources = r1
a.channels = c1
a.sinks = k1 k2 k3
a.sources.r1.type = seq
a.sources.r1.channels = c1
a.channels.c1.type = memory
a.sinks.k1.type = null
a.sinks.k1.channel = c1
a.sinks.k2.type = null
a.sinks.k2.channel = c1
a.sinks.k3.type = null
a.sinks.k3.channel = c1
a.sinkgroups = g1
"""  # group keys start at line 14


def write(tmp_path: Path, groups: str) -> str:
    """Write the three-sink agent plus group lines; return the path."""
    path = tmp_path / "agent.conf"
    path.write_text(SINKS + groups)
    return str(path)


def load(tmp_path: Path, groups: str) -> AgentConfig:
    """A valid agent `a`."""
    return load_agent(write(tmp_path, groups), "a")


def problems(tmp_path: Path, groups: str) -> list[tuple[int, str, str]]:
    """(line, key, message) of every error."""
    return [(e.line, e.key, e.message) for e in check_file(write(tmp_path, groups), "a")[0]]


def warnings(tmp_path: Path, groups: str) -> list[str]:
    """Warnings of an error-free config, as `LINE: key: message`."""
    path = write(tmp_path, groups)
    errors, found = check_file(path, "a")
    assert errors == []
    return [w.removeprefix(path + ":") for w in found]


FAILOVER = "a.sinkgroups.g1.sinks = k1 k2 k3\na.sinkgroups.g1.processor.type = failover\n"
BALANCE = "a.sinkgroups.g1.sinks = k1 k2\na.sinkgroups.g1.processor.type = load_balance\n"
HEARTBEAT = {"heartbeat.interval": 500, "heartbeat.liveness": 3, "window": 4,
             "backoffSleepIncrement": 1000, "maxBackoffSleep": 5000}


def test_failover_params_and_explicit_priorities(tmp_path: Path) -> None:
    group = load(
        tmp_path,
        FAILOVER + "a.sinkgroups.g1.processor.priority.k1 = 5\n"
        "a.sinkgroups.g1.processor.priority.k2 = 10\na.sinkgroups.g1.processor.priority.k3 = -2\n"
        "a.sinkgroups.g1.processor.maxpenalty = 10000\n",
    ).groups[0]
    assert (group.name, group.sinks, group.processor, group.implicit) == (
        "g1",
        ["k1", "k2", "k3"],
        "failover",
        False,
    )
    assert group.priorities == {"k1": 5, "k2": 10, "k3": -2}
    assert group.params == {"maxpenalty": 10000, **HEARTBEAT}
    assert group.line == 15


def test_unranked_sinks_rank_below_explicit_ones_in_file_order(tmp_path: Path) -> None:
    text = (
        "a.sinkgroups.g1.sinks = k3 k1 k2\na.sinkgroups.g1.processor.type = failover\n"
        "a.sinkgroups.g1.processor.priority.k1 = 7\n"
    )
    assert load(tmp_path, text).groups[0].priorities == {"k3": 6, "k1": 7, "k2": 5}


def test_without_any_priority_the_listed_order_decides(tmp_path: Path) -> None:
    priorities = load(tmp_path, FAILOVER.replace("k1 k2 k3", "k2 k3 k1")).groups[0].priorities
    assert priorities == {"k2": -1, "k3": -2, "k1": -3}
    assert sorted(priorities, key=priorities.__getitem__, reverse=True) == ["k2", "k3", "k1"]


def test_equal_failover_priorities_are_an_error(tmp_path: Path) -> None:
    text = (
        FAILOVER
        + "a.sinkgroups.g1.processor.priority.k1 = 5\na.sinkgroups.g1.processor.priority.k2 = 5\n"
    )
    assert problems(tmp_path, text) == [
        (
            17,
            "a.sinkgroups.g1.processor.priority.k2",
            "priority 5 of sink k2 equals that of sink k1 (line 16); "
            "failover priorities must differ",
        )
    ]


def test_unparsable_failover_priority_is_an_error(tmp_path: Path) -> None:
    assert problems(tmp_path, FAILOVER + "a.sinkgroups.g1.processor.priority.k1 = high\n") == [
        (
            16,
            "a.sinkgroups.g1.processor.priority.k1",
            "'high' is not an integer: a failover priority must be an integer",
        )
    ]


def test_priority_of_a_sink_outside_the_group_is_a_warning(tmp_path: Path) -> None:
    text = FAILOVER.replace("k1 k2 k3", "k1 k2") + "a.sinkgroups.g1.processor.priority.k3 = 1\n"
    assert warnings(tmp_path, text) == [
        "16: a.sinkgroups.g1.processor.priority.k3: sink k3 is not in this group; priority ignored"
    ]


def test_load_balance_params(tmp_path: Path) -> None:
    group = load(
        tmp_path,
        BALANCE + "a.sinkgroups.g1.processor.selector = RANDOM\n"
        "a.sinkgroups.g1.processor.backoff = true\n"
        "a.sinkgroups.g1.processor.selector.maxTimeOut = 0\n"
        "a.sinkgroups.g1.processor.window = 2\na.sinkgroups.g1.processor.heartbeat.interval = 0\n",
    ).groups[0]
    assert group.processor == "load_balance"
    assert group.params == {
        "selector": "random",
        "backoff": True,
        "selector.maxTimeOut": 30000,
        "heartbeat.interval": 0,
        "heartbeat.liveness": 3,
        "window": 2,
        "backoffSleepIncrement": 1000,
        "maxBackoffSleep": 5000,
    }


def test_load_balance_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, BALANCE).groups[0].params == {
        "selector": "round_robin",
        "backoff": False,
        "selector.maxTimeOut": 30000,
        **HEARTBEAT,
    }


def test_load_balance_unknown_selector(tmp_path: Path) -> None:
    assert problems(tmp_path, BALANCE + "a.sinkgroups.g1.processor.selector = sticky\n") == [
        (16, "a.sinkgroups.g1.processor.selector", "must be one of round_robin, random, not sticky")
    ]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("org.apache.flume.sink.FailoverSinkProcessor", "failover"),
        ("FAILOVER", "failover"),
        ("org.apache.flume.sink.LoadBalancingSinkProcessor", "load_balance"),
        ("Load_Balance", "load_balance"),
    ],
)
def test_processor_types(tmp_path: Path, written: str, canonical: str) -> None:
    text = BALANCE.replace("load_balance", written)
    assert load(tmp_path, text).groups[0].processor == canonical


def test_default_processor_class_name(tmp_path: Path) -> None:
    text = (
        "a.sinkgroups.g1.sinks = k1\n"
        "a.sinkgroups.g1.processor.type = org.apache.flume.sink.DefaultSinkProcessor\n"
    )
    assert load(tmp_path, text).groups[0].processor == "default"


def test_unknown_processor_type(tmp_path: Path) -> None:
    assert problems(tmp_path, BALANCE.replace("load_balance", "round_robin")) == [
        (15, "a.sinkgroups.g1.processor.type", "unknown type round_robin")
    ]


def test_groups_are_explicit_first_then_implicit_in_file_order(tmp_path: Path) -> None:
    config = load(tmp_path, "a.sinkgroups.g1.sinks = k2\n")
    assert [(g.name, g.sinks, g.processor, g.implicit) for g in config.groups] == [
        ("g1", ["k2"], "default", False),
        ("k1", ["k1"], "default", True),
        ("k3", ["k3"], "default", True),
    ]
    assert [g.router_name for g in config.groups] == ["g1", "k1-router", "k3-router"]
    assert all(g.params == HEARTBEAT for g in config.groups)
    assert config.group_of("k3").line == 11


def test_sink_in_two_groups(tmp_path: Path) -> None:
    text = (
        "a.sinkgroups = g1 g2\na.sinkgroups.g1.sinks = k1 k2\n"
        "a.sinkgroups.g1.processor.type = failover\n"
        "a.sinkgroups.g2.sinks = k3 k2\na.sinkgroups.g2.processor.type = failover\n"
    )
    assert problems(tmp_path, text) == [
        (17, "a.sinkgroups.g2.sinks", "sink k2 is already in sink group g1 (line 15)")
    ]


def test_group_of_several_sinks_without_processor_type(tmp_path: Path) -> None:
    assert problems(tmp_path, "a.sinkgroups.g1.sinks = k1 k2\n") == [
        (14, "a.sinkgroups.g1.processor.type", "sink group g1 has 2 sinks but no processor.type")
    ]


def test_default_processor_with_several_sinks(tmp_path: Path) -> None:
    assert problems(tmp_path, BALANCE.replace("load_balance", "default")) == [
        (
            15,
            "a.sinkgroups.g1.processor.type",
            "the default processor drives one sink; sink group g1 has 2 "
            "(use failover or load_balance)",
        )
    ]


def test_load_balance_with_one_sink(tmp_path: Path) -> None:
    assert problems(tmp_path, BALANCE.replace("k1 k2", "k1")) == [
        (
            15,
            "a.sinkgroups.g1.processor.type",
            "load_balance needs at least 2 sinks; sink group g1 has 1",
        )
    ]


def test_group_without_sinks_key(tmp_path: Path) -> None:
    assert problems(tmp_path, "a.sinkgroups.g1.processor.type = failover\n") == [
        (14, "a.sinkgroups.g1.sinks", "sink group g1 has no sinks")
    ]


def test_listed_group_without_any_key(tmp_path: Path) -> None:
    assert problems(tmp_path, "") == [(13, "a.sinkgroups.g1.sinks", "sink group g1 has no sinks")]


def test_group_naming_an_unknown_sink(tmp_path: Path) -> None:
    assert problems(tmp_path, FAILOVER.replace("k1 k2 k3", "k1 k9")) == [
        (14, "a.sinkgroups.g1.sinks", "unknown sink k9")
    ]


def test_group_named_like_a_sink_is_told_apart(tmp_path: Path) -> None:
    text = (
        "a.sinkgroups = k3\na.sinkgroups.k3.sinks = k1 k2\n"
        "a.sinkgroups.k3.processor.type = failover\n"
    )
    agent = load(tmp_path, text)
    assert (agent.process_name("router", "k3"), agent.process_name("sink", "k3")) == (
        "k3.router", "k3.sink")


def test_unknown_group_and_processor_keys_are_warnings(tmp_path: Path) -> None:
    text = BALANCE + "a.sinkgroups.g1.processor.maxpenalty = 5\na.sinkgroups.g1.sinkz = k3\n"
    assert warnings(tmp_path, text) == [
        "16: a.sinkgroups.g1.processor.maxpenalty: "
        "unknown key maxpenalty for load_balance processor; ignored",
        "17: a.sinkgroups.g1.sinkz: unknown key sinkz for a sink group; ignored",
    ]


def test_group_params_are_range_checked(tmp_path: Path) -> None:
    text = (
        BALANCE
        + "a.sinkgroups.g1.processor.window = 0\na.sinkgroups.g1.processor.heartbeat.liveness = x\n"
    )
    assert problems(tmp_path, text) == [
        (16, "a.sinkgroups.g1.processor.window", "must be at least 1, not 0"),
        (17, "a.sinkgroups.g1.processor.heartbeat.liveness", "'x' is not an integer"),
    ]


def test_the_no_sink_backoff_is_settable_and_checked(tmp_path: Path) -> None:
    """Flume's SinkRunner constants are keys here; a zero step would spin, so it is an error
    that names the line and the key."""
    group = load(tmp_path, FAILOVER + "a.sinkgroups.g1.processor.backoffSleepIncrement = 200\n"
                 "a.sinkgroups.g1.processor.maxBackoffSleep = 800\n").groups[0]
    assert (group.params["backoffSleepIncrement"], group.params["maxBackoffSleep"]) == (200, 800)
    found = problems(tmp_path, FAILOVER + "a.sinkgroups.g1.processor.backoffSleepIncrement = 0\n")
    assert [(line, key) for line, key, _ in found] == [
        (16, "a.sinkgroups.g1.processor.backoffSleepIncrement")]
