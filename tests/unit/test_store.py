"""The memory channel's transaction rules, on a fake clock."""
from __future__ import annotations

import random

from proto import batch
from services.channels.store import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store(capacity: int = 10, byte_limit: int = 0) -> tuple[MemoryStore, Clock]:
    clock = Clock()
    return MemoryStore(b"chan0001", capacity, byte_limit, 10.0, clock), clock


def put(s: MemoryStore, seq: int, bodies: list[bytes], src: bytes = b"src00001") -> str:
    return s.put(src, seq, batch.encode(bodies), len(bodies), sum(map(len, bodies)))


def bodies_of(lease) -> list[bytes]:
    return batch.merge([c.blob for c in lease.chunks])[1]


def test_put_is_all_or_nothing_and_full_says_why() -> None:
    s, _ = store(capacity=5)
    assert put(s, 1, [b"a", b"b", b"c"]) == ""
    reason = put(s, 2, [b"d", b"e", b"f"])
    assert "3 of 5" in reason
    assert s.held == 3


def test_retried_put_is_stored_once() -> None:
    s, _ = store()
    put(s, 1, [b"a"])
    assert put(s, 1, [b"a"]) == ""
    assert s.held == 1
    put(s, 1, [b"a"], src=b"other001")
    assert s.held == 2


def test_take_splits_a_blob_larger_than_asked() -> None:
    s, _ = store()
    put(s, 1, [b"0", b"1", b"2", b"3"])
    lease = s.take("r", b"inc1", 3)
    assert bodies_of(lease) == [b"0", b"1", b"2"]
    assert bodies_of(s.take("r", b"inc1", 3)) == [b"3"]


def test_rollback_returns_events_to_the_head_in_order() -> None:
    s, _ = store()
    put(s, 1, [b"0", b"1"])
    put(s, 2, [b"2"])
    first = s.take("r", b"inc1", 2)
    second = s.take("r", b"inc1", 2)
    assert s.rollback(second.txn) and s.rollback(first.txn)
    assert bodies_of(s.take("r", b"inc1", 5)) == [b"0", b"1", b"2"]


def test_commit_is_idempotent_and_unknown_changes_nothing() -> None:
    s, _ = store()
    put(s, 1, [b"0"])
    lease = s.take("r", b"inc1", 1)
    assert s.commit(lease.txn)
    assert s.commit(lease.txn)  # repeated COMMIT answers OK
    assert not s.rollback(lease.txn)
    assert not s.commit((b"chan0001", 99))
    assert not s.commit((b"otherinc", lease.txn[1]))
    assert s.held == 0


def test_lease_expiry_returns_the_batch_unless_renewed() -> None:
    s, clock = store()
    put(s, 1, [b"0"])
    put(s, 2, [b"1"])
    kept = s.take("r", b"inc1", 1)
    lost = s.take("r", b"inc1", 1)
    clock.now = 8.0
    assert s.renew(kept.txn)
    clock.now = 12.0
    assert s.expire() == 1
    assert s.queued == 1 and kept.txn in s.leases and lost.txn not in s.leases
    assert not s.commit(lost.txn)


def test_new_router_incarnation_releases_its_predecessors_leases_at_once() -> None:
    s, _ = store()
    put(s, 1, [b"0"])
    old = s.take("agent-g1", b"old-inc!", 1)
    again = s.take("agent-g1", b"new-inc!", 1)
    assert bodies_of(again) == [b"0"]
    assert not s.commit(old.txn)


def test_capacity_counts_leased_events() -> None:
    s, _ = store(capacity=2)
    put(s, 1, [b"0", b"1"])
    s.take("r", b"inc1", 2)
    assert put(s, 2, [b"2"]) != ""


def test_byte_limit() -> None:
    s, _ = store(byte_limit=5)
    assert put(s, 1, [b"abc"]) == ""
    assert "body bytes" in put(s, 2, [b"def"])


def test_batches_rolled_back_oldest_first_still_return_in_put_order() -> None:
    """A router that gives back several batches oldest first must not reverse them."""
    s, _ = store()
    for seq in range(3):
        put(s, seq, [b"%d" % seq])
    leases = [s.take("r", b"inc1", 1) for _ in range(3)]
    for lease in leases:
        assert s.rollback(lease.txn)
    assert bodies_of(s.take("r", b"inc1", 3)) == [b"0", b"1", b"2"]


def test_held_counts_queued_and_leased_events_through_any_sequence_of_operations() -> None:
    """`held` is kept as a running sum; after every put, take, commit, rollback, expiry and
    router restart it equals the queue plus the events of the open leases, and capacity holds."""
    rng = random.Random(7)
    s, clock = store(capacity=50)
    seq = 0
    for _ in range(2000):
        op = rng.choice(("put", "put", "take", "commit", "rollback", "expire", "restart"))
        if op == "put":
            seq += 1
            put(s, seq, [b"x"] * rng.randint(1, 12))
        elif op == "take":
            s.take(rng.choice(("r1", "r2")), rng.choice((b"inc00001", b"inc00002")),
                   rng.randint(1, 15))
        elif op in ("commit", "rollback") and s.leases:
            txn = rng.choice(list(s.leases))
            s.commit(txn) if op == "commit" else s.rollback(txn)
        elif op == "expire":
            clock.now += rng.choice((0.0, 11.0))
            s.expire()
        elif op == "restart":
            s.take("r1", b"inc%05d" % rng.randint(0, 99), 1)
        assert s.held == sum(c.n for c in s.queue) + sum(lease.n for lease in s.leases.values())
        assert s.held <= s.capacity


def test_a_take_of_many_small_puts_stops_at_its_blob_bound() -> None:
    s, _ = store()
    for i in range(5):
        put(s, i, [str(i).encode()])
    lease = s.take("r", b"inc1", 100, max_chunks=3)
    assert lease is not None and bodies_of(lease) == [b"0", b"1", b"2"]
    assert bodies_of(s.take("r", b"inc1", 100, max_chunks=0)) == [b"3"]  # at least one blob
