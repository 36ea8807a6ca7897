from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.harness import Agent, fail_on_surprises, stop_all


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[Agent]]:
    """Agents a test starts; all stopped at the end whatever happened, then checked for
    exits and tracebacks the test did not cause (harness.fail_on_surprises)."""
    started: list[Agent] = []
    yield started
    stop_all(started)
    fail_on_surprises(started)
