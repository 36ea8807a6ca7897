"""The `dedupe` interceptor (zflume): drop events whose id a collector has already accepted.

Sources number their events with a stable id header (TAILDIR: inode and offset; spooldir: file
and line; seq: the counter), so a batch re-sent after a timeout or a failover carries the same
ids. A collector configured with

    c.sources.av.interceptors = d
    c.sources.av.interceptors.d.type = dedupe
    c.sources.av.interceptors.d.headerName = eventId     (default)
    c.sources.av.interceptors.d.capacity = 1000000       (ids remembered, oldest forgotten first)

drops those repeats before they reach its channel. An id is remembered only once its batch was
accepted by the channel: a batch that failed must pass again when it is retried. Events without
the header always pass. Whatever its place in the interceptors list, it runs after the others.
"""
from __future__ import annotations

from collections import OrderedDict

from proto import batch
from services.config.model import Plugin


class Deduper:
    """A bounded memory of accepted ids."""

    def __init__(self, plugin: Plugin) -> None:
        self.key = plugin.params["headerName"]
        self.capacity = plugin.params["capacity"]
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.dropped = 0

    def filter(self, bodies: list[bytes], headers: batch.Headers
               ) -> tuple[list[bytes], batch.Headers, list[str]]:
        """(bodies, headers) without already-accepted or repeated ids, and the ids kept."""
        if headers is None:
            return bodies, headers, []
        kept_bodies, kept_headers, ids = [], [], []
        in_batch: set[str] = set()
        for body, event_headers in zip(bodies, headers, strict=True):
            event_id = event_headers.get(self.key)
            if event_id is not None and (event_id in self.seen or event_id in in_batch):
                self.dropped += 1
                continue
            if event_id is not None:
                in_batch.add(event_id)
                ids.append(event_id)
            kept_bodies.append(body)
            kept_headers.append(event_headers)
        return kept_bodies, kept_headers, ids

    def accepted(self, ids: list[str]) -> None:
        for event_id in ids:
            self.seen[event_id] = None
        while len(self.seen) > self.capacity:
            self.seen.popitem(last=False)


def find(plugins: list[Plugin]) -> Deduper | None:
    """The source's deduper, if one of its interceptors is `dedupe`."""
    chosen = [plugin for plugin in plugins if plugin.type == "dedupe"]
    return Deduper(chosen[-1]) if chosen else None
