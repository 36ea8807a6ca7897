"""The seq source: bodies "0", "1", ... up to totalEvents, as Flume's SequenceGeneratorSource.

The counter advances only when a batch is handed over, and a handed-over batch is retried until
a channel took it, so every number is put exactly once (a test source to count losses with).
Each event carries the id `<origin>-<counter>` (header `eventIdHeaderKey`, unless
`eventIdHeader = false`), so duplicates can be counted and dropped downstream.
"""
from __future__ import annotations

from services import counters
from services.config.model import AgentConfig
from services.sources.base import SourceProcess
from services.sources.eventids import origin


class SeqSource(SourceProcess):
    EXTRA_COUNTERS = (*counters.ANY_SOURCE, *counters.SEQ_SOURCE)

    def __init__(self, agent: AgentConfig, name: str, run_dir: str) -> None:
        super().__init__(agent, name, run_dir)
        self.batch_size = int(self.conf.params["batchSize"])
        self.total = int(self.conf.params["totalEvents"])
        self.next = 0
        self.id_key = self.conf.params["eventIdHeaderKey"]
        self.id_prefix = (f"{origin(agent.name, name)}-" if self.conf.params["eventIdHeader"]
                          else None)
        self.after(0, self.resume)

    def resume(self) -> None:
        while self.has_room() and self.next < self.total and not self.stopping:
            end = min(self.total, self.next + self.batch_size)
            numbers = range(self.next, end)
            headers = (None if self.id_prefix is None
                       else [{self.id_key: f"{self.id_prefix}{i}"} for i in numbers])
            self.submit([str(i).encode() for i in numbers], headers)
            self.next = end
        self.counters["GeneratedCount"] = self.next
