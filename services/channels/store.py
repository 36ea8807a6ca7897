"""The channels' transactional queue, with no I/O, so its rules are tested directly.

The memory channel uses it as is; the file channel's store (services.channels.filestore) extends
it with a write-ahead log and keeps every rule below.

Events are stored as the opaque blobs sources put (proto.batch); a blob is split only when a
taker asks for fewer events than it holds. Rules (docs/flume.md 3.2, docs/architecture.md 2):
- a PUT is all or nothing and is stored once even if retried ((source incarnation, seq) dedupe);
- capacity counts queued and leased events, so a leased batch can always come back;
- a TAKE leases a batch under a transaction id (channel incarnation, counter) until COMMIT;
  ROLLBACK, lease expiry, or the first TAKE of a new incarnation of the same router put it back
  at the head of the queue in order;
- COMMIT or ROLLBACK of an unknown transaction changes nothing; a repeated COMMIT is OK.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from proto import batch
from proto.batch import Blob

Txn = tuple[bytes, int]
RECENT_PUTS = 1024  # remembered (source, seq) pairs: far more than any source keeps in flight
RECENT_COMMITS = 4096
MAX_CHUNKS = 1024  # blobs in one lease; proto.messages.MAX_LIST bounds a whole BATCH


@dataclass
class Chunk:
    """One stored blob and what it holds.

    A durable store also says where the events live (`origin`, the file channel's log record)
    and which of that record's events the chunk starts at (`first`), so a commit of part of a
    split blob removes exactly those events.
    """

    blob: Blob
    n: int
    nbytes: int
    origin: tuple[int, int] | None = None
    first: int = 0
    order: int = 0  # put order, so batches rolled back in any order return in put order


@dataclass
class Lease:
    txn: Txn
    owner: str
    owner_inc: bytes
    chunks: list[Chunk]
    expires: float
    n: int = field(init=False)
    nbytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = sum(c.n for c in self.chunks)
        self.nbytes = sum(c.nbytes for c in self.chunks)


class MemoryStore:
    """Queue + leases + put dedupe of one memory channel."""

    def __init__(self, inc: bytes, capacity: int, byte_limit: int, lease_s: float,
                 clock: Callable[[], float]) -> None:
        self.inc = inc
        self.capacity = capacity
        self.byte_limit = byte_limit  # 0 = unbounded
        self.lease_s = lease_s
        self.clock = clock
        self.queue: deque[Chunk] = deque()
        self.leases: dict[Txn, Lease] = {}
        self.queued = 0
        self.leased = 0  # events in self.leases, kept as a sum: fits() runs per transaction
        self.held_bytes = 0
        self._counter = 0
        self._puts = 0
        self._owners: dict[str, bytes] = {}
        self._recent_puts: OrderedDict[tuple[bytes, int], None] = OrderedDict()
        self._committed: OrderedDict[Txn, None] = OrderedDict()

    @property
    def held(self) -> int:
        """Events in the channel, queued or leased: what a kill of this process loses."""
        return self.queued + self.leased

    def seen(self, src: bytes, seq: int) -> bool:
        return (src, seq) in self._recent_puts

    def fits(self, n: int, nbytes: int) -> str:
        """'' if a batch fits, else why not (FULL's reason)."""
        if self.held + n > self.capacity:
            return f"channel full: {self.held} of {self.capacity} events held"
        if self.byte_limit and self.held_bytes + nbytes > self.byte_limit:
            return f"channel full: {self.held_bytes} of {self.byte_limit} body bytes held"
        return ""

    def put(self, src: bytes, seq: int, blob: Blob, n: int, nbytes: int) -> str:
        """Store a batch; '' when stored (or already stored), else the FULL reason."""
        return self.put_run(src, seq, [blob], [n], [nbytes], 0)[2]

    def put_run(self, src: bytes, first: int, blobs: Sequence[Blob], ns: Sequence[int],
                sizes: Sequence[int], at: int, on_new: Callable[[int], None] | None = None
                ) -> tuple[int, int, str]:
        """`put` for transactions `at`.. of one PUT (seq `first + i`, in order) until one does
        not fit: (the index of the first one not stored, the events stored anew, its FULL
        reason or ''). `on_new(i)` runs after each one stored anew. One loop for a PUT's run,
        as a source sends fifty transactions in one PUT at Flume's default batch size."""
        seen, fits, keep = self.seen, self.fits, self._keep
        added = 0
        for i in range(at, len(ns)):
            if seen(src, first + i):
                continue
            n, nbytes = ns[i], sizes[i]
            reason = fits(n, nbytes) or keep(src, first + i, blobs[i], n, nbytes)
            if reason:
                return i, added, reason
            added += n
            if on_new is not None:
                on_new(i)
        return len(ns), added, ""

    def _keep(self, src: bytes, seq: int, blob: Blob, n: int, nbytes: int) -> str:
        """Queue a batch that fits; a durable store writes it first ('' or why it could not)."""
        self.add(Chunk(blob, n, nbytes), src, seq)
        return ""

    def add(self, chunk: Chunk, src: bytes, seq: int) -> None:
        """Queue a batch that was checked to fit (and, in a durable store, written)."""
        self._puts += 1
        chunk.order = self._puts
        self.queue.append(chunk)
        self.queued += chunk.n
        self.held_bytes += chunk.nbytes
        self.remember_put(src, seq)

    def newest_order(self) -> int:
        """The put order of the batch stored last (its chunks keep it through splits)."""
        return self._puts

    def remember_put(self, src: bytes, seq: int) -> None:
        self._remember(self._recent_puts, (src, seq), RECENT_PUTS)

    def recent_puts(self) -> list[tuple[bytes, int]]:
        """Remembered (source, seq) pairs, oldest first: a durable store writes them down so
        that dedupe survives a restart."""
        return list(self._recent_puts)

    def take(self, owner: str, owner_inc: bytes, max_n: int,
             max_chunks: int = MAX_CHUNKS) -> Lease | None:
        """Lease up to `max_n` events in up to `max_chunks` blobs from the head (at least one
        blob), or None when empty. The blob bound keeps a BATCH of many small puts within the
        blob count proto.messages accepts."""
        if self._owners.get(owner) != owner_inc:
            self._release_owner(owner)
            self._owners[owner] = owner_inc
        chunks: list[Chunk] = []
        queue, room, most = self.queue, max_n, max(1, max_chunks)
        while queue and room > 0 and len(chunks) < most:
            head = queue[0]
            if head.n > room:
                if chunks:
                    break
                self._split_head(room)
                continue
            chunks.append(queue.popleft())
            room -= head.n
        if not chunks:
            return None
        self._counter += 1
        lease = Lease((self.inc, self._counter), owner, owner_inc, chunks,
                      self.clock() + self.lease_s)
        self.queued -= lease.n
        self.leased += lease.n
        self.leases[lease.txn] = lease
        return lease

    def commit(self, txn: Txn) -> bool:
        """Drop a leased batch for good; False if the transaction is unknown."""
        lease = self.leases.pop(txn, None)
        if lease is None:
            return txn in self._committed
        self.leased -= lease.n
        self.held_bytes -= lease.nbytes
        self._remember(self._committed, txn, RECENT_COMMITS)
        return True

    def rollback(self, txn: Txn) -> bool:
        """Put a leased batch back at the head, in order; False if unknown."""
        lease = self.leases.pop(txn, None)
        if lease is None:
            return False
        self._requeue(lease.chunks)
        self.leased -= lease.n
        self.queued += lease.n
        return True

    def _requeue(self, chunks: list[Chunk]) -> None:
        """Put chunks back among the other returned ones at the head, in put order."""
        index = 0
        for chunk in chunks:
            while index < len(self.queue) and self.queue[index].order < chunk.order:
                index += 1
            self.queue.insert(index, chunk)
            index += 1

    def renew(self, txn: Txn) -> bool:
        lease = self.leases.get(txn)
        if lease is None:
            return False
        lease.expires = self.clock() + self.lease_s
        return True

    def expire(self) -> int:
        """Roll back every lease past its expiry; returns how many events came back."""
        now = self.clock()
        return self._rollback_all([t for t, lease in self.leases.items() if lease.expires <= now])

    def _release_owner(self, owner: str) -> None:
        """A restarted router's predecessor will never commit: its leases come back now."""
        self._rollback_all([t for t, lease in self.leases.items() if lease.owner == owner])

    def _rollback_all(self, txns: list[Txn]) -> int:
        # Newest first, so that the oldest batch ends up at the very head.
        count = 0
        for txn in sorted(txns, key=lambda t: t[1], reverse=True):
            count += self.leases[txn].n
            self.rollback(txn)
        return count

    def _split_head(self, count: int) -> None:
        head = self.queue.popleft()
        taken, rest = batch.split(head.blob, count)
        share = head.nbytes * count // head.n
        self.queue.appendleft(replace(head, blob=rest, n=head.n - count,
                                      nbytes=head.nbytes - share, first=head.first + count))
        self.queue.appendleft(replace(head, blob=taken, n=count, nbytes=share))

    @staticmethod
    def _remember(seen: OrderedDict, key: object, limit: int) -> None:
        seen[key] = None
        if len(seen) > limit:
            seen.popitem(last=False)
