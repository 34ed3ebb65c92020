"""How a command sees the records it read: visible values, and expiry times as Redis gives them."""

from __future__ import annotations

from leaderless.proxy.commands.args import LLONG_MAX
from leaderless.proxy.commands.spec import Change
from leaderless.replication.counters import CounterWrite, view
from leaderless.replication.hlc import MAX_PHYSICAL_MS
from leaderless.replication.record import Record


def visible(record: Record | None, now_ms: int) -> Record | None:
    """The record if a client reading at `now_ms` sees it (not deleted, not expired); a
    counter as the plain value it shows (counters.py)."""
    if record is None or not record.is_visible(now_ms):
        return None
    return view(record) if record.counter else record


def value_of(record: Record | None, now_ms: int) -> bytes | None:
    seen = visible(record, now_ms)
    return seen.value if seen is not None else None


def stored_expiry(when_ms: int) -> int | None:
    """An absolute expiry as a record holds it (48 bits of ms: the year 10889 at most), or None
    when Redis would refuse it as out of range."""
    if when_ms > LLONG_MAX or when_ms <= 0:
        return None
    return min(when_ms, MAX_PHYSICAL_MS)


def reexpired(
    key: bytes, read: Record | None, shown: Record, expires_at_ms: int, now_ms: int
) -> Change:
    """The change that gives `key` (read as `read`, seen as `shown`) a new expiry, 0 for none:
    a counter keeps its state, so increments racing with it still count; any other value is
    written again."""
    if read is not None and read.counter:
        counter = CounterWrite(read, 0, expires_at_ms, True, now_ms)
        return Change(key, shown.value, expires_at_ms, counter)
    return Change(key, shown.value, expires_at_ms)
