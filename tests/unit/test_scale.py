"""Collector scaling transforms: instances on consecutive ports, agents over N collectors."""
from __future__ import annotations

from pathlib import Path

import pytest

from deploy import render
from services.config.load import load_agent
from services.config.scale import instance, over_collectors, parse_collectors

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo"
PATHS = render.Paths(zflume="/opt/zflume", workdir="/srv", control="/run/c")


def test_instances_listen_on_consecutive_ports_under_their_own_names() -> None:
    collector = load_agent(str(DEMO / "loadbalance_collector1.conf"), "agent1")
    copies = [instance(collector, i) for i in (1, 2, 3)]
    assert [c.name for c in copies] == ["agent1-1", "agent1-2", "agent1-3"]
    assert [c.sources["s1"].params["port"] for c in copies] == [44441, 44442, 44443]
    assert collector.sources["s1"].params["port"] == 44441  # the original is untouched


def test_render_instances_gives_each_copy_its_programs_and_run_dir() -> None:
    collector = load_agent(str(DEMO / "loadbalance_collector1.conf"), "agent1")
    text = render.render_instances(collector, "/c.conf", "/run/c", PATHS, 3)
    for i in (1, 2, 3):
        assert f"[program:agent1-{i}-s1]" in text
        assert (f"-n agent1 --kind source --component s1 --run-dir /run/c/agent1-{i} "
                "--settings ") in text
        assert f" --instance {i}\n" in text


def test_over_collectors_builds_one_load_balance_group() -> None:
    agent = load_agent(str(DEMO / "failover_agent.conf"), "agentX")
    scaled = over_collectors(agent, "127.0.0.1", 46000, 3)
    assert sorted(scaled.sinks) == ["sk1-1", "sk1-2", "sk1-3"]
    assert [s.params["port"] for s in scaled.sinks.values()] == [46000, 46001, 46002]
    group = scaled.groups[0]
    assert (group.name, group.processor, group.sinks) == (
        "collectors", "load_balance", ["sk1-1", "sk1-2", "sk1-3"])
    assert group.params["backoff"] is True
    assert all(g.name != "g1" for g in scaled.groups)


@pytest.mark.parametrize("spec", ["127.0.0.1:44441", "h:0:2", "h:65535:2", ":1:1", "h:x:1"])
def test_bad_collectors_spec_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_collectors(spec)
