"""The dedupe interceptor: repeats of accepted ids are dropped, unaccepted ones pass again."""
from __future__ import annotations

from services.config.model import Plugin
from services.sources.dedupe import Deduper, find


def deduper(capacity: int = 10) -> Deduper:
    return Deduper(Plugin("d", "dedupe", {"headerName": "eventId", "capacity": capacity}))


def ids(*names: str) -> list[dict[str, str]]:
    return [{"eventId": name} for name in names]


def test_repeats_of_accepted_ids_are_dropped() -> None:
    d = deduper()
    bodies, headers, kept = d.filter([b"a", b"b"], ids("1", "2"))
    d.accepted(kept)
    bodies, headers, kept = d.filter([b"b", b"c"], ids("2", "3"))
    assert (bodies, kept, d.dropped) == ([b"c"], ["3"], 1)


def test_a_batch_that_was_never_accepted_passes_again() -> None:
    d = deduper()
    d.filter([b"a"], ids("1"))  # its put failed: never accepted
    assert d.filter([b"a"], ids("1"))[0] == [b"a"]


def test_repeats_inside_one_batch_and_events_without_ids() -> None:
    d = deduper()
    bodies, headers, kept = d.filter([b"a", b"a", b"x"], [{"eventId": "1"}, {"eventId": "1"}, {}])
    assert (bodies, kept) == ([b"a", b"x"], ["1"])
    assert d.filter([b"x"], None) == ([b"x"], None, [])


def test_memory_is_bounded_oldest_forgotten_first() -> None:
    d = deduper(capacity=2)
    d.accepted(["1", "2", "3"])
    assert list(d.seen) == ["2", "3"]
    assert d.filter([b"a"], ids("1"))[0] == [b"a"]


def test_find_takes_the_dedupe_plugin_only() -> None:
    assert find([Plugin("t", "timestamp", {})]) is None
    assert find([Plugin("d", "dedupe", {"headerName": "id", "capacity": 5})]).key == "id"
