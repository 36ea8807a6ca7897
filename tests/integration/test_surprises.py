"""The agents' teardown check reads supervisord's and the components' own lines: pinned here on
recorded lines, so a change of either format breaks this file instead of silently passing every
test that should fail."""
from __future__ import annotations

from pathlib import Path

from tests.integration.harness import Agent
from tests.integration.surprises import stamp, tracebacks, unasked_exits

SUPERVISORD = """\
2026-12-03 10:35:16,518 INFO supervisord started with pid 849
2026-12-03 10:35:16,692 INFO spawned: 'a-ch' with pid 851
2026-12-03 10:35:20,001 WARN exited: a-k1 (terminated by SIGKILL; not expected)
2026-12-03 10:35:21,002 INFO exited: a-ch (exit status 70; not expected)
2026-12-03 10:35:22,003 INFO exited: a-src (exit status 0; expected)
2026-12-03 10:35:23,004 INFO stopped: a-k2 (exit status 0)
2026-12-03 10:35:31,473 WARN received SIGTERM indicating exit request
2026-12-03 10:35:31,531 INFO exited: a-k-router (exit status 0; expected)
"""

AGENT_LOG = """\
2026-12-03 10:35:18,232 INFO zflume.a.source.src: started (incarnation adab358d3b985625)
2026-12-03 10:35:19,100 ERROR zflume.a.sink.k1: the writer thread failed; exiting for a restart
Traceback (most recent call last):
  File "/x/services/sinks/base.py", line 145, in _run_worker
    self._work(pull)
ValueError: boom
2026-12-03 10:35:19,200 INFO zflume.a.source.src: put 100 events
Traceback (most recent call last):
  File "/x/deploy/cli.py", line 9, in main
KeyError: 'k'
2026-12-03 10:35:19,300 INFO zflume.a.source.src: put 100 events
"""


def test_every_exit_before_the_shutdown_counts_whatever_its_status() -> None:
    """A kill, a crash and a clean exit that supervisord did not ask for each count; a stop it
    was asked for, and whatever follows its shutdown, does not."""
    assert [program for program, _ in unasked_exits(SUPERVISORD, 0)] == ["a-k1", "a-ch", "a-src"]


def test_exits_after_the_harness_asked_to_stop_do_not_count() -> None:
    """`zflume agent` signals the components itself while supervisord is stopping: an exit
    logged before supervisord's own line, but after the harness asked, is the stop."""
    asked = stamp("2026-12-03 10:35:21,500")
    assert [program for program, _ in unasked_exits(SUPERVISORD, asked)] == ["a-k1", "a-ch"]


def test_only_the_first_supervisord_of_a_region_counts() -> None:
    """A second agent of the same name appends its own run: not this run's."""
    later = SUPERVISORD.replace("pid 849", "pid 900").replace("a-", "b-")
    assert [p for p, _ in unasked_exits(SUPERVISORD + later, 0)] == ["a-k1", "a-ch", "a-src"]


def test_a_logged_traceback_is_the_components_and_an_uncaught_one_is_nobodys() -> None:
    found = list(tracebacks(AGENT_LOG))
    assert [program for program, _ in found] == ["a-k1", ""]
    assert found[0][1][0].endswith("the writer thread failed; exiting for a restart")
    assert found[0][1][-1] == "ValueError: boom"
    assert found[1][1][-1] == "KeyError: 'k'"


def test_surprises_name_the_agent_the_program_and_the_line(tmp_path: Path) -> None:
    """Undeclared faults are reported with the supervisord line and the traceback; declared ones
    and a run opted out are not."""
    agent = Agent(tmp_path, "a", "")
    agent.begin_run()  # as `start` does: both logs begin here
    agent.run_dir.mkdir()
    (agent.run_dir / "supervisord.log").write_text(SUPERVISORD)
    agent.log.write_text(AGENT_LOG)
    agent.expect_fault("k1")
    found = agent.surprises()
    assert len(found) == 3, found
    assert found[0].startswith("agent a: a-ch exited under supervisord")
    assert "exited: a-ch (exit status 70; not expected)" in found[0]
    assert found[1].startswith("agent a: a-src exited")
    assert found[2].startswith("agent a: a traceback from a process it cannot name")
    assert "KeyError: 'k'" in found[2]
    agent.allow_faults("the test kills it whole")
    assert agent.surprises() == []
