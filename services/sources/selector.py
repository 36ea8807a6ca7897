"""Channel selectors: which channels each event of a source goes to (docs/flume.md 4.8).

    replicating   every event to every channel of the source; `optional` ones may fail
    multiplexing  by the value of header `header`: `mapping.VALUE` lists the required channels,
                  `optional.VALUE` optional ones, `default` the required channels of a value
                  that has no mapping (or of an event without the header); an event with
                  neither goes nowhere, as in Flume
    load_balancing  (Flume 1.11) each event to one channel, the next one in turn
                  (`policy` round_robin) or one picked at random (`policy` random)

A source's transaction is split into one part per route (the channels an event goes to and
which of them are required), in order of first appearance, each part still one transaction.
"""
from __future__ import annotations

import random
from typing import NamedTuple

from proto.batch import Headers
from services.config.model import Component


class Route(NamedTuple):
    channels: tuple[str, ...]  # in the source's channel order
    required: frozenset[str]


class Part(NamedTuple):
    route: Route
    bodies: list[bytes]
    headers: Headers


class Selector:
    """Replicating when `mapping` is None."""

    def __init__(self, channels: list[str], optional: set[str], header: str = "",
                 mapping: dict[str, list[str]] | None = None,
                 optional_by_value: dict[str, list[str]] | None = None,
                 default: list[str] | None = None) -> None:
        self.order = channels
        self.header = header
        self.mapping = mapping
        self.optional_by_value = optional_by_value or {}
        self.default = default or []
        self.everywhere = self._route(set(channels) - optional, optional)
        self._routes: dict[str | None, Route] = {}

    def _route(self, required: set[str], optional: set[str]) -> Route:
        wanted = required | optional
        return Route(tuple(ch for ch in self.order if ch in wanted), frozenset(required))

    def possibly_required(self) -> set[str]:
        """Every channel some event may require (the ones a source must watch)."""
        if self.mapping is None:
            return set(self.everywhere.required)
        return {ch for chs in [*self.mapping.values(), self.default] for ch in chs}

    def fixed_route(self) -> Route | None:
        """The route of every event when no event's content picks it (replicating), else None:
        a source may then pass a batch on without decoding it."""
        return self.everywhere if self.mapping is None else None

    def route_of(self, value: str | None) -> Route:
        route = self._routes.get(value)
        if route is None:
            assert self.mapping is not None
            required = set(self.mapping.get(value, self.default) if value is not None
                           else self.default)
            optional = (set(self.optional_by_value.get(value, [])) - required
                        if value is not None else set())
            route = self._routes[value] = self._route(required, optional)
        return route

    def split(self, bodies: list[bytes], headers: Headers) -> list[Part]:
        """The transaction's parts, one per route; a part with no channel is left out."""
        if self.mapping is None:
            return [Part(self.everywhere, bodies, headers)]
        values = [h.get(self.header) for h in headers] if headers else [None] * len(bodies)
        parts: dict[Route, tuple[list[bytes], list[dict[str, str]]]] = {}
        for index, value in enumerate(values):
            part = parts.setdefault(self.route_of(value), ([], []))
            part[0].append(bodies[index])
            part[1].append(headers[index] if headers else {})
        return [Part(route, part_bodies, part_headers if headers else None)
                for route, (part_bodies, part_headers) in parts.items() if route.channels]


class LoadBalancingSelector(Selector):
    """One channel per event, every channel required for the events it is given."""

    def __init__(self, channels: list[str], policy: str) -> None:
        super().__init__(channels, set())
        self.random = policy == "random"
        self.next = 0  # round_robin: the channel index of the next event
        self.singles = [Route((ch,), frozenset((ch,))) for ch in channels]

    def fixed_route(self) -> Route | None:
        return None

    def split(self, bodies: list[bytes], headers: Headers) -> list[Part]:
        n = len(self.order)
        if self.random:
            picks = [random.randrange(n) for _ in bodies]
            chosen = [[i for i, pick in enumerate(picks) if pick == j] for j in range(n)]
        else:
            chosen = [list(range((j - self.next) % n, len(bodies), n)) for j in range(n)]
            self.next = (self.next + len(bodies)) % n
        return [Part(self.singles[j], [bodies[i] for i in indexes],
                     [headers[i] for i in indexes] if headers else None)
                for j, indexes in enumerate(chosen) if indexes]


def make_selector(source: Component) -> Selector:
    """The source's selector from its typed config (replicating when none is configured)."""
    selector = source.selector
    params = selector.params if selector else {}
    if selector is not None and selector.type == "load_balancing":
        return LoadBalancingSelector(source.channels, params["policy"])
    if selector is None or selector.type != "multiplexing":
        return Selector(source.channels, set(params.get("optional", [])))
    return Selector(source.channels, set(), params["header"],
                    {value: text.split() for value, text in params["mapping.*"].items()},
                    {value: text.split() for value, text in params["optional.*"].items()},
                    params["default"])
