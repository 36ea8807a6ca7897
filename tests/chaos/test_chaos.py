"""The two-tier fleet under a seeded storm of kill -9, SIGSTOP/SIGCONT and supervisorctl restart.

Every variant first strikes each (kind of process, fault) pair its targets allow once (source,
channel, router, sink, whole collector x kill -9, SIGSTOP, restart), on a target of that kind
drawn at random, then random strikes up to its count. Short form (in `make test`): the three
failover variants, 20,000 events and at least 10 faults each. Long form (`make chaos`, ZFLUME_CHAOS=long): 200,000
events and 60 faults per variant. Each run draws a new seed and prints it; ZFLUME_CHAOS_SEED=N
replays that storm.
"""
from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from deploy.status import collect
from tests.chaos.driver import Driver
from tests.chaos.fleet import (ALL_FAULTS, BATCH, LONG, Figures, Fleet, GapWatch, Programs, Shape,
                               failure_report, report, rng_for, settle)
from tests.integration.harness import Agent, wait_for

TOTAL = 200_000 if LONG else 20_000
FAULTS = 60 if LONG else 10
RATE = 2_500 if LONG else 4_000  # taildir lines/s: the stream outlasts the storm
PAUSE_S = (0.5, 1.5) if LONG else (0.1, 0.4)  # between two faults
SETTLE_S = 180 if LONG else 60

pytestmark = pytest.mark.timeout(1200 if LONG else 300)


def storm(tmp_path: Path, agents: list[Agent], shape: Shape, channel_faults: tuple[str, ...],
          source_faults: tuple[str, ...], collector_faults: tuple[str, ...],
          collector_channel_faults: tuple[str, ...] | None = None) -> Figures:
    """Run `shape` under FAULTS faults; print its figures; fail on any lost event."""
    rng, seed = rng_for(shape.label)
    print(f"\nchaos {shape.label}: ZFLUME_CHAOS_SEED={seed}")
    fleet = Fleet(tmp_path, shape, agents)
    started = time.monotonic()
    fleet.start()
    watch = GapWatch(fleet.tally)
    watch.start()
    wait_for(lambda: fleet.tally.poll() > 500, 30, "events to flow")
    driver = Driver(rng, fleet.targets(channel_faults, source_faults, collector_faults,
                                       collector_channel_faults), t0=watch.t0)
    driver.run(FAULTS, PAUSE_S)
    wanted = {(t.kind, fault) for t in driver.targets for fault in t.faults}
    assert driver.covered() == wanted, sorted(wanted - driver.covered())
    print("covered: " + ", ".join(f"{kind} {fault}" for kind, fault in sorted(wanted)))
    driver.finish()
    if fleet.writer is not None:
        fleet.writer.wait(SETTLE_S)
    complete = settle(fleet.tally, fleet.sent, SETTLE_S)
    watch.stop()
    figures = Figures(shape.label, seed, fleet.sent(), fleet.tally.distinct,
                      fleet.tally.duplicated(), len(driver.faults), watch.longest_s,
                      watch.longest_at_s, watch.span_s(), time.monotonic() - started,
                      driver.summary())
    report(figures.line())
    print("faults:\n  " + "\n  ".join(map(str, driver.faults)))
    assert complete and figures.lost == 0, failure_report(fleet.tally, driver.faults, *agents[-3:])
    return figures


def test_file_channels_taildir_failover(tmp_path: Path, agents: list[Agent]) -> None:
    """When any process of either tier, or a whole collector, is kill -9ed, frozen or restarted
    while TAILDIR reads a growing log and file channels hold events on both tiers behind a
    failover group, every line written is delivered."""
    storm(tmp_path, agents, Shape("taildir", "file", "failover", TOTAL, RATE),
          channel_faults=ALL_FAULTS, source_faults=ALL_FAULTS, collector_faults=ALL_FAULTS)


@pytest.mark.skipif(not LONG, reason="long form only (make chaos): the suite's 15-minute "
                    "budget; load_balance under faults is also in tests/integration")
def test_file_channels_seq_load_balance(tmp_path: Path, agents: list[Agent]) -> None:
    """When any process but the seq source (which restarts from 0 by design, so it is only
    frozen), or a whole collector, is faulted while file channels on both tiers hold events
    behind a load_balance group, every number is delivered."""
    storm(tmp_path, agents, Shape("seq", "file", "load_balance", TOTAL, capacity=2_000,
                                  source_batch=3),
          channel_faults=ALL_FAULTS, source_faults=("stop",), collector_faults=ALL_FAULTS)


@pytest.mark.skipif(not LONG, reason="long form only (make chaos): the suite's 15-minute "
                    "budget; load_balance under faults is also in tests/integration")
def test_memory_channels_taildir_load_balance(tmp_path: Path, agents: list[Agent]) -> None:
    """When sources, routers and sinks of both tiers are kill -9ed, frozen or restarted, and
    memory channels and whole collectors are only frozen (or lose every process but their
    channel), behind a load_balance group, every line written is delivered."""
    storm(tmp_path, agents, Shape("taildir", "memory", "load_balance", TOTAL, RATE),
          channel_faults=("stop",), source_faults=ALL_FAULTS, collector_faults=("stop",))


def test_memory_channels_seq_failover(tmp_path: Path, agents: list[Agent]) -> None:
    """When routers, sinks and collector sources are kill -9ed, frozen or restarted, and the
    memory channels, the seq source and whole collectors are only frozen (or lose every process
    but their channel), behind a failover group, every number is delivered."""
    storm(tmp_path, agents, Shape("seq", "memory", "failover", TOTAL, capacity=2_000,
                                  source_batch=1),
          channel_faults=("stop",), source_faults=("stop",), collector_faults=("stop",))


def test_memory_channels_delivered_ack_loses_nothing_when_collectors_die(
        tmp_path: Path, agents: list[Agent]) -> None:
    """With the collectors' avro sources on `ack = delivered`, memory channels on both tiers
    behind a failover group, and the collectors' channels, their other processes and whole
    collectors kill -9ed, frozen or restarted (the agent's own memory channel only frozen: what
    it holds is its to lose), every line written is delivered: an agent lets go of a batch only
    once a collector's sink wrote it."""
    storm(tmp_path, agents, Shape("taildir", "memory", "failover", TOTAL, RATE, ack="delivered"),
          channel_faults=("stop",), source_faults=ALL_FAULTS, collector_faults=ALL_FAULTS,
          collector_channel_faults=ALL_FAULTS)


@pytest.mark.skipif(not LONG, reason="long form only (make chaos): the short form's time budget")
def test_killed_memory_channel_loses_exactly_what_it_held(tmp_path: Path,
                                                          agents: list[Agent]) -> None:
    """When the agent's memory channel is kill -9ed, with the router and the (frozen) sinks that
    hold its leased batches, the events lost are exactly those `zflume status` said it held
    just before, less those already delivered but not yet committed (at-least-once's would-be
    duplicates), and every other event is delivered."""
    total = 20_000
    fleet = Fleet(tmp_path, Shape("seq", "memory", "failover", total, capacity=total,
                                  source_batch=2), agents)
    fleet.start()
    wait_for(lambda: fleet.tally.poll() > 4_000, 30, "4000 events delivered")
    pids = Programs(fleet.ax).pids()
    fleet.ax.expect_fault("ch", "g", "k1", "k2")
    for sink in ("k1", "k2"):
        os.kill(pids[sink], signal.SIGSTOP)  # the channel keeps what the source still puts
    held, committed, delivered = wait_for(lambda: settled(fleet), 30, "the channel to settle")
    for component in ("ch", "g", "k1", "k2"):
        os.kill(pids[component], signal.SIGKILL)
    uncommitted = delivered - committed
    complete = settle(fleet.tally, lambda: total - held + uncommitted, SETTLE_S)
    time.sleep(1.0)  # a late event would be a miscount
    lost = total - fleet.tally.poll()
    report(f"memory channel killed holding {held} events (zflume status), {uncommitted} of them"
           f" already delivered but not committed: lost {lost}, delivered "
           f"{fleet.tally.distinct}, duplicated {fleet.tally.duplicated()}")
    assert complete and lost == held - uncommitted, failure_report(fleet.tally, [], fleet.ax)
    assert 0 <= uncommitted <= 2 * 4 * BATCH  # two sinks' windows of batches in flight


def settled(fleet: Fleet) -> tuple[int, int, int] | None:
    """(ChannelSize, EventTakeSuccessCount, events at the collectors) once the source put every
    event and none of them changed for half a second."""
    def snapshot() -> tuple[int, int, int, int]:
        stats = collect(str(fleet.ax.run_dir))
        channel = stats["CHANNEL.ch"]
        return (int(stats["SOURCE.src"]["EventAcceptedCount"]), int(channel["ChannelSize"]),
                int(channel["EventTakeSuccessCount"]), fleet.tally.poll())
    first = snapshot()
    time.sleep(0.5)
    return first[1:] if first[0] == fleet.shape.total and first == snapshot() else None


@pytest.mark.skipif(not LONG, reason="long form only (make chaos): it reports, it asserts little")
def test_exec_tail_f_source_killed_reports_what_it_loses_or_repeats(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When the exec source running `tail -F` is kill -9ed three times while the log grows, the
    agent keeps delivering, and the run reports the lines lost (written while it was down, or
    read by tail but not yet put) and repeated (tail's last 10 lines at each restart): exec
    cannot replay, so nothing is asserted about them."""
    shape = Shape("exec", "memory", "failover", 30_000, 2_000)
    fleet = Fleet(tmp_path, shape, agents)
    fleet.start()
    watch = GapWatch(fleet.tally)
    watch.start()
    source = [t for t in fleet.targets((), ("kill",), ()) if t.label == "ax:src"]
    driver = Driver(random.Random(), source, t0=watch.t0)
    for _ in range(3):
        wait_for(lambda: fleet.tally.poll() > 2_000 + 4_000 * len(driver.faults), 30,
                 "events to flow")
        driver.strike()
    fleet.writer.wait(60)
    wait_for(lambda: fleet.tally.poll() and fleet.tally.counts[shape.total - 1], SETTLE_S,
             "the last line")
    settle(fleet.tally, lambda: 0, SETTLE_S)  # then until nothing more arrives
    watch.stop()
    figures = Figures("exec tail -F (labelled: cannot replay)", None, fleet.sent(),
                      fleet.tally.poll(), fleet.tally.duplicated(), len(driver.faults),
                      watch.longest_s, watch.longest_at_s, watch.span_s(),
                      time.monotonic() - watch.t0)
    report(figures.line())
