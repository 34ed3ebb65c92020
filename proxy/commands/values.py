"""How a command sees the records it read: visible values, and expiry times as Redis gives them."""

from __future__ import annotations

from leaderless.proxy.commands.args import LLONG_MAX
from leaderless.replication.hlc import MAX_PHYSICAL_MS
from leaderless.replication.record import Record


def visible(record: Record | None, now_ms: int) -> Record | None:
    """The record if a client reading at `now_ms` sees it (not deleted, not expired)."""
    return record if record is not None and record.is_visible(now_ms) else None


def value_of(record: Record | None, now_ms: int) -> bytes | None:
    seen = visible(record, now_ms)
    return seen.value if seen is not None else None


def stored_expiry(when_ms: int) -> int | None:
    """An absolute expiry as a record holds it (48 bits of ms: the year 10889 at most), or None
    when Redis would refuse it as out of range."""
    if when_ms > LLONG_MAX or when_ms <= 0:
        return None
    return min(when_ms, MAX_PHYSICAL_MS)
