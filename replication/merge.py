"""Last write wins: which version survives, and what a read teaches the replicas it asked.

Every write, delete (a tombstone record) and FLUSHDB carries a `Timestamp`, and the greatest
timestamp wins. A flush is a timestamped write to every key at once: a replica remembers the
newest flush it applied, and any record whose timestamp is not greater than a flush's is dead.

`should_apply` is the rule each backend applies to an incoming record (the Lua script does the
same comparison). It is strict: an incoming record with a timestamp equal to the stored one
never replaces it, so replicas that see the same pair of versions in different orders still end
up identical.

`resolve` takes the replies of one quorum read and returns the winner (the newest version not
killed by the newest flush, tombstones and expired records included: they are versions too; where
a counter is among them, the merge of them all, as counters.py merges), the
newest flush, and for each replica that answered, the `Repair` that brings it up to date. The
replicas keep an expired record for the expired grace past its expiry (scripts.py), so an
older value a replica kept because it missed the overwrite loses to it here and is repaired;
past the grace no replica returns the record, and a repair of it written anyway only deletes
the older value. The
coordinator applies those repairs before replying, so the version it returns is held by the
replicas it read from, and a later quorum read cannot go back in time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from leaderless.replication.counters import join_all
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record


@dataclass(frozen=True, slots=True)
class ReplicaRead:
    """One replica's answer to a read: its record for the key and its newest flush."""

    record: Record | None
    flushed_at: Timestamp | None


@dataclass(frozen=True, slots=True)
class Repair:
    """What one replica must apply to catch up: a flush, a record, or both (flush first)."""

    replica: int
    record: Record | None
    flush: Timestamp | None


class Resolution(NamedTuple):
    """What one quorum read learned. A tuple: one is made for every key read."""

    winner: Record | None
    """The newest version newer than every flush seen (it may be a tombstone or expired), or
    None when there is none."""
    flushed_at: Timestamp | None
    """The newest flush any answering replica had applied."""
    repairs: tuple[Repair, ...]
    """One per answering replica that is behind, in replica order."""

    def visible(self, now_ms: int) -> Record | None:
        """The record the client sees at `now_ms`: None for missing, deleted or expired."""
        if self.winner is not None and self.winner.is_visible(now_ms):
            return self.winner
        return None

    def repair_for(self, replica: int, read: ReplicaRead) -> Repair | None:
        """What `read` (from `replica`, possibly a late answer) lacks compared to this result.

        A replica already holding something newer is left alone.
        """
        flush = self.flushed_at if _older(read.flushed_at, self.flushed_at) else None
        record = None
        if self.winner is not None and _behind(read.record, self.winner):
            record = self.winner
        if flush is None and record is None:
            return None
        return Repair(replica, record, flush)


def should_apply(current: Record | None, flushed_at: Timestamp | None, incoming: Record) -> bool:
    """Whether a replica holding `current`, having applied a flush at `flushed_at`, stores
    `incoming`: only if it is newer than both."""
    return _older(_ts(current), incoming.ts) and _older(flushed_at, incoming.ts)


def resolve(reads: Sequence[ReplicaRead | None]) -> Resolution:
    """Merge one read's replies; `reads[i]` is replica i's answer, or None if it gave none."""
    answered = [(i, read) for i, read in enumerate(reads) if read is not None]
    flushes = [read.flushed_at for _, read in answered if read.flushed_at is not None]
    flushed_at = max(flushes, default=None)
    records = [
        read.record
        for _, read in answered
        if read.record is not None and _older(flushed_at, read.record.ts)
    ]
    if any(record.counter for record in records):
        winner: Record | None = join_all(records)
    else:
        winner = max(records, key=_precedence, default=None)
    unrepaired = Resolution(winner, flushed_at, ())
    repairs = (unrepaired.repair_for(i, read) for i, read in answered)
    return Resolution(winner, flushed_at, tuple(r for r in repairs if r is not None))


def _behind(held: Record | None, winner: Record) -> bool:
    """Whether a replica holding `held` lacks what `winner` has: an older version or, where a
    counter is involved, any other state (the winner is the merge of every replica's)."""
    if held is not None and (held.counter or winner.counter):
        return held != winner
    return _older(_ts(held), winner.ts)


def _ts(record: Record | None) -> Timestamp | None:
    return None if record is None else record.ts


def _older(a: Timestamp | None, b: Timestamp | None) -> bool:
    """Whether `a` is strictly older than `b`, where None is older than any timestamp."""
    return b is not None and (a is None or a < b)


def _precedence(record: Record) -> tuple[Timestamp, bool, int, bytes]:
    """Order of records: by timestamp; the rest only breaks ties between distinct records with
    equal timestamps (two proxies sharing an id), so every coordinator picks the same one."""
    return (record.ts, record.tombstone, record.expires_at_ms, record.value)
