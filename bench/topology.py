"""The two-tier failover topology of the seed, in Flume's own properties format.

zflume reads Flume's properties files, so the very same text runs under `zflume agent` and under
real Flume's `flume-ng agent`: the zflume and Flume columns of bench/two_tier.py differ only in
what executes the configs, never in a setting.

    agent x: exec `cat FILE` -> memory -> failover group of avro sinks k1 (priority 9), k2 (7)
    collectors c1, c2: avro -> memory -> file_roll (rollInterval 0) into WORK/out/c1, WORK/out/c2
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from tests.integration import harness

LINE = b"x" * 99 + b"\n"  # 100-byte lines, as the issue specifies
COLLECTORS = ("c1", "c2")


@dataclass(frozen=True)
class Setting:
    """Batch sizes and channel sizes of one benchmark setting, the same on both tiers."""
    name: str
    batch: int  # exec source batchSize
    sink_batch: int  # avro sink batch-size and file_roll sink.batchSize
    capacity: int  # memory channel capacity
    txn: int  # memory channel transactionCapacity
    ack: str = "channel"  # the collectors' avro source `ack` (zflume; Flume ignores the key)

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


# seed: Flume's defaults as the seed's configs leave them (exec 20, avro and file_roll 100) with
# the seed's channels 1000/100. batch100 changes only the exec batch, so seed -> batch100 shows
# what the small exec batch costs; the big batches need room for whole batches in flight.
SETTINGS = {s.name: s for s in (
    Setting("seed", batch=20, sink_batch=100, capacity=1000, txn=100),
    Setting("batch100", batch=100, sink_batch=100, capacity=1000, txn=100),
    Setting("batch1000", batch=1000, sink_batch=1000, capacity=100_000, txn=1000),
    Setting("batch5000", batch=5000, sink_batch=5000, capacity=100_000, txn=5000),
    # What `ack = delivered` costs: the collectors answer once their file_roll sink wrote a batch
    Setting("seed-delivered", batch=20, sink_batch=100, capacity=1000, txn=100, ack="delivered"),
    Setting("batch1000-delivered", batch=1000, sink_batch=1000, capacity=100_000, txn=1000,
            ack="delivered"),
)}
SEED = SETTINGS["seed"]


def agent_conf(command: str, base_port: int, s: Setting) -> str:
    """Agent `x`: exec -> memory -> failover over avro sinks to ports base_port, base_port+1."""
    sinks = "".join(f"""
x.sinks.k{i}.type = avro
x.sinks.k{i}.channel = ch
x.sinks.k{i}.hostname = 127.0.0.1
x.sinks.k{i}.port = {base_port + i - 1}
x.sinks.k{i}.batch-size = {s.sink_batch}""" for i in (1, 2))
    return f"""x.sources = src
x.channels = ch
x.sinks = k1 k2
x.sources.src.type = exec
x.sources.src.command = {command}
x.sources.src.channels = ch
x.sources.src.batchSize = {s.batch}
x.sources.src.batchTimeout = 100
x.channels.ch.type = memory
x.channels.ch.capacity = {s.capacity}
x.channels.ch.transactionCapacity = {s.txn}
{sinks}
x.sinkgroups = g
x.sinkgroups.g.sinks = k1 k2
x.sinkgroups.g.processor.type = failover
x.sinkgroups.g.processor.priority.k1 = 9
x.sinkgroups.g.processor.priority.k2 = 7
"""


def collector_conf(name: str, port: int, out: Path, s: Setting) -> str:
    """Collector `name`: the tests' collector (avro on 127.0.0.1:port -> memory -> file_roll
    into `out`, never rolled) at this setting's sizes."""
    return (harness.collector_conf(name, port, str(out), s.capacity, s.txn)
            + f"{name}.sinks.k.sink.batchSize = {s.sink_batch}\n"
            + f"{name}.sources.s.ack = {s.ack}\n")


def out_dir(work: Path, collector: str) -> Path:
    """Where collector `collector` of a fleet in `work` writes its file_roll files."""
    return work / "out" / collector
