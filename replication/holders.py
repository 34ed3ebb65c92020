"""How many replicas hold a write: what WAIT counts.

A write is acknowledged by the first W replicas and reaches the others later, or as a hint
replayed when they answer again, or by anti-entropy. Rather than remember acknowledgements,
the count asks each replica what it holds now: a replica holds a write if, for every key it
wrote, its record is that version or newer, or it has a flush of the database as new (a later
write of the key, or a flush, replaced the version there, as a later write replaces it on a
Redis replica that acknowledged an offset). A replica that is down, fails, or does not answer
within the coordinator's timeout does not hold it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from leaderless.replication.backend import Backend, ReplicaUnavailable
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merge import ReplicaRead
from leaderless.replication.reads import check_reads, decode_reads
from leaderless.replication.rounds import BadReply
from leaderless.replication.scripts import FLUSH_KEY

Versions = Sequence[tuple[bytes, Timestamp]]
"""A write's records: each key with the timestamp it was written at."""


def holds(reads: Sequence[ReplicaRead], versions: Versions) -> bool:
    """Whether a replica whose reads of the versions' keys (in order) are `reads` holds them."""
    return all(
        (read.record is not None and read.record.ts >= ts)
        or (read.flushed_at is not None and read.flushed_at >= ts)
        for read, (_, ts) in zip(reads, versions, strict=True)
    )


async def count_holders(coordinator: Coordinator, versions: Versions) -> int:
    """How many replicas hold every version, asked all at once in the coordinator's database.
    With no versions, how many replicas answer. Over a ring each key is asked of its owners
    only, and a write whose keys have different owners counts the fewest holders among them."""
    if not versions:
        found = await asyncio.gather(
            *(_holds(backend, coordinator, [], versions) for backend in coordinator.backends)
        )
        return sum(found)
    by_owners: dict[tuple[int, ...], list[tuple[bytes, Timestamp]]] = {}
    for key, ts in versions:
        owners = tuple(backend.index for backend in coordinator.owners_of(key))
        by_owners.setdefault(owners, []).append((key, ts))
    counts = await asyncio.gather(
        *(
            _count(coordinator, [coordinator.backends[i] for i in owners], part)
            for owners, part in by_owners.items()
        )
    )
    return min(counts)


async def _count(coordinator: Coordinator, owners: list[Backend], versions: Versions) -> int:
    keys = [key for key, _ in versions]
    found = await asyncio.gather(
        *(_holds(backend, coordinator, keys, versions) for backend in owners)
    )
    return sum(found)


async def _holds(
    backend: Backend, coordinator: Coordinator, keys: list[bytes], versions: Versions
) -> bool:
    try:
        reply = await asyncio.wait_for(
            backend.execute(b"MGET", *keys, FLUSH_KEY, db=coordinator.db), coordinator.timeout_s
        )
        reads = decode_reads(check_reads(len(keys), reply))
    except (ReplicaUnavailable, BadReply, TimeoutError):
        return False
    return holds(reads, versions)
