"""The top-level supervisord.conf: the demo topology rendered from the configs in deploy/demo/.

`python -m deploy.demo > supervisord.conf` regenerates it; a test fails when the committed file
drifts from a fresh render. Every path is relative to the file (`%(here)s`), so the checkout can
live anywhere.
"""
from __future__ import annotations

import sys
from pathlib import Path

from deploy.render import Paths, agent_programs, components, supervisord_header
from services.config.load import load_agent

HERE = "%(here)s"
ROOT = Path(__file__).resolve().parents[1]
# (config file, agent name), in start-up order of the listing (supervisord starts them together).
# The seed's failover topology: agentX tails var/demo/command.log and fails over from agent1
# (port 44441) to agent2 (port 44442); the collectors log every event to the terminal.
AGENTS = [("deploy/demo/failover_collector1.conf", "agent1"),
          ("deploy/demo/failover_collector2.conf", "agent2"),
          ("deploy/demo/failover_agent.conf", "agentX")]
WRITER = f"""[program:writer]
command = {HERE}/.venv/bin/python -m deploy.writer var/demo/command.log
directory = {HERE}
autorestart = true
stdout_logfile = /dev/stdout
stdout_logfile_maxbytes = 0
redirect_stderr = true
"""


def render_demo() -> str:
    paths = Paths(zflume=f"{HERE}/.venv/bin/zflume", workdir=HERE, control=f"{HERE}/var/run/demo")
    parts = ["; Rendered by `python -m deploy.demo` from deploy/demo/: edit those, not this.\n",
             supervisord_header(paths)]
    for conf, name in AGENTS:
        agent = load_agent(str(ROOT / conf), name)
        parts.append(agent_programs(agent, f"{HERE}/{conf}", f"{HERE}/var/run/{name}", paths))
        # one supervisord for the three agents, never reloaded: a group per agent, so that
        # `supervisorctl stop agent1:*` takes a whole collector down
        programs = [f"{name}-{agent.process_name(kind, c)}" for kind, c in components(agent)]
        parts.append(f"[group:{name}]\nprograms = {','.join(programs)}\n")
    parts.append(WRITER)
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render_demo())
