"""An agent as supervisord programs: one per source, channel, sink and sink-router.

Program names are `AGENT-COMPONENT` (sink k1 of agent a is `a-k1`; the router of group g is
`a-g`, of a standalone sink k `a-k-router`). No supervisord group holds them: `update` replaces a
changed group whole, and a reload must restart only the programs whose settings changed. Each
command carries `--settings` (services/config/digest.py), so exactly those commands change.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from services.config.digest import agent_digest, settings_digest
from services.config.model import AgentConfig
from services.config.scale import instance
from services.endpoints import endpoint

PROGRAM_OPTIONS = """\
autostart = true
autorestart = true
startsecs = 1
startretries = 1000000
stopwaitsecs = 30
stopasgroup = true
killasgroup = true
stdout_logfile = /dev/stdout
stdout_logfile_maxbytes = 0
redirect_stderr = true
"""


@dataclass
class Paths:
    """Where things are, as the rendered file should spell them (absolute or `%(here)s/...`)."""

    zflume: str  # the zflume executable
    workdir: str  # `directory` of every program: where the agent was started
    control: str  # directory of supervisord's socket, log and pid


@dataclass(frozen=True)
class Monitoring:
    """-Dflume.monitoring.type / port / bind: an `AGENT-monitor` program (deploy/monitor.py)."""

    kind: str  # http | prometheus
    port: int
    bind: str = "127.0.0.1"


def components(agent: AgentConfig) -> list[tuple[str, str]]:
    """(kind, name) of every process of the agent, channels first."""
    return ([("channel", n) for n in agent.channels] + [("sink", n) for n in agent.sinks]
            + [("router", g.router_name) for g in agent.groups]
            + [("source", n) for n in agent.sources])


def check_endpoints(agent: AgentConfig, run_dir: str) -> None:
    """Raise EndpointError now if any ipc path of the agent would be too long for the OS."""
    for kind, name in components(agent):
        endpoint(run_dir, agent.process_name(kind, name), "ctl")
        for role in ("chan", "deliver", "results"):
            endpoint(run_dir, name, role)


def supervisord_header(paths: Paths) -> str:
    """supervisord itself: in the foreground, controlled over a private unix socket only."""
    sock = os.path.join(paths.control, "supervisor.sock")
    return (f"[unix_http_server]\nfile = {sock}\nchmod = 0700\n\n"
            f"[supervisord]\nnodaemon = true\nlogfile = {paths.control}/supervisord.log\n"
            f"pidfile = {paths.control}/supervisord.pid\nchildlogdir = {paths.control}\n\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            f"[supervisorctl]\nserverurl = unix://{sock}\n")


def agent_programs(agent: AgentConfig, conf_file: str, run_dir: str, paths: Paths,
                   extra: tuple[str, ...] = (), conf_name: str = "",
                   monitoring: Monitoring | None = None) -> str:
    """The [program:...] sections of one agent.

    `extra` are options every component command carries (`--instance 2`, `--collectors ...`),
    so each process applies the same transform to the config it loads; `conf_name` is the
    agent's name in the file when a transform renamed it (`agent1` for instance `agent1-2`).
    """
    sections = []
    for kind, name in components(agent):
        program = f"{agent.name}-{agent.process_name(kind, name)}"
        command = " ".join([paths.zflume, "component", "-f", _quote(conf_file),
                            "-n", conf_name or agent.name,
                            "--kind", kind, "--component", name, "--run-dir", _quote(run_dir),
                            "--settings", settings_digest(agent, kind, name), *extra])
        sections.append(f"[program:{program}]\ncommand = {command}\n"
                        f"directory = {paths.workdir}\n{PROGRAM_OPTIONS}")
    if monitoring is not None:
        program = f"{agent.name}-monitor"
        command = " ".join([paths.zflume, "monitor", "-f", _quote(conf_file),
                            "-n", conf_name or agent.name, "--run-dir", _quote(run_dir),
                            "--type", monitoring.kind, "--bind", shlex.quote(monitoring.bind),
                            "--port", str(monitoring.port), "--settings", agent_digest(agent),
                            *extra])
        sections.append(f"[program:{program}]\ncommand = {command}\n"
                        f"directory = {paths.workdir}\n{PROGRAM_OPTIONS}")
    return "\n".join(sections)


def render_agent(agent: AgentConfig, conf_file: str, run_dir: str, paths: Paths,
                 extra: tuple[str, ...] = (), monitoring: Monitoring | None = None) -> str:
    """The whole supervisord config of one agent run by `zflume agent`."""
    return (supervisord_header(paths) + "\n"
            + agent_programs(agent, conf_file, run_dir, paths, extra, monitoring=monitoring))


def render_instances(agent: AgentConfig, conf_file: str, run_dir: str, paths: Paths,
                     count: int) -> str:
    """N copies of a collector, NAME-1 .. NAME-N, each in its own run directory under run_dir."""
    sections = [supervisord_header(paths)]
    for i in range(1, count + 1):
        copy = instance(agent, i)
        sections.append(agent_programs(copy, conf_file, os.path.join(run_dir, copy.name), paths,
                                       ("--instance", str(i)), conf_name=agent.name))
    return "\n".join(sections)


def _quote(path: str) -> str:
    # `%(here)s` must reach supervisord unquoted; everything else is shell-quoted.
    return path if path.startswith("%(here)s") else shlex.quote(path)
