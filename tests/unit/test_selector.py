"""Channel selectors: replicating, and multiplexing by a header (TestMultiplexingChannelSelector's
cases: selection, no selection -> default, optional minus required)."""
from __future__ import annotations

from services.sources.selector import LoadBalancingSelector, Route, Selector

CHANNELS = ["c1", "c2", "c3", "c4"]


def mux(**kwargs) -> Selector:
    return Selector(CHANNELS, set(), "state", {"CZ": ["c1"], "US": ["c2", "c3"]},
                    {"CZ": ["c4", "c1"]}, **kwargs)


def test_replicating_is_one_route_to_every_channel() -> None:
    selector = Selector(CHANNELS, {"c4"})
    parts = selector.split([b"a", b"b"], None)
    assert [p.route for p in parts] == [Route(tuple(CHANNELS), frozenset({"c1", "c2", "c3"}))]
    assert parts[0].bodies == [b"a", b"b"]
    assert selector.possibly_required() == {"c1", "c2", "c3"}


def test_multiplexing_routes_by_header_value_optional_minus_required() -> None:
    selector = mux()
    assert selector.route_of("CZ") == Route(("c1", "c4"), frozenset({"c1"}))
    assert selector.route_of("US") == Route(("c2", "c3"), frozenset({"c2", "c3"}))


def test_an_unmapped_value_or_missing_header_takes_the_default_or_goes_nowhere() -> None:
    assert mux(default=["c4"]).route_of("DE") == Route(("c4",), frozenset({"c4"}))
    assert mux(default=["c4"]).route_of(None) == Route(("c4",), frozenset({"c4"}))
    assert mux().route_of("DE") == Route((), frozenset())


def test_a_transaction_splits_into_one_part_per_route_in_order_of_appearance() -> None:
    headers = [{"state": "US"}, {"state": "CZ"}, {}, {"state": "US"}, {"state": "DE"}]
    parts = mux().split([b"u1", b"c1", b"none", b"u2", b"de"], headers)
    assert [(p.route.channels, p.bodies) for p in parts] == [
        (("c2", "c3"), [b"u1", b"u2"]), (("c1", "c4"), [b"c1"])]
    assert parts[0].headers == [{"state": "US"}, {"state": "US"}]
    assert mux().possibly_required() == {"c1", "c2", "c3"}


def test_load_balancing_round_robin_gives_each_event_the_next_channel_across_batches() -> None:
    """Flume 1.11's TestLoadBalancingChannelSelector: events go to c1, c2, c3, c1, ... and the
    turn carries on into the next transaction."""
    selector = LoadBalancingSelector(["c1", "c2", "c3"], "round_robin")
    assert selector.possibly_required() == {"c1", "c2", "c3"}
    parts = selector.split([b"0", b"1", b"2", b"3"], [{"n": str(i)} for i in range(4)])
    assert [(p.route, p.bodies) for p in parts] == [
        (Route(("c1",), frozenset({"c1"})), [b"0", b"3"]),
        (Route(("c2",), frozenset({"c2"})), [b"1"]),
        (Route(("c3",), frozenset({"c3"})), [b"2"])]
    assert parts[0].headers == [{"n": "0"}, {"n": "3"}]
    assert [(p.route.channels, p.bodies) for p in selector.split([b"4", b"5"], None)] == [
        (("c2",), [b"4"]), (("c3",), [b"5"])]


def test_load_balancing_random_gives_every_event_to_exactly_one_channel() -> None:
    selector = LoadBalancingSelector(["c1", "c2"], "random")
    bodies = [str(i).encode() for i in range(1000)]
    parts = selector.split(bodies, None)
    assert sorted(b for p in parts for b in p.bodies) == sorted(bodies)
    assert {p.route.channels for p in parts} == {("c1",), ("c2",)}
