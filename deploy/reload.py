"""Config reload for `zflume agent`: restart only what changed, lose nothing.

Like Flume, the agent looks at its config file every `--poll-interval` seconds (30) and at once
on SIGHUP. Unlike Flume, which stops and restarts every component, a valid new config restarts
only the programs whose settings changed (each program's command carries a fingerprint of the
settings it reads, services/config/digest.py, and supervisord's `update` restarts a program
whose command changed, adds new ones and removes old ones). The components read a snapshot of
the last valid file in the run directory, so one restarted after a crash never reads a broken
or half-written edit.

Nothing acknowledged is lost: a memory channel that is changed or removed is drained first (the
sources writing to it are stopped, and the reload waits until its sinks delivered what it held;
if they cannot within DRAIN_S the reload is abandoned and the sources start again); a file
channel keeps its data across its restart; a restarted router's leased batches go back to its
channel and are delivered again (told by SIGUSR1 that it is handing over, a router stops once
its flights have landed instead of first draining its channel). A config with errors is refused
with its `FILE:LINE: key: message` lines, once per edit, and the running agent carries on.
"""
from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from deploy import status
from proto.errors import ZflumeError
from services.config.load import load_agent
from services.config.model import AgentConfig

SNAPSHOT = "agent.conf"  # in the run directory: what the components read
DRAIN_S = 60.0
DRAIN_POLL_S = 0.2


def read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return handle.read()


def write_atomically(path: str, text: str) -> None:
    """Readers see the old file or the new one, never a part."""
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)
    os.replace(temp, path)


def programs(rendered: str) -> dict[str, str]:
    """program name -> command of a rendered supervisord config."""
    parsed = configparser.RawConfigParser()
    parsed.read_string(rendered)
    return {section.split(":", 1)[1]: parsed[section]["command"]
            for section in parsed.sections() if section.startswith("program:")}


def say(message: str) -> None:
    print(f"zflume: {message}", file=sys.stderr, flush=True)


class Reloader:
    """Checks the config file from the launcher's loop (`tick`) and applies a valid change.

    `snapshot()` validates the file and returns (its text, the supervisord config rendered from
    it), raising ZflumeError with every problem when it is not valid.
    """

    def __init__(self, conf_file: str, run_dir: str, agent_name: str, text: str, rendered: str,
                 snapshot: Callable[[], tuple[str, str]], supervisorctl: str,
                 interval_s: float) -> None:
        self.conf_file, self.run_dir, self.agent_name = conf_file, run_dir, agent_name
        self.text, self.rendered = text, rendered
        self.snapshot, self.supervisorctl = snapshot, supervisorctl
        self.interval_s = interval_s
        self.next_check = time.monotonic() + interval_s
        self.asked = False
        self.refused = ""  # the text last refused, so one broken edit is reported once

    def ask(self) -> None:
        """SIGHUP: check at the next tick (never inside the signal handler)."""
        self.asked = True

    def tick(self) -> None:
        now = time.monotonic()
        if not self.asked and now < self.next_check:
            return
        asked, self.asked = self.asked, False
        self.next_check = now + self.interval_s
        try:
            text = read_text(self.conf_file)
        except OSError as exc:
            if self.refused != "unreadable":
                self.refused = "unreadable"
                say(f"cannot read {self.conf_file} ({exc}); the running agent is unchanged")
            return
        if text == self.text or (text == self.refused and not asked):
            if asked:
                say(f"{self.conf_file} is unchanged; nothing to reload")
            return
        try:
            text, rendered = self.snapshot()
        except ZflumeError as exc:
            self.refused = text
            say(f"reload refused, the running agent is unchanged:\n{exc}")
            return
        self.apply(text, rendered)

    def apply(self, text: str, rendered: str) -> None:
        old, new = programs(self.rendered), programs(rendered)
        changed = sorted(p for p in old if p in new and old[p] != new[p])
        removed = sorted(set(old) - set(new))
        added = sorted(set(new) - set(old))
        stopped: list[str] = []
        if changed or removed:
            drained = self._drain(set(changed) | set(removed))
            if drained is None:
                self.refused = text
                return
            stopped = drained
        write_atomically(os.path.join(self.run_dir, SNAPSHOT), text)
        write_atomically(os.path.join(self.run_dir, "supervisord.conf"), rendered)
        self.text, self.rendered, self.refused = text, rendered, ""
        if changed or removed or added:
            routers = [p for p in (*changed, *removed) if " --kind router " in old[p]]
            if routers:  # they leave what the channel holds to their successors
                self._ctl("signal", "USR1", *routers)
            self._ctl("update")
        restart = [p for p in stopped if p in new and p not in changed]
        if restart:
            self._ctl("start", *restart)
        say(f"reloaded {self.conf_file}: restarted {', '.join(changed) or 'none'}; added "
            f"{', '.join(added) or 'none'}; removed {', '.join(removed) or 'none'}")

    def _drain(self, leaving: set[str]) -> list[str] | None:
        """Empty every memory channel among `leaving` programs: stop its sources and wait for its
        sinks. The sources stopped, or None (and the sources started again) if a channel could
        not be emptied in DRAIN_S."""
        agent = load_agent(os.path.join(self.run_dir, SNAPSHOT), self.agent_name)
        channels = [ch for ch, comp in agent.channels.items() if comp.type == "memory"
                    and self._program(agent, "channel", ch) in leaving]
        if not channels:
            return []
        sources = [self._program(agent, "source", s) for s, comp in agent.sources.items()
                   if set(comp.channels) & set(channels)]
        say(f"reload: draining memory channel(s) {', '.join(channels)} before their restart; "
            f"stopping {', '.join(sources) or 'no source'}")
        if sources:
            self._ctl("stop", *sources)
        deadline = time.monotonic() + DRAIN_S
        while (held := self._held(channels)) and time.monotonic() < deadline:
            time.sleep(DRAIN_POLL_S)
        if held:
            say(f"reload abandoned: {held} still held after {DRAIN_S:.0f} s (its sinks cannot "
                "deliver); the running agent is unchanged")
            if sources:
                self._ctl("start", *sources)
            return None
        return sources

    def _held(self, channels: list[str]) -> str:
        """'' once every channel answers and is empty, else what is still held."""
        reports = status.collect(self.run_dir)
        out = []
        for ch in channels:
            size = reports.get(f"CHANNEL.{ch}", {}).get("ChannelSize")
            if size != "0":
                out.append(f"{ch}: {size if size is not None else 'no answer'}")
        return ", ".join(out)

    @staticmethod
    def _program(agent: AgentConfig, kind: str, name: str) -> str:
        return f"{agent.name}-{agent.process_name(kind, name)}"

    def _ctl(self, *args: str) -> None:
        conf = os.path.join(self.run_dir, "supervisord.conf")
        result = subprocess.run([self.supervisorctl, "-c", conf, *args], capture_output=True,
                                text=True, timeout=120)
        for line in (result.stdout + result.stderr).splitlines():
            if line.strip():
                say(f"supervisorctl {args[0]}: {line.strip()}")
