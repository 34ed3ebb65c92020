"""The hint ledger: which missed writes are kept for a replica, and how many are pending.

A hint is a write a replica missed (it was down, timed out, or its connection died), kept by the
proxy and replayed when the replica answers again (`handoff.py` does the I/O, `hint_store.py`
the storage). Two limits bound what is kept, as in Cassandra:

- The hint window: a replica's outage starts with its oldest pending hint. Once that is older
  than `window_ms`, the replica gets no more hints until the pending ones are replayed; what it
  misses meanwhile is left to anti-entropy (and read repair). The start of an outage is the
  oldest hint, not an in-memory "down since", so the window survives a proxy restart with the
  hints themselves.
- The size limit: the bytes of all pending hints together (key + record + a fixed overhead per
  hint). A hint that would pass it is refused, not an older one dropped: either way the replica
  now needs anti-entropy, and refusing keeps the oldest hints, which the replica has lacked the
  longest, and costs nothing.

A refused hint counts as dropped. This module is pure: time comes in as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

HINT_OVERHEAD = 32
"""Bytes counted per hint beyond its key and record (its row's id, replica, time)."""


def hint_size(key: bytes, record: bytes) -> int:
    return len(key) + len(record) + HINT_OVERHEAD


class Admission(Enum):
    ADMITTED = "admitted"
    WINDOW_PASSED = "window passed"
    FULL = "full"


@dataclass
class Pending:
    """A replica's hints not yet replayed."""

    count: int = 0
    bytes: int = 0
    oldest_ms: int | None = None
    """When the oldest pending hint was stored: the start of the replica's outage."""


@dataclass
class HintStats:
    """Counters since the proxy started (shown by INFO), and what is pending now."""

    stored: int = 0
    replayed: int = 0
    dropped: int = 0
    pending: int = 0
    pending_bytes: int = 0


@dataclass
class HintLedger:
    window_ms: int
    max_bytes: int
    replicas: dict[str, Pending] = field(default_factory=dict)
    stats: HintStats = field(default_factory=HintStats)

    def pending(self, replica: str) -> Pending:
        return self.replicas.setdefault(replica, Pending())

    def restore(self, replica: str, count: int, size: int, oldest_ms: int) -> None:
        """Hints found in the store at start-up."""
        pending = self.pending(replica)
        pending.count, pending.bytes, pending.oldest_ms = count, size, oldest_ms
        self.stats.pending += count
        self.stats.pending_bytes += size

    def admit(self, replica: str, count: int, size: int, now_ms: int) -> Admission:
        """May `count` hints of `size` bytes in all be kept for `replica` at `now_ms`?"""
        pending = self.pending(replica)
        if pending.oldest_ms is not None and now_ms - pending.oldest_ms > self.window_ms:
            verdict = Admission.WINDOW_PASSED
        elif self.stats.pending_bytes + size > self.max_bytes:
            verdict = Admission.FULL
        else:
            pending.count += count
            pending.bytes += size
            if pending.oldest_ms is None:
                pending.oldest_ms = now_ms
            self.stats.stored += count
            self.stats.pending += count
            self.stats.pending_bytes += size
            return Admission.ADMITTED
        self.stats.dropped += count
        return verdict

    def replayed(
        self, replica: str, count: int, size: int, oldest_ms: int | None, now_ms: int
    ) -> None:
        """`count` hints of `size` bytes were replayed; `oldest_ms` is when the oldest one still
        stored was stored (None: none is; any still queued for the store count from now)."""
        pending = self.pending(replica)
        pending.count -= count
        pending.bytes -= size
        pending.oldest_ms = None if not pending.count else oldest_ms or now_ms
        self.stats.replayed += count
        self.stats.pending -= count
        self.stats.pending_bytes -= size
