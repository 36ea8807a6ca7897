"""Another user of the machine reaches none of an agent's internals: not one component's ipc
socket, nor supervisord's control socket, even with the run directory inside a directory they
can enter (issue 11 part 5). The user is created by the test; root only."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.harness import Agent, free_ports

USER = "zflume-probe"
PROBE = """
import socket, sys
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        print("OPEN", path)
    except OSError as exc:
        print("REFUSED", path, exc.errno)
    finally:
        s.close()
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd"),
                                reason="needs root to create the other user")


@pytest.fixture
def other_user() -> Iterator[pwd.struct_passwd]:
    created = subprocess.run(["useradd", "--system", "--no-create-home", USER],
                             capture_output=True).returncode == 0
    try:
        yield pwd.getpwnam(USER)
    finally:
        if created:
            subprocess.run(["userdel", USER], capture_output=True)


def probe_as(user: pwd.struct_passwd, paths: list[Path]) -> dict[str, str]:
    """path -> OPEN or REFUSED, tried by `user` with the system's python3."""
    def demote() -> None:
        os.setgid(user.pw_gid)
        os.setgroups([])
        os.setuid(user.pw_uid)
    out = subprocess.run(["/usr/bin/python3", "-c", PROBE, *map(str, paths)], capture_output=True,
                         text=True, timeout=30, preexec_fn=demote, check=True).stdout
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def test_another_user_cannot_connect_to_any_internal_socket(other_user: pwd.struct_passwd) -> None:
    work = Path(tempfile.mkdtemp(prefix="zflume-private-"))
    work.chmod(0o755)  # enterable by anyone: only the run directory's own mode protects it
    port = free_ports(1)
    agent = Agent(work, "c", f"""
c.sources = s
c.channels = ch
c.sinks = k
c.sources.s.type = avro
c.sources.s.bind = 127.0.0.1
c.sources.s.port = {port}
c.sources.s.channels = ch
c.channels.ch.type = memory
c.sinks.k.type = null
c.sinks.k.channel = ch
""")
    try:
        agent.start()
        sockets = [p for p in agent.run_dir.rglob("*") if p.is_socket()]
        assert any(p.name == "supervisor.sock" for p in sockets) and len(sockets) >= 5, sockets
        assert set(probe_as(other_user, sockets).values()) == {"REFUSED"}
        # The probe can see an open socket: with the directory and one socket opened up (as
        # a careless deployment would), the same user gets in.
        agent.run_dir.chmod(0o755)
        opened = next(p for p in sockets if p.name != "supervisor.sock")
        opened.chmod(0o777)
        assert probe_as(other_user, [opened]) == {str(opened): "OPEN"}
    finally:
        agent.stop()
        surprises = agent.surprises()
        shutil.rmtree(work, ignore_errors=True)
    assert not surprises, surprises
