"""Settings fingerprints: a reload restarts exactly the processes whose settings changed."""
from __future__ import annotations

from pathlib import Path

from deploy import demo, render
from services.config.digest import settings_digest
from services.config.load import load_agent
from services.config.model import AgentConfig

ROOT = Path(__file__).resolve().parents[2]
BASE = """\
a.sources = s
a.channels = c
a.sinks = k1 k2
a.sources.s.type = seq
a.sources.s.channels = c
a.sources.s.interceptors = f
a.sources.s.interceptors.f.type = regex_filter
a.sources.s.interceptors.f.regex = ^x
a.channels.c.type = memory
a.channels.c.capacity = 1000
a.sinks.k1.type = null
a.sinks.k1.channel = c
a.sinks.k2.type = null
a.sinks.k2.channel = c
a.sinkgroups = g
a.sinkgroups.g.sinks = k1 k2
a.sinkgroups.g.processor.type = failover
"""


def digests(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "a.conf"
    path.write_text(text)
    agent = load_agent(str(path), "a")
    return {name: settings_digest(agent, kind, name) for kind, name in processes(agent)}


def processes(agent: AgentConfig) -> list[tuple[str, str]]:
    return render.components(agent)


def changed(tmp_path: Path, edited: str) -> set[str]:
    before, after = digests(tmp_path, BASE), digests(tmp_path, edited)
    return {name for name in before if after.get(name) != before[name]} | (
        set(after) - set(before))


def test_a_loaded_config_always_gives_the_same_digests(tmp_path: Path) -> None:
    """Every demo config, loaded twice: the same digests (nothing like an object address)."""
    for conf, name in demo.AGENTS:
        first, second = (load_agent(str(ROOT / conf), name) for _ in range(2))
        assert [settings_digest(first, k, n) for k, n in processes(first)] == [
            settings_digest(second, k, n) for k, n in processes(second)]
    assert changed(tmp_path, "# a comment moves every line\n" + BASE) == set()


def test_only_what_reads_a_changed_setting_changes(tmp_path: Path) -> None:
    assert changed(tmp_path, BASE + "a.sinks.k1.batchSize = 7\n") == {"k1", "g"}
    assert changed(tmp_path, BASE.replace("capacity = 1000", "capacity = 2000")) == {
        "c", "s", "g"}
    assert changed(tmp_path, BASE.replace("regex = ^x", "regex = ^y")) == {"s"}
    assert changed(tmp_path, BASE + "a.sinkgroups.g.processor.priority.k2 = 9\n") == {"g"}
