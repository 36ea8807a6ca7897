"""The `zflume` command: agent, render, check, status (and `component`, run by supervisord).

Exit status: 0 on success, 1 when `check` found problems or `status` reached no component, 2
when the command could not run (bad config, unusable run directory, missing program).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from importlib import metadata
from typing import IO

from deploy import flume_args, logfile, reload, render, status
from proto.errors import ZflumeError
from services import rundir
from services.config import scale
from services.config.load import check_file, load_agent
from services.config.model import AgentConfig, ConfigErrors
from services.endpoints import EndpointError

STOP_REPEAT_S = 0.25


class CliError(ZflumeError):
    """A problem the user has to fix; printed as is on stderr, `code` is the exit status."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _agent_args(parser: argparse.ArgumentParser) -> None:
    """The options `flume-ng agent` users type; `-c/--conf` is accepted and ignored."""
    parser.add_argument("-f", "--conf-file", dest="conf_file", required=True)
    parser.add_argument("-n", "--name", dest="name", required=True)
    parser.add_argument("-c", "--conf", dest="conf_dir",
                        help="Flume's conf dir: only the -D switches of its flume-env.sh count")
    parser.add_argument("--no-reload-conf", action="store_true",
                        help="never reload the config file (on an edit or on SIGHUP)")
    parser.add_argument("-i", "--poll-interval", dest="poll_interval", type=float, default=30.0,
                        metavar="SECONDS", help="how often the config file is checked for "
                                                "changes (30, as Flume)")
    parser.add_argument("--run-dir", dest="run_dir", help="default: var/run/NAME")
    parser.add_argument("--log-level", dest="log_level", type=str.upper,
                        choices=sorted(flume_args.LEVELS),
                        help="every component's log level (Flume's names; wins over "
                             "-Dflume.root.logger)")
    parser.add_argument("--collectors", metavar="HOST:BASEPORT:N", default="",
                        help="replace the avro sinks by a load_balance group over N collectors")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zflume")
    sub = parser.add_subparsers(dest="command", required=True)
    _agent_args(sub.add_parser("agent", help="run one agent in the foreground; takes "
                                         "flume-ng's -D and JVM switches too"))
    sub.add_parser("version", help="print zflume's version")
    rend = sub.add_parser("render", help="print the agent's supervisord config")
    _agent_args(rend)
    rend.add_argument("--instances", type=int, default=0, metavar="N",
                      help="N copies NAME-1..NAME-N of a collector on consecutive ports")
    check = sub.add_parser("check", help="validate a config file")
    check.add_argument("-f", "--conf-file", dest="conf_file", required=True)
    check.add_argument("-n", "--name", dest="name")
    check.add_argument("-c", "--conf", dest="conf_dir", help="ignored")
    stat = sub.add_parser("status", help="a table of every component (--json: Flume's shape)")
    stat.add_argument("--run-dir", dest="run_dir", required=True)
    stat.add_argument("--json", action="store_true", help="every counter, as Flume's /metrics")
    stat.add_argument("--watch", action="store_true", help="redraw the table every 2 s")
    mon = sub.add_parser("monitor", help="serve the agent's metrics (used by supervisord)")
    _agent_args(mon)
    mon.add_argument("--type", dest="kind", choices=["http", "prometheus"], default="http")
    mon.add_argument("--bind", default="127.0.0.1")
    mon.add_argument("--port", type=int, required=True)
    mon.add_argument("--instance", type=int, default=0, help="copy number (render --instances)")
    comp = sub.add_parser("component", help="run one component (used by supervisord)")
    _agent_args(comp)
    comp.add_argument("--kind", required=True, choices=["source", "channel", "sink", "router"])
    comp.add_argument("--component", dest="component", required=True)
    comp.add_argument("--instance", type=int, default=0, help="copy number (render --instances)")
    for rendered in (mon, comp):  # in the command so that a reload restarts it when it changes
        rendered.add_argument("--settings", metavar="DIGEST", default="",
                              help="fingerprint of the settings it reads (ignored)")
    return parser


def _run_dir(args: argparse.Namespace) -> str:
    return os.path.abspath(args.run_dir or os.path.join("var", "run", args.name))


def _load(args: argparse.Namespace) -> AgentConfig:
    try:
        return load_agent(args.conf_file, args.name)
    except ConfigErrors as exc:
        raise CliError(str(exc)) from exc


def _program(name: str) -> str:
    """An executable of this installation: beside the running `zflume`, else beside Python."""
    for directory in (os.path.dirname(os.path.abspath(sys.argv[0])),
                      os.path.dirname(sys.executable)):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if found is None:
        raise CliError(f"zflume: cannot find the {name} program of this installation")
    return found


def _rendered(args: argparse.Namespace, conf_path: str = "") -> tuple[str, str]:
    """(run dir, supervisord config) of the agent; every path checked against the OS limit.
    The components read `conf_path` (`zflume agent`: its snapshot of the file), else the file."""
    try:
        agent = scale.apply(_load(args), collectors=args.collectors)
    except ValueError as exc:
        raise CliError(f"zflume: {exc}") from exc
    run_dir = _run_dir(args)
    count = getattr(args, "instances", 0)
    copies = [(scale.instance(agent, i), os.path.join(run_dir, f"{agent.name}-{i}"))
              for i in range(1, count + 1)] or [(agent, run_dir)]
    try:
        for copy, copy_dir in copies:
            render.check_endpoints(copy, copy_dir)
        rundir.check_control_socket(run_dir)
    except (EndpointError, rundir.RunDirError) as exc:
        raise CliError(f"zflume: {exc}") from exc
    paths = render.Paths(zflume=_program("zflume"), workdir=os.getcwd(), control=run_dir)
    conf = os.path.abspath(conf_path or args.conf_file)
    if count:
        return run_dir, render.render_instances(agent, conf, run_dir, paths, count)
    extra = ("--collectors", args.collectors) if args.collectors else ()
    return run_dir, render.render_agent(agent, conf, run_dir, paths, extra,
                                        getattr(args, "monitoring", None))


def cmd_render(args: argparse.Namespace) -> int:
    print(_rendered(args)[1], end="")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Every problem as `FILE:LINE: key: message` on stdout; warnings on stderr."""
    errors, warnings = check_file(args.conf_file, args.name)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    for error in errors:
        print(error)
    return 1 if errors else 0


def cmd_status(args: argparse.Namespace) -> int:
    nothing = CliError(f"zflume: no component answered in {os.path.abspath(args.run_dir)}", 1)
    if args.json:
        reports = status.collect(args.run_dir)
        if not reports:
            raise nothing
        print(json.dumps(reports, indent=1, sort_keys=True))
        return 0
    from deploy import status_table
    if args.watch:
        status_table.watch(args.run_dir)
    elif not status_table.show(args.run_dir):
        raise nothing
    return 0


def _take_run_dir(run_dir: str) -> IO[str]:
    """Prepare and lock the run directory; the held lock."""
    try:
        run_dir = rundir.prepare(run_dir)
        return rundir.lock(run_dir)
    except rundir.RunDirError as exc:
        raise CliError(f"zflume: {exc}") from exc


def _snapshot(args: argparse.Namespace, run_dir: str) -> tuple[str, str]:
    """(text of the config file as validated, the supervisord config reading its snapshot):
    the file read before and after the check, again if it changed meanwhile."""
    snapshot = os.path.join(run_dir, reload.SNAPSHOT)
    for _ in range(3):
        try:
            before = reload.read_text(args.conf_file)
            _, text = _rendered(args, snapshot)
            after = reload.read_text(args.conf_file)
        except OSError as exc:
            raise CliError(f"zflume: cannot read {args.conf_file}: {exc.strerror}") from exc
        if after == before:
            return before, text
    raise CliError(f"zflume: {args.conf_file} keeps changing; try again once it is written")


def cmd_agent(args: argparse.Namespace) -> int:
    """Run supervisord in the foreground for one agent; Ctrl-C or SIGTERM stops every process,
    SIGHUP (and an edit, found every --poll-interval seconds) reloads the config.

    supervisord gets SIGTERM if we die, even by kill -9, so an agent never outlives its command.
    """
    from services.parent import parent_death_signal
    run_dir = _run_dir(args)
    conf_text, text = _snapshot(args, run_dir)
    held = _take_run_dir(run_dir)
    conf = os.path.join(run_dir, "supervisord.conf")
    reload.write_atomically(os.path.join(run_dir, reload.SNAPSHOT), conf_text)
    reload.write_atomically(conf, text)
    stop_requested: list[int] = []
    # Installed before the child exists, so a SIGTERM that arrives early is not lost.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop_requested.append(signum))
    signal.signal(signal.SIGINT, lambda signum, frame: stop_requested.append(signum))
    reloader = None if args.no_reload_conf else reload.Reloader(
        args.conf_file, run_dir, args.name, conf_text, text, lambda: _snapshot(args, run_dir),
        _program("supervisorctl"), args.poll_interval)
    signal.signal(signal.SIGHUP, lambda signum, frame: reloader.ask() if reloader else print(
        "zflume: SIGHUP ignored: --no-reload-conf", file=sys.stderr))
    log_file = getattr(args, "log_file", "")
    try:
        child = subprocess.Popen([_program("supervisord"), "-n", "-c", conf],
                                 preexec_fn=parent_death_signal(signal.SIGTERM),
                                 stdout=subprocess.PIPE if log_file else None,
                                 stderr=subprocess.STDOUT if log_file else None)
        copier = logfile.copier(child.stdout, log_file, args.log_console) if (
            log_file and child.stdout is not None) else None
        code = _supervise(child, stop_requested, reloader)
        if copier is not None:
            copier.join(timeout=5)
        return code
    finally:
        held.close()


def _supervise(child: subprocess.Popen[bytes], stop_requested: list[int],
               reloader: reload.Reloader | None = None) -> int:
    """Wait for supervisord, passing every stop request on to it as SIGTERM.

    Once stopping, the components get SIGTERM again every STOP_REPEAT_S until supervisord is done:
    a program supervisord had just forked when it signalled it took the signal before its
    exec, with supervisord's own handler, and would otherwise run on until stopwaitsecs.
    (supervisord itself is signalled once: a second SIGTERM during its exit can kill it.)"""
    def forward(signum: int, frame: object) -> None:
        stop_requested.append(signum)
        child.send_signal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    if stop_requested:
        child.send_signal(signal.SIGTERM)
    while True:
        try:
            code = child.wait(timeout=STOP_REPEAT_S)
            break
        except subprocess.TimeoutExpired:
            if stop_requested:
                _signal_children(child.pid, signal.SIGTERM)
            elif reloader is not None:
                reloader.tick()
    if code < 0:  # supervisord itself was killed: its components stop by themselves
        print(f"zflume: supervisord (pid {child.pid}) was killed by signal {-code} "
              f"({signal.Signals(-code).name}); its components stop within 2 s",
              file=sys.stderr)
        return 1
    return code


def _signal_children(pid: int, sig: int) -> None:
    """Send `sig` to every child process of `pid` (supervisord's programs)."""
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return  # gone meanwhile
    for child in children:
        try:
            os.kill(int(child), sig)
        except OSError:
            continue


def cmd_monitor(args: argparse.Namespace) -> int:
    from deploy.monitor import run_monitor
    return run_monitor(args.conf_file, args.name, _run_dir(args), args.bind, args.port,
                       args.kind, args.instance, args.collectors)


def cmd_component(args: argparse.Namespace) -> int:
    from services.runner import run_component
    return run_component(args.conf_file, args.name, args.kind, args.component, _run_dir(args),
                         args.instance, args.collectors)


def cmd_version(args: argparse.Namespace) -> int:
    print(f"zflume {metadata.version('zflume')} (for Apache Flume 1.11.0 configs, agents and "
          "collectors)")
    return 0


COMMANDS = {"agent": cmd_agent, "render": cmd_render, "check": cmd_check, "status": cmd_status,
            "component": cmd_component, "monitor": cmd_monitor, "version": cmd_version}


def _flume_switches(args: argparse.Namespace, extra: list[str]) -> None:
    """flume-ng's other switches (deploy/flume_args.py): their environment goes to every
    component, and each one that does nothing here says so on stderr."""
    try:
        switches = flume_args.parse(extra, args.conf_dir)
    except flume_args.FlumeArgsError as exc:
        raise CliError(f"zflume: {exc}") from exc
    for note in switches.notes:
        print(f"zflume: {note}", file=sys.stderr)
    for warning in switches.warnings:
        print(f"zflume: warning: {warning}", file=sys.stderr)
    os.environ.update(switches.environment)
    if args.log_level:
        os.environ["ZFLUME_LOG_LEVEL"] = flume_args.LEVELS[args.log_level]
    args.monitoring = switches.monitoring
    args.log_file, args.log_console = switches.log_file, switches.console
    if switches.log_file:
        print(f"zflume: logging to {os.path.abspath(switches.log_file)}"
              f"{' and the console' if switches.console else ''}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "agent":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "agent":
            _flume_switches(args, extra)
        return COMMANDS[args.command](args)
    except CliError as exc:
        print(exc, file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
