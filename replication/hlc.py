"""Hybrid logical clock: the version stamped on every write.

Every write gets a `Timestamp` (physical_ms, logical, node), compared as that tuple. Last write
wins by that order, so the clock must never hand out a timestamp twice or go backwards, and a
proxy that has seen a version must stamp its next write above it (a client that reads and then
writes through any proxy expects its write to win).

`HybridClock.now()` follows the wall clock while it moves forward and otherwise keeps the last
physical time and counts up `logical`; when `logical` would pass 16 bits it carries into
`physical_ms`, so the clock briefly runs one millisecond ahead rather than wrapping. `node` (the
proxy id) makes timestamps from different proxies distinct, so equal timestamps mean the same
write.

`observe(ts)` merges a timestamp seen in a replica's reply. A peer whose wall clock is far ahead
would drag every proxy's clock with it, and the damage would outlive the bad peer, so a timestamp
more than `max_offset_ms` ahead of our own wall clock is refused and counted instead.

The wall clock is injected (`wall_ms`), so this module never reads the time itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

PHYSICAL_BITS = 48
LOGICAL_BITS = 16
NODE_BITS = 16
MAX_PHYSICAL_MS = (1 << PHYSICAL_BITS) - 1
MAX_LOGICAL = (1 << LOGICAL_BITS) - 1
MAX_NODE = (1 << NODE_BITS) - 1
TIMESTAMP_LEN = (PHYSICAL_BITS + LOGICAL_BITS + NODE_BITS) // 8
"""Length of `Timestamp.pack()`: 10 bytes, big-endian, fields in comparison order."""


class _Fields(NamedTuple):
    physical_ms: int
    logical: int
    node: int


class Timestamp(_Fields):
    """A write's version; ordered by (physical_ms, logical, node). A tuple underneath: one is
    made and compared for every key read or written, and a tuple's comparison runs in C."""

    __slots__ = ()

    def __new__(cls, physical_ms: int, logical: int, node: int) -> Timestamp:
        if not (
            0 <= physical_ms <= MAX_PHYSICAL_MS
            and 0 <= logical <= MAX_LOGICAL
            and 0 <= node <= MAX_NODE
        ):
            raise ValueError(f"timestamp field out of range: {(physical_ms, logical, node)}")
        return _new(cls, (physical_ms, logical, node))

    def pack(self) -> bytes:
        """The 10-byte big-endian form; byte order matches comparison order."""
        packed = (self.physical_ms << 32) | (self.logical << 16) | self.node
        return packed.to_bytes(TIMESTAMP_LEN, "big")

    @classmethod
    def unpack(cls, raw: bytes) -> Timestamp:
        """Inverse of `pack()`; `raw` must be exactly 10 bytes."""
        if len(raw) != TIMESTAMP_LEN:
            raise ValueError(f"a packed timestamp is {TIMESTAMP_LEN} bytes, got {len(raw)}")
        packed = int.from_bytes(raw, "big")
        return _new(cls, (packed >> 32, (packed >> 16) & MAX_LOGICAL, packed & MAX_NODE))


_new = tuple.__new__
"""Builds a Timestamp whose fields are in range by construction, skipping the checks."""


class HybridClock:
    """One proxy's clock. Not thread-safe; one event loop owns it."""

    def __init__(self, node_id: int, wall_ms: Callable[[], int], max_offset_ms: int = 500) -> None:
        if not 0 <= node_id <= MAX_NODE:
            raise ValueError(f"node id must be 0..{MAX_NODE}, got {node_id}")
        if max_offset_ms < 0:
            raise ValueError(f"max_offset_ms must be >= 0, got {max_offset_ms}")
        self.node_id = node_id
        self.max_offset_ms = max_offset_ms
        self.refused_observations = 0
        """How many observed timestamps were too far ahead to accept (the caller logs them)."""
        self._wall_ms = wall_ms
        self._physical_ms = 0
        self._logical = 0

    def now(self) -> Timestamp:
        """A timestamp greater than every one this clock returned or accepted before."""
        wall = self._wall_ms()
        if wall > self._physical_ms:
            self._physical_ms, self._logical = wall, 0
        elif self._logical < MAX_LOGICAL:
            self._logical += 1
        else:
            self._physical_ms, self._logical = self._physical_ms + 1, 0
        return _new(Timestamp, (self._physical_ms, self._logical, self.node_id))

    def observe(self, ts: Timestamp) -> bool:
        """Merge a timestamp seen in a reply, so the next `now()` is greater than it.

        Returns False, leaving the clock alone, if `ts` is more than `max_offset_ms` ahead of
        the wall clock; True otherwise (also when `ts` is older and changes nothing).
        """
        if ts.physical_ms > self._wall_ms() + self.max_offset_ms:
            self.refused_observations += 1
            return False
        if (ts.physical_ms, ts.logical) > (self._physical_ms, self._logical):
            self._physical_ms, self._logical = ts.physical_ms, ts.logical
        return True
