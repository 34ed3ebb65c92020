"""Which replicas lack which version: the sidecar's decision for the keys of differing ranges.

For each key the sidecar has, from every replica it compares, the first 18 bytes of the
stored record (its header: version byte, timestamp, flags, expiry) or nothing. The newest
timestamp wins, by the same rule as the proxy's (`merge.py`; the Lua script applies it again
on the replica, so a repair can never overwrite a newer write that lands meanwhile), and
every replica holding an older version or none is a target, with two exceptions that keep
dead versions from coming back to life on replicas that have no copy of them:

- a tombstone older than the purge cutoff (now - tombstone grace) is not copied to a replica
  that has no version at all: PURGE_TOMBSTONES is about to drop it everywhere;
- an expired record is not copied to a replica that has no version at all: there is nothing
  there for it to beat, and the replicas holding it keep it only for the expired grace.

A replica holding an older version always gets the winner, dead or not, so that its older
value cannot come back. An expired record is still on the replicas that have it until expiry +
grace (scripts.py), so it is found and wins here over the older value of a replica that missed
it; past the grace no replica returns it any more, and a copy of it that arrives anyway (its
read raced its drop) only deletes what it overwrites. Equal timestamps never differ in
content (a timestamp names one write), and two versions with equal timestamps are never a
repair.

This module is pure: the times come in as arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leaderless.replication.merkle import expires_at

_TIMESTAMP = slice(1, 11)
_FLAGS = 11
_TOMBSTONE = 0x01
_COUNTER = 0x02


@dataclass(frozen=True, slots=True)
class KeyRepair:
    """Copy `key`'s record from replica `source` to each replica in `targets`."""

    key: bytes
    source: int
    targets: tuple[int, ...]


def plan(
    headers: Sequence[Mapping[bytes, bytes]],
    *,
    now_ms: int,
    purge_cutoff_ms: int,
) -> list[KeyRepair]:
    """The repairs that bring every replica to the newest version of each key.

    `headers[i]` maps each key replica i holds (in the ranges compared) to its record header;
    keys are listed in sorted order in the result.
    """
    keys = sorted({key for replica in headers for key in replica})
    repairs = []
    for key in keys:
        held = [replica.get(key) for replica in headers]
        if held[0] and held.count(held[0]) == len(held):
            continue  # the same version everywhere: the common case
        if any(header and header[_FLAGS] & _COUNTER for header in held):
            repairs += _counter_repairs(key, held, now_ms, purge_cutoff_ms)
            continue
        source = max(
            (i for i, header in enumerate(held) if header),
            key=lambda i: held[i][_TIMESTAMP],  # type: ignore[index]
        )
        winner = held[source]
        assert winner is not None
        dead = _dead(winner, now_ms, purge_cutoff_ms)
        targets = tuple(
            i
            for i, header in enumerate(held)
            if (header and header[_TIMESTAMP] < winner[_TIMESTAMP]) or (not header and not dead)
        )
        if targets:
            repairs.append(KeyRepair(key, source, targets))
    return repairs


def _counter_repairs(
    key: bytes, held: Sequence[bytes | None], now_ms: int, purge_cutoff_ms: int
) -> list[KeyRepair]:
    """A counter's replicas merge what they are sent rather than keep the newest, and a header
    does not show which shards a record holds: each distinct version goes to every replica that
    holds another, and the merges meet."""
    repairs = []
    for version in dict.fromkeys(header for header in held if header):
        targets = tuple(
            i
            for i, header in enumerate(held)
            if header != version and (header or not _dead(version, now_ms, purge_cutoff_ms))
        )
        if targets:
            repairs.append(KeyRepair(key, held.index(version), targets))
    return repairs


def _dead(header: bytes, now_ms: int, purge_cutoff_ms: int) -> bool:
    if header[_FLAGS] & _TOMBSTONE:
        written_ms = int.from_bytes(header[1:7], "big")
        return written_ms <= purge_cutoff_ms
    expiry = expires_at(header)
    return expiry != 0 and expiry <= now_ms
