"""The `zflume` command: agent, render, check, status (and `component`, run by supervisord)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys

from deploy import render, status
from services import rundir
from services.config.load import check_file, load_agent
from services.config.model import ConfigErrors
from services.endpoints import EndpointError


def _agent_args(parser: argparse.ArgumentParser) -> None:
    """The options `flume-ng agent` users type; `-c/--conf` is accepted and ignored."""
    parser.add_argument("-f", "--conf-file", dest="conf_file", required=True)
    parser.add_argument("-n", "--name", dest="name", required=True)
    parser.add_argument("-c", "--conf", dest="conf_dir", help="ignored (Flume's conf dir)")
    parser.add_argument("--run-dir", dest="run_dir")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zflume")
    sub = parser.add_subparsers(dest="command", required=True)
    _agent_args(sub.add_parser("agent", help="run one agent in the foreground"))
    _agent_args(sub.add_parser("render", help="print the agent's supervisord config"))
    check = sub.add_parser("check", help="validate a config file")
    check.add_argument("-f", "--conf-file", dest="conf_file", required=True)
    check.add_argument("-n", "--name", dest="name")
    check.add_argument("-c", "--conf", dest="conf_dir", help="ignored")
    stat = sub.add_parser("status", help="print every component's counters")
    stat.add_argument("--run-dir", dest="run_dir", required=True)
    comp = sub.add_parser("component", help="run one component (used by supervisord)")
    _agent_args(comp)
    comp.add_argument("--kind", required=True, choices=["source", "channel", "sink", "router"])
    comp.add_argument("--component", dest="component", required=True)
    return parser


def _load(args: argparse.Namespace):
    try:
        return load_agent(args.conf_file, args.name)
    except ConfigErrors as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)


def _paths(args: argparse.Namespace, run_dir: str) -> render.Paths:
    zflume = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "zflume")
    return render.Paths(zflume=zflume, workdir=os.getcwd(), control=run_dir)


def _rendered(args: argparse.Namespace) -> tuple[str, str]:
    agent = _load(args)
    run_dir = os.path.abspath(args.run_dir or os.path.join("var", "run", args.name))
    try:
        render.check_endpoints(agent, run_dir)
    except EndpointError as exc:
        print(f"zflume: {exc}", file=sys.stderr)
        sys.exit(2)
    conf_file = os.path.abspath(args.conf_file)
    return run_dir, render.render_agent(agent, conf_file, run_dir, _paths(args, run_dir))


def cmd_render(args: argparse.Namespace) -> int:
    print(_rendered(args)[1], end="")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    errors, warnings = check_file(args.conf_file, args.name)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    for error in errors:
        print(error)
    return 1 if errors else 0


def cmd_status(args: argparse.Namespace) -> int:
    print(json.dumps(status.collect(args.run_dir), indent=1, sort_keys=True))
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    """Run supervisord in the foreground for one agent; Ctrl-C or SIGTERM stops every process."""
    run_dir, text = _rendered(args)
    try:
        run_dir = rundir.prepare(run_dir)
        held = rundir.lock(run_dir)
    except rundir.RunDirError as exc:
        print(f"zflume: {exc}", file=sys.stderr)
        return 2
    conf = os.path.join(run_dir, "supervisord.conf")
    with open(conf, "w") as out:
        out.write(text)
    supervisord = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), "supervisord")
    child = subprocess.Popen([supervisord, "-n", "-c", conf])

    def forward(signum: int, frame: object) -> None:
        child.send_signal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    held.close()
    return code


def cmd_component(args: argparse.Namespace) -> int:
    from services.runner import run_component
    return run_component(args.conf_file, args.name, args.kind, args.component,
                         args.run_dir or os.path.join("var", "run", args.name))


COMMANDS = {"agent": cmd_agent, "render": cmd_render, "check": cmd_check, "status": cmd_status,
            "component": cmd_component}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
