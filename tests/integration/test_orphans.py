"""An agent whose supervisord is killed leaves no process behind, and starts again cleanly."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.integration.harness import (BIN, Agent, collector_conf, free_ports, lines_in,
                                       numbers_command, orphan_limit_s, supervisord_pid,
                                       wait_for)

TOTAL = 20_000


def sender_conf(port: int) -> str:
    return f"""
a.sources = src
a.channels = ch
a.sinks = k
a.sources.src.type = exec
a.sources.src.command = {numbers_command(TOTAL, 4000)}
a.sources.src.channels = ch
a.channels.ch.type = memory
a.channels.ch.capacity = 100000
a.sinks.k.type = avro
a.sinks.k.channel = ch
a.sinks.k.hostname = 127.0.0.1
a.sinks.k.port = {port}
"""


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (a zombie has no command line)."""
    found = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def test_components_die_with_a_killed_supervisord_and_the_agent_restarts_cleanly(
        tmp_path: Path, agents: list[Agent]) -> None:
    """kill -9 of a collector's supervisord (the OOM killer's way): `zflume agent` exits 1
    saying so, every component exits by itself within about 2 s (so the avro port is free
    again), and a restarted collector binds it at once and receives every event, which the
    sending agent kept meanwhile."""
    port = free_ports(1)
    collector = Agent(tmp_path, "c", collector_conf("c", port, str(tmp_path / "out"))).start()
    agents.append(collector)
    sender = Agent(tmp_path, "a", sender_conf(port)).start()
    agents.append(sender)
    wait_for(lambda: len(lines_in(tmp_path / "out")) > 1000, 30, "the first events")
    components = [pid for _, pid in collector.statuses().values()]
    assert len(components) == 4, components
    collector.allow_faults("its supervisord is killed; the restart below is checked")
    os.kill(supervisord_pid(collector), signal.SIGKILL)
    killed = time.monotonic()
    assert collector.proc is not None
    code = collector.proc.wait(timeout=10)
    wait_for(lambda: not alive(components), 10, "the orphaned components to exit", step=0.05)
    took = time.monotonic() - killed
    print(f"\nsupervisord killed: its {len(components)} components gone after {took:.2f} s")
    assert code == 1
    assert collector.copier is not None
    collector.copier.join(timeout=5)
    log = collector.log.read_text()
    assert "was killed by signal 9 (SIGKILL)" in log
    assert took < orphan_limit_s(), f"orphans lived {took:.2f} s"

    collector.start()
    got = wait_for(lambda: len(n := set(lines_in(tmp_path / "out"))) >= TOTAL and n, 60,
                   "every event after the restart")
    assert got == set(range(TOTAL))
    log = collector.log.read_text()
    assert "Address already in use" not in log and "Traceback" not in log


def processes_under(marker: str) -> list[int]:
    """Every process whose command line names `marker` (a test's own temporary folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"{pid} (gone)"


def test_ctrl_c_at_any_moment_of_start_up_stops_every_process(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the agent's process group) while supervisord is still forking its
    programs: a program forked just then takes the signal before its exec, so `zflume agent`
    signals the programs again until they are gone. Every process exits within 5 s."""
    port = free_ports(1)
    conf = tmp_path / "c.conf"
    conf.write_text(collector_conf("c", port, str(tmp_path / "out")))
    for delay in (0.2, 0.4, 0.6, 1.0):
        run_dir = tmp_path / f"run-{delay}"
        # As from a terminal: a suite run in the background (`make test &`) has SIGINT
        # ignored, and the agent would inherit that until it installs its own handler.
        proc = subprocess.Popen([str(BIN / "zflume"), "agent", "-f", str(conf), "-n", "c",
                                 "--run-dir", str(run_dir)], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            wait_for(lambda d=run_dir: not processes_under(str(d)), 5,
                     f"every process to stop after Ctrl-C at {delay} s", step=0.05)
        except AssertionError as exc:  # say which ones outlived it, for the next reader
            left = [command_line(pid)[-120:] for pid in processes_under(str(run_dir))]
            raise AssertionError(f"{exc}; still running: {left}") from None
        finally:
            for pid in processes_under(str(run_dir)):
                os.kill(pid, signal.SIGKILL)
            proc.wait(timeout=5)
