"""Linux network namespaces made by a test, a veth pair between two of them, and agents run
inside one (`ip netns exec NS zflume agent ...`). Addresses live inside the namespaces only.

Their control and ipc sockets are files, so supervisorctl, `zflume status` and the file_roll
outputs work from the test's own namespace as usual.
"""
from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

from tests.integration.harness import BIN, Agent, wait_for


class NetnsUnavailable(Exception):
    """`ip netns add` did not work here (no root, no iproute2, no CONFIG_NET_NS)."""


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


class Namespaces:
    """Namespaces named `zfc-<random>-<tag>`; `close()` deletes every one (and their veths)."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(3)
        self.names: list[str] = []

    def add(self, tag: str) -> str:
        name = f"zfc-{self.token}-{tag}"
        try:
            ip("netns", "add", name)
        except (OSError, RuntimeError) as exc:
            raise NetnsUnavailable(str(exc)) from exc
        self.names.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def veth(self, a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
        """A veth pair between (namespace, device, address/prefix) a and b, both up."""
        ip("-n", a[0], "link", "add", a[1], "type", "veth", "peer", "name", b[1], "netns", b[0])
        for ns, dev, address in (a, b):
            ip("-n", ns, "addr", "add", address, "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")

    def link(self, ns: str, dev: str, state: str) -> None:
        ip("-n", ns, "link", "set", dev, state)

    def close(self) -> None:
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        self.names.clear()


class NetnsAgent(Agent):
    """An Agent whose supervisord and components run inside network namespace `ns`."""

    def __init__(self, workdir: Path, name: str, conf: str, ns: str) -> None:
        super().__init__(workdir, name, conf)
        self.ns = ns

    def start(self, wait: bool = True) -> "NetnsAgent":
        # `ip netns exec` execs the command, so proc.pid is the agent itself and SIGTERM
        # reaches it as usual.
        self.begin_run()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, str(BIN / "zflume"), "agent", "-f",
                 str(self.conf), "-n", self.name, "--run-dir", str(self.run_dir)],
                cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT)
        if wait:
            wait_for(self.running, 20, f"{self.name}'s programs to run")
        return self
