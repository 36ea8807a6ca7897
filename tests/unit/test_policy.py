"""Sink-group policies against Flume's own test procedures, on a fake clock.

Flume's processors are simulated on top of candidates()/delivered()/failed() by `process()`,
with fake sinks that take one event per call as the Java mocks do (TestFailoverSinkProcessor,
TestLoadBalancingSinkProcessor); where Java sleeps, the fake clock advances.
"""
from __future__ import annotations

import random

import pytest

from services.router.policy import backoff_ms, make_policy

READY, BACKOFF = "READY", "BACKOFF"


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SinkFailed(Exception):
    """A Java sink's process() throwing (EventDeliveryException)."""


class AllSinksFailed(Exception):
    """The processor's own EventDeliveryException: no candidate delivered."""


class Channel:
    """Java's MockChannel / MemoryChannel seen by a sink: take() returns None when empty."""

    def __init__(self, events: int = 0) -> None:
        self.events = events

    def put(self, n: int) -> None:
        self.events += n

    def take(self) -> bool:
        if self.events == 0:
            return False
        self.events -= 1
        return True


class MockSink:
    """TestLoadBalancingSinkProcessor.MockSink: throws when failing, BACKOFF on an empty channel."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.fail = False
        self.events = 0

    def process(self) -> str:
        if self.fail:
            raise SinkFailed
        if not self.channel.take():
            return BACKOFF
        self.events += 1
        return READY


class ConsumeXSink:
    """TestFailoverSinkProcessor.ConsumeXSink: throws once `remaining` events are consumed,
    otherwise READY even when the channel was empty."""

    def __init__(self, channel: Channel, remaining: int) -> None:
        self.channel = channel
        self.remaining = remaining
        self.written = 0

    def process(self) -> str:
        if self.remaining <= 0:
            raise SinkFailed
        if self.channel.take():
            self.remaining -= 1
            self.written += 1
        return READY


def process(policy, sinks: dict) -> str:
    """One Flume SinkProcessor.process(), as the router drives the policy for one batch."""
    for name in policy.candidates():
        try:
            status = sinks[name].process()
        except SinkFailed:
            policy.failed(name, liveness=False)
            continue
        if status == READY:  # a BACKOFF call moved nothing: not a delivery
            policy.delivered(name)
        return status
    raise AllSinksFailed


def drain(policy, sinks: dict) -> None:
    """Java's `while (s != BACKOFF) s = lbsp.process();`."""
    while process(policy, sinks) != BACKOFF:
        pass


def calls(policy, sinks: dict, n: int) -> None:
    """Java's `for (i = 0; i < n && s != BACKOFF; i++) s = lbsp.process();`."""
    for _ in range(n):
        if process(policy, sinks) == BACKOFF:
            return


def lb(sinks: dict, clock: FakeClock, seed: int = 0, **params):
    return make_policy("load_balance", list(sinks), params, {}, clock, random.Random(seed))


def mock_sinks(channel: Channel, n: int = 3, failing: tuple[str, ...] = ()) -> dict:
    sinks = {f"s{i + 1}": MockSink(channel) for i in range(n)}
    for name in failing:
        sinks[name].fail = True
    return sinks


def counts(sinks: dict) -> list[int]:
    return [s.events for s in sinks.values()]


# --- TestFailoverSinkProcessor -----------------------------------------------------------------

def test_flume_failover():
    """testFailover: 15 events -> 10/5; +50 -> s2 50, s3 5; s2 recovered -> 10/70/85."""
    clock, channel = FakeClock(), Channel()
    sinks = {"s1": ConsumeXSink(channel, 10), "s2": ConsumeXSink(channel, 50),
             "s3": ConsumeXSink(channel, 100)}
    policy = make_policy("failover", list(sinks), {"maxpenalty": 10000},
                         {"s1": 3, "s2": 2, "s3": 1}, clock)

    def run(seconds: float) -> None:
        """The SinkRunner spinning while the Java test sleeps: drain, then poll every 0.1 s."""
        while channel.events:
            process(policy, sinks)
        for _ in range(round(seconds / 0.1)):
            clock.advance(0.1)
            process(policy, sinks)

    channel.put(15)
    run(0.1)
    assert (sinks["s1"].written, sinks["s2"].written) == (10, 5)
    channel.put(50)
    run(0.1)
    assert (sinks["s2"].written, sinks["s3"].written) == (50, 5)
    sinks["s2"].remaining = 20
    run(5.0)
    assert policy.snapshot()["active"] == "s2"
    channel.put(100)
    run(1.0)
    assert [s.written for s in sinks.values()] == [10, 70, 85]


# --- TestLoadBalancingSinkProcessor ------------------------------------------------------------

@pytest.mark.parametrize("params", [{}, {"selector": "round_robin"}, {"selector": "ROUND_ROBIN"}])
def test_flume_default_configuration_and_round_robin_no_failure(params):
    """testDefaultConfiguration / testRoundRobinNoFailure: 300 events -> 100/100/100."""
    clock, channel = FakeClock(), Channel(300)
    sinks = mock_sinks(channel)
    drain(lb(sinks, clock, **params), sinks)
    assert counts(sinks) == [100, 100, 100]


@pytest.mark.parametrize("selector", ["round_robin", "random"])
def test_flume_one_active_sink(selector):
    """testRoundRobinOneActiveSink / testRandomOneActiveSink: s1, s3 fail -> s2 gets all 10."""
    clock, channel = FakeClock(), Channel(10)
    sinks = mock_sinks(channel, failing=("s1", "s3"))
    drain(lb(sinks, clock, selector=selector), sinks)
    assert counts(sinks) == [0, 10, 0]


def test_flume_round_robin_persistent_failure():
    """testRoundRobinPersistentFailure: s2 always fails, no backoff -> 100/0/200."""
    clock, channel = FakeClock(), Channel(300)
    sinks = mock_sinks(channel, failing=("s2",))
    policy = lb(sinks, clock)
    drain(policy, sinks)
    assert counts(sinks) == [100, 0, 200]
    assert policy.snapshot()["sinks"]["s2"]["available"]  # without backoff it stays in rotation


def test_flume_round_robin_backoff_initial_failure():
    """testRoundRobinBackoffInitialFailure: s2 fails for calls 4-6, then backed off -> 150/1/149."""
    clock, channel = FakeClock(), Channel(300)
    sinks = mock_sinks(channel)
    policy = lb(sinks, clock, backoff=True)
    calls(policy, sinks, 3)
    sinks["s2"].fail = True
    calls(policy, sinks, 3)
    sinks["s2"].fail = False
    drain(policy, sinks)
    assert counts(sinks) == [150, 1, 149]


def test_flume_round_robin_backoff_increasing_backoffs():
    """testRoundRobinBackoffIncreasingBackoffs: 2 s, then 4 s -> 102/97/101."""
    clock, channel = FakeClock(), Channel(300)
    sinks = mock_sinks(channel, failing=("s2",))
    policy = lb(sinks, clock, backoff=True)
    calls(policy, sinks, 3)
    assert sinks["s2"].events == 0
    clock.advance(2.1)  # out of its 2 s backoff, fails again: 4 s
    calls(policy, sinks, 3)
    assert sinks["s2"].events == 0
    sinks["s2"].fail = False
    clock.advance(2.1)  # still inside the 4 s
    calls(policy, sinks, 3)
    assert sinks["s2"].events == 0
    clock.advance(2.1)
    drain(policy, sinks)
    assert counts(sinks) == [102, 97, 101]


def test_flume_round_robin_backoff_failure_recovery():
    """testRoundRobinBackoffFailureRecovery: s2 fails once, healthy after 2.001 s -> 101/99/100."""
    clock, channel = FakeClock(), Channel(300)
    sinks = mock_sinks(channel, failing=("s2",))
    policy = lb(sinks, clock, backoff=True)
    calls(policy, sinks, 3)
    sinks["s2"].fail = False
    clock.advance(2.001)
    drain(policy, sinks)
    assert counts(sinks) == [101, 99, 100]


@pytest.mark.parametrize("seed", range(5))
def test_flume_random_backoff(seed):
    """testRandomBackoff: s1, s3 fail -> s2 50; s2 fails, s1 healthy but backed off -> nothing
    can deliver; 2.1 s later s1 takes the other 50."""
    clock, channel = FakeClock(), Channel(100)
    sinks = mock_sinks(channel, failing=("s1", "s3"))
    policy = lb(sinks, clock, seed, selector="random", backoff=True)
    for _ in range(50):
        process(policy, sinks)
    assert sinks["s2"].events == 50
    sinks["s2"].fail, sinks["s1"].fail = True, False
    with pytest.raises(AllSinksFailed):
        process(policy, sinks)
    clock.advance(2.1)
    drain(policy, sinks)
    assert counts(sinks) == [50, 50, 0]


@pytest.mark.parametrize("seed", range(5))
def test_flume_random_persistent_failure(seed):
    """testRandomPersistentFailure: s2 always fails, no backoff -> s2 0, s1 + s3 300."""
    clock, channel = FakeClock(), Channel(300)
    sinks = mock_sinks(channel, failing=("s2",))
    drain(lb(sinks, clock, seed, selector="random"), sinks)
    assert sinks["s2"].events == 0
    assert sinks["s1"].events + sinks["s3"].events == 300


def test_flume_random_no_failure():
    """testRandomNoFailure: 10 sinks, 10 000 events -> all delivered, not evenly."""
    clock, channel = FakeClock(), Channel(10_000)
    sinks = mock_sinks(channel, n=10)
    drain(lb(sinks, clock, selector="random"), sinks)
    assert sum(counts(sinks)) == 10_000
    assert len(set(counts(sinks))) > 1


# --- backoff arithmetic ------------------------------------------------------------------------

def test_backoff_formula_never_overflows():
    """Java's 32-bit `(1 << n) * 1000` is negative or zero from n = 22; ours keeps the cap."""
    assert [backoff_ms(n, 30000) for n in range(6)] == [1000, 2000, 4000, 8000, 16000, 30000]
    assert backoff_ms(40, 30000) == 30000
    assert backoff_ms(40, 10**16) == 1000 * 2**40


def _retry_failing(policy, clock: FakeClock, sink: str, times: int) -> list[float]:
    """Fail `sink` each time it is offered again; return each penalty seen right after."""
    penalties = []
    for _ in range(times):
        policy.failed(sink, liveness=False)
        state = policy.snapshot()["sinks"][sink]
        penalties.append(round(state["penalty_remaining_s"], 6))
        clock.advance(state["penalty_remaining_s"])
        assert sink not in policy.candidates()  # refresh == now is not expired: strict <
        clock.advance(0.001)
        assert sink in policy.candidates()
    return penalties


def test_failover_penalty_doubles_up_to_maxpenalty():
    """maxpenalty 10000: 2, 4, 8, 10, 10 s; still 10 s at 40 failures (Java would be 0 or < 0)."""
    clock = FakeClock()
    policy = make_policy("failover", ["a", "b"], {"maxpenalty": 10000}, {"a": 2, "b": 1}, clock)
    assert _retry_failing(policy, clock, "a", 5) == [2, 4, 8, 10, 10]
    assert set(_retry_failing(policy, clock, "a", 35)) == {10}
    assert policy.snapshot()["sinks"]["a"]["sequential_failures"] == 40


def test_failover_default_maxpenalty_and_recovery():
    """A failed sink that delivers is live again; its next failure starts at 2 s."""
    clock = FakeClock()
    policy = make_policy("failover", ["a", "b"], {}, {"a": 2, "b": 1}, clock)
    assert _retry_failing(policy, clock, "a", 6) == [2, 4, 8, 16, 30, 30]
    policy.delivered("a")
    assert policy.candidates() == ["a", "b"]
    assert _retry_failing(policy, clock, "a", 1) == [2]


def test_failover_expired_sinks_come_first_in_refresh_order():
    """Expired failed sinks are retried before the active one, earliest refresh first."""
    clock = FakeClock()
    policy = make_policy("failover", ["a", "b", "c"], {}, {"a": 3, "b": 2, "c": 1}, clock)
    policy.failed("b", liveness=False)
    clock.advance(0.5)
    policy.failed("a", liveness=False)
    assert policy.candidates() == ["c"]
    clock.advance(2.001)
    assert policy.candidates() == ["b", "a", "c"]
    policy.failed("b", liveness=False)
    policy.delivered("a")  # Q8: the retried sink took the batch, not the active one
    assert policy.candidates() == ["a", "c"]
    snap = policy.snapshot()
    assert (snap["active"], snap["reroutes"], snap["failures"]) == ("a", 1, 3)


def test_failover_all_failed_offers_nothing():
    clock = FakeClock()
    policy = make_policy("failover", ["a", "b"], {}, {"a": 2, "b": 1}, clock)
    policy.failed("a", liveness=True)
    policy.failed("b", liveness=False)
    assert policy.candidates() == []
    assert policy.snapshot()["active"] is None


def test_load_balance_backoff_doubles_to_max_timeout_and_caps_counter():
    """2, 4, 8, 16, 30 s with the default maxTimeOut; sequentialFails stops at 16."""
    clock, channel = FakeClock(), Channel()
    policy = lb(mock_sinks(channel), clock, backoff=True)
    assert _retry_failing(policy, clock, "s1", 6) == [2, 4, 8, 16, 30, 30]
    _retry_failing(policy, clock, "s1", 14)
    assert policy.snapshot()["sinks"]["s1"]["sequential_failures"] == 16


def test_load_balance_max_timeout_zero_means_default():
    clock = FakeClock()
    policy = lb(mock_sinks(Channel()), clock, backoff=True, **{"selector.maxTimeOut": 0})
    assert _retry_failing(policy, clock, "s1", 6)[-1] == 30
    policy = lb(mock_sinks(Channel()), clock, backoff=True, **{"selector.maxTimeOut": 5000})
    assert _retry_failing(policy, clock, "s1", 4) == [2, 4, 5, 5]


def test_load_balance_one_hour_reset():
    """A failure within (last backoff + 1 h) of the previous one continues the series; a later
    one starts again at 2 s. Success never resets it."""
    clock = FakeClock()
    policy = lb(mock_sinks(Channel()), clock, backoff=True)
    policy.failed("s1", liveness=False)  # 2 s
    clock.advance(2 + 3600 - 0.001)
    policy.delivered("s1")
    policy.failed("s1", liveness=False)  # still sequential: 4 s
    assert policy.snapshot()["sinks"]["s1"]["penalty_remaining_s"] == pytest.approx(4)
    clock.advance(4 + 3600 + 0.001)
    policy.failed("s1", liveness=False)  # a fresh outage
    state = policy.snapshot()["sinks"]["s1"]
    assert (state["sequential_failures"], state["penalty_remaining_s"]) == (1, pytest.approx(2))


def test_load_balance_all_backed_off_offers_nothing():
    """Flume throws here (random: nextInt(0)); the policy returns [] and the router backs off."""
    for selector in ("round_robin", "random"):
        clock = FakeClock()
        policy = lb(mock_sinks(Channel()), clock, selector=selector, backoff=True)
        for sink in ("s1", "s2", "s3"):
            policy.failed(sink, liveness=False)
        assert policy.candidates() == []
        clock.advance(2.001)
        assert sorted(policy.candidates()) == ["s1", "s2", "s3"]


# --- heartbeats --------------------------------------------------------------------------------

def test_failover_heartbeat_ends_liveness_penalty_at_once():
    """A recovered higher-priority sink gets its traffic back on the next good heartbeat."""
    clock = FakeClock()
    policy = make_policy("failover", ["a", "b"], {}, {"a": 2, "b": 1}, clock)
    policy.failed("a", liveness=True)
    assert policy.candidates() == ["b"]
    policy.heartbeat_ok("a")
    assert policy.candidates() == ["a", "b"]
    assert policy.snapshot()["active"] == "a"


def test_failover_heartbeat_keeps_failed_answer_penalty():
    """A sink that answered FAILED waits for its retry with a real batch."""
    clock = FakeClock()
    policy = make_policy("failover", ["a", "b"], {}, {"a": 2, "b": 1}, clock)
    policy.failed("a", liveness=False)
    policy.heartbeat_ok("a")
    assert policy.candidates() == ["b"]
    clock.advance(2.001)
    assert policy.candidates() == ["a", "b"]


def test_failover_heartbeat_lost_holds_until_heartbeat_ok():
    clock = FakeClock()
    policy = make_policy("failover", ["a", "b"], {}, {"a": 2, "b": 1}, clock)
    policy.heartbeat_lost("a")
    assert policy.snapshot()["sinks"]["a"]["sequential_failures"] == 1  # a liveness failure
    clock.advance(100)  # penalty long expired, still no heartbeat
    assert policy.candidates() == ["b"]
    policy.heartbeat_ok("a")
    assert policy.candidates() == ["a", "b"]


def test_failover_heartbeat_lost_on_failed_sink_keeps_its_penalty():
    """Missed heartbeats after a FAILED answer do not turn it into a liveness failure."""
    clock = FakeClock()
    policy = make_policy("failover", ["a", "b"], {}, {"a": 2, "b": 1}, clock)
    policy.failed("a", liveness=False)
    policy.heartbeat_lost("a")
    policy.heartbeat_ok("a")
    state = policy.snapshot()["sinks"]["a"]
    assert (state["sequential_failures"], state["liveness_failure"]) == (1, False)
    assert policy.candidates() == ["b"]
    clock.advance(2.001)
    assert policy.candidates() == ["a", "b"]


@pytest.mark.parametrize("backoff", [False, True])
def test_load_balance_heartbeat_lost_removes_whatever_backoff_says(backoff):
    clock = FakeClock()
    policy = lb(mock_sinks(Channel()), clock, backoff=backoff)
    policy.heartbeat_lost("s2")
    clock.advance(100)
    assert "s2" not in policy.candidates()
    policy.heartbeat_ok("s2")
    assert "s2" in policy.candidates()


def test_load_balance_heartbeat_restores_only_liveness_backoff():
    clock = FakeClock()
    policy = lb(mock_sinks(Channel()), clock, backoff=True)
    policy.failed("s1", liveness=True)
    policy.failed("s2", liveness=False)
    policy.heartbeat_ok("s1")
    policy.heartbeat_ok("s2")
    assert sorted(policy.candidates()) == ["s1", "s3"]


def test_default_always_offers_its_sink():
    """Flume's DefaultSinkProcessor: the router backs off itself."""
    clock = FakeClock()
    policy = make_policy("default", ["k1"], {}, {}, clock)
    policy.failed("k1", liveness=True)
    policy.heartbeat_lost("k1")
    assert policy.candidates() == ["k1"]
    policy.delivered("k1")
    snap = policy.snapshot()
    assert (snap["active"], snap["deliveries"], snap["failures"]) == ("k1", 1, 1)
    assert snap["reroutes"] == 0


@pytest.mark.parametrize("processor,params", [("bogus", {}), ("load_balance", {"selector": "x.Y"})])
def test_unknown_processor_or_selector_rejected(processor, params):
    with pytest.raises(ValueError):
        make_policy(processor, ["a", "b"], params, {}, FakeClock())
