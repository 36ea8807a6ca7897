from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.harness import Agent


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[Agent]]:
    """Agents a test starts; all stopped at the end whatever happened."""
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.stop()
