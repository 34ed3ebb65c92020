"""Where a keyspace iteration is, as one unsigned 64-bit cursor a client hands back.

No replica holds every acknowledged key for sure, but each is on at least W of the N replicas
(a write is acknowledged by W), so any N - W + 1 distinct replicas, each scanned fully, hold
between them every key present for the whole iteration (`needed_replicas`). The iteration scans
replicas one after the other with their own SCAN; its position is which replica it is on, which
replicas it has scanned fully, and that replica's own cursor, packed into the client's cursor:

    bits  0..3    the replica being scanned (0..15)
    bits  4..19   the replicas scanned fully, bit i for replica i
    bits 20..63   that replica's own SCAN cursor (44 bits)

Cursor 0 is replica 0 from its start with none done: the start, as clients expect. A replica
that cannot be scanned (down, not in sync, failed mid-page) is left for the next one not yet
scanned fully, from its cursor 0: the keys already returned come again (SCAN allows
duplicates), none is missed, and a replica that comes back may be scanned later in full.
Leaving out the keys the replicas scanned earlier hold would not be safe: a key a hint or a
repair brought to such a replica after its scan was never returned by it.

Limits: at most 16 replicas (MAX_REPLICAS), and a replica's cursor must fit 44 bits; a
replica's SCAN cursor is below its hash table's bucket count, which 44 bits exceed by far.
A cursor no iteration gave decodes all the same (Redis takes any number as a cursor too): a
replica index beyond N counts as a replica that cannot be scanned, done bits beyond N are
ignored. A cursor is valid only for the same N and W, and database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

MAX_REPLICAS = 16
_REPLICA_BITS = 4
_DONE_BITS = MAX_REPLICAS
_CURSOR_SHIFT = _REPLICA_BITS + _DONE_BITS
REPLICA_CURSOR_LIMIT = 1 << (64 - _CURSOR_SHIFT)
"""A replica's own cursor must be below this to fit the client's cursor."""


class CursorOverflow(ValueError):
    """A replica gave a cursor too large for the client's cursor to carry."""


class ScanPosition(NamedTuple):
    replica: int
    done: int
    """Bit i set: replica i was scanned fully."""
    cursor: int
    """The replica's own SCAN cursor."""

    def encode(self) -> int:
        if not 0 <= self.cursor < REPLICA_CURSOR_LIMIT:
            raise CursorOverflow(f"replica cursor {self.cursor} does not fit 44 bits")
        return (self.cursor << _CURSOR_SHIFT) | (self.done << _REPLICA_BITS) | self.replica

    def scanned(self) -> int:
        """How many replicas were scanned fully."""
        return self.done.bit_count()


START = ScanPosition(0, 0, 0)


def decode_cursor(cursor: int, replicas: int) -> ScanPosition:
    """The position a client's cursor (0 to 2^64 - 1) stands for, with `replicas` replicas."""
    done_bits = (cursor >> _REPLICA_BITS) & ((1 << _DONE_BITS) - 1)
    return ScanPosition(
        cursor & ((1 << _REPLICA_BITS) - 1),
        done_bits & ((1 << replicas) - 1),
        cursor >> _CURSOR_SHIFT,
    )


def needed_replicas(n: int, w: int, sloppy_quorum: bool) -> int:
    """How many replicas, scanned fully, hold every acknowledged key: N - W + 1, or all N with
    a sloppy quorum (where a hint kept by the proxy counts toward W)."""
    return n if sloppy_quorum else n - w + 1


def choose_replica(position: ScanPosition, usable: Sequence[bool]) -> ScanPosition | None:
    """Where to scan next: the position's replica if it can be scanned and is not done, else
    the next one after it that can (from its start); None if none can."""
    count = len(usable)
    for step in range(count):
        replica = (position.replica + step) % count
        if usable[replica] and not position.done >> replica & 1:
            if step == 0 and replica == position.replica:
                return position
            return ScanPosition(replica, position.done, 0)
    return None


def after_page(
    position: ScanPosition, next_cursor: int, needed: int, replicas: int
) -> ScanPosition | None:
    """The position after a page of the position's replica that gave `next_cursor`; None when
    the iteration is complete (`needed` of the `replicas` scanned fully)."""
    if next_cursor != 0:
        return position._replace(cursor=next_cursor)
    done = position.done | 1 << position.replica
    if done.bit_count() >= needed:
        return None
    return ScanPosition((position.replica + 1) % replicas, done, 0)
