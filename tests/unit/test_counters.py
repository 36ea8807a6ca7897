"""Every counter a component keeps is declared in services/counters.py, so `zflume status` shows
it as 0 before it first moves."""
from __future__ import annotations

import re

from services import counters
from services.counters import Counters
from tests.paths import REPO

USED = re.compile(r'counters\["(\w+)"\]')


def declared() -> set[str]:
    names = set()
    for value in vars(counters).values():
        if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            names.update(value)
    return names


def test_every_counter_used_in_the_code_is_declared() -> None:
    used = {name for path in (REPO / "services").rglob("*.py")
            for name in USED.findall(path.read_text())}
    assert len(used) > 30  # the scan finds them
    assert used - declared() == set()


def test_declared_counters_are_reported_as_zero_from_the_start() -> None:
    report = Counters("SOURCE", counters.AVRO_SOURCE).report()
    assert report["DeniedConnectionCount"] == 0 and report["MalformedMessageCount"] == 0
    assert report["EventAcceptedCount"] == 0 and report["Type"] == "SOURCE"
