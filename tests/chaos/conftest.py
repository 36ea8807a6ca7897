from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.chaos.fleet import FIGURES, WRITERS, base_seed
from tests.integration.harness import Agent, fail_on_surprises, stop_all


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[Agent]]:
    """Agents a test starts; all stopped at the end whatever happened, then checked for
    exits and tracebacks the test did not cause (harness.fail_on_surprises)."""
    started: list[Agent] = []
    yield started
    stop_all(started)
    fail_on_surprises(started)


@pytest.fixture(autouse=True)
def end_writers() -> Iterator[None]:
    """No logwriter outlives its test, even a failed one."""
    yield
    while WRITERS:
        writer = WRITERS.pop()
        if writer.poll() is None:
            writer.kill()
        writer.wait()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The chaos figures again at the end, where `pytest -q` shows them without `-s`."""
    if FIGURES:
        terminalreporter.section(f"chaos figures (ZFLUME_CHAOS_SEED={base_seed()})")
        for line in FIGURES:
            terminalreporter.write_line(line)
