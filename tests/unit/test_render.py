"""The rendered supervisord configs: program names, options, and the committed demo."""
from __future__ import annotations

import configparser
from pathlib import Path

from deploy import demo, render
from services.config.load import load_agent

ROOT = Path(__file__).resolve().parents[2]
PATHS = render.Paths(zflume="/opt/zflume", workdir="/srv", control="/run/a")


def test_committed_supervisord_conf_is_a_fresh_render() -> None:
    """When deploy/demo changes, supervisord.conf must be re-rendered (python -m deploy.demo)."""
    assert (ROOT / "supervisord.conf").read_text() == demo.render_demo()


def test_programs_are_agent_component_each_with_its_settings_digest() -> None:
    agent = load_agent(str(ROOT / "deploy/demo/file_roll_agent.conf"), "agentX")
    parsed = configparser.RawConfigParser()
    parsed.read_string(render.render_agent(agent, "/c/a.conf", "/run/a", PATHS))
    programs = {s.split(":", 1)[1] for s in parsed.sections() if s.startswith("program:")}
    assert programs == {"agentX-sX", "agentX-chX", "agentX-sk1", "agentX-sk2", "agentX-g1"}
    assert [s.split(":", 1)[1] for s in parsed.sections() if s.startswith("program:")] == [
        "agentX-chX", "agentX-sk1", "agentX-sk2", "agentX-g1", "agentX-sX"]
    assert not [s for s in parsed.sections() if s.startswith("group:")]
    sink = parsed["program:agentX-sk1"]
    assert (sink["autorestart"], sink["stopwaitsecs"], sink["stopasgroup"],
            sink["killasgroup"], sink["directory"]) == ("true", "30", "true", "true", "/srv")
    assert int(sink["startretries"]) >= 1000
    assert "--kind sink --component sk1 --run-dir /run/a --settings " in sink["command"]
    assert parsed["unix_http_server"]["file"] == "/run/a/supervisor.sock"
    assert "inet_http_server" not in parsed


def test_standalone_sink_gets_its_own_router(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text("a.sources = s\na.channels = c\na.sinks = k\n"
                    "a.sources.s.type = seq\na.sources.s.channels = c\n"
                    "a.channels.c.type = memory\na.sinks.k.type = null\na.sinks.k.channel = c\n")
    text = render.render_agent(load_agent(str(conf), "a"), str(conf), "/run/a", PATHS)
    assert "[program:a-k-router]" in text and "--kind router --component k-router" in text
