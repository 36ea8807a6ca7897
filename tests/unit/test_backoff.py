"""The one backoff: min(cap, base * 2**n), on a fake clock."""
from __future__ import annotations

from services.backoff import Backoff, exponential


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_failure_doubles_the_wait_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 5.0, Clock())
    assert [backoff.failed() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_the_cap_holds_for_any_number_of_failures() -> None:
    """Java's (1 << n) * base overflows from n = 22 and retries at once; here it never does."""
    assert exponential(22, 1000, 30000) == 30000
    assert exponential(10**6, 0.05, 2.0) == 2.0
    assert exponential(40, 1000, 10**16) == 1000 * 2**40


def test_waiting_ends_when_the_earned_wait_is_over() -> None:
    clock = Clock()
    backoff = Backoff(0.5, 10.0, clock)
    assert not backoff.waiting()
    backoff.failed()
    backoff.failed()  # second failure: 1 s from now
    clock.now += 0.99
    assert backoff.waiting()
    clock.now += 0.02
    assert not backoff.waiting()


def test_success_starts_over_and_cancel_keeps_the_count() -> None:
    clock = Clock()
    backoff = Backoff(1.0, 60.0, clock)
    for _ in range(3):
        backoff.failed()
    backoff.cancel()
    assert not backoff.waiting() and backoff.failed() == 8.0
    backoff.succeeded()
    assert not backoff.waiting() and backoff.failed() == 1.0
