"""Listing a database's keys from its replicas: the pages of a keyspace iteration, and a
replica's random key.

A page is one SCAN step on one replica (`scan_cursor` says which, and why that covers every
key), asked with TYPE string: every record is a Redis string, so the replica itself leaves out
the internal hashes and sorted sets; the internal keys left are dropped here. The keys a page
gives are only candidates: tombstones and expired records kept for their grace are keys on the
replica too, so the caller decides what a client sees with a quorum read of them.

When a page finishes its replica and the iteration needs another, the same call goes on with
the next replica's first page, so that a small database is listed in one call with cursor 0,
as Redis lists it. A replica that fails its page is left for another, from its start; the call
fails (QuorumError) only when fewer than N - W + 1 replicas can be scanned in full, and the
client's cursor stays valid for a later try. With a sloppy quorum every replica is scanned
that can be; when some cannot, the iteration ends after N - W + 1 of them, and a key whose
write reached fewer than W replicas (the rest as hints in a proxy) may be missed, as a read
may miss it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from leaderless.replication.backend import Backend, ReplicaUnavailable
from leaderless.replication.membership import Health
from leaderless.replication.rounds import BadReply, QuorumError
from leaderless.replication.scan_cursor import (
    MAX_REPLICAS,
    CursorOverflow,
    ScanPosition,
    after_page,
    choose_replica,
    decode_cursor,
    needed_replicas,
)
from leaderless.replication.scripts import INTERNAL_PREFIX


class Keyspaces(Protocol):
    """What a scan needs of the coordinator of one database."""

    backends: list[Backend]
    w: int
    sloppy_quorum: bool
    timeout_s: float
    db: int

    def health(self, index: int) -> Health: ...


async def scan_page(
    coordinator: Keyspaces, cursor: int, match: bytes | None, count: int | None
) -> tuple[int, list[bytes]]:
    """The next client cursor (0: the iteration is complete) and the page's candidate keys,
    each once, none internal."""
    replicas = len(coordinator.backends)
    if replicas > MAX_REPLICAS:
        raise QuorumError(f"ERR keyspace iteration supports at most {MAX_REPLICAS} replicas")
    needed = needed_replicas(replicas, coordinator.w, coordinator.sloppy_quorum)
    enough = needed_replicas(replicas, coordinator.w, sloppy_quorum=False)
    start = decode_cursor(cursor, replicas)
    if start.scanned() >= needed:
        return 0, []  # a cursor no iteration gives: past its end
    position: ScanPosition | None = start
    keys: dict[bytes, None] = {}
    failed: set[int] = set()
    while position is not None:
        usable = [index not in failed and _usable(coordinator, index) for index in range(replicas)]
        chosen = choose_replica(position, usable)
        if chosen is None and position.scanned() >= enough:
            return 0, list(keys)  # sloppy quorum: every replica that could be scanned was
        if chosen is None:
            raise QuorumError(
                f"NOQUORUM keyspace iteration needs {enough} replicas scanned in full; "
                f"{position.scanned()} were and no other is up and in sync"
            )
        try:
            next_cursor, page = await _replica_page(coordinator, chosen, match, count)
        except (ReplicaUnavailable, TimeoutError, BadReply):
            failed.add(chosen.replica)
            position = chosen
            continue
        keys.update(dict.fromkeys(key for key in page if not key.startswith(INTERNAL_PREFIX)))
        position = after_page(chosen, next_cursor, needed, replicas)
        if position is not None and position.cursor != 0:
            try:
                return position.encode(), list(keys)
            except CursorOverflow as overflow:
                raise QuorumError(f"ERR {overflow}") from None
    return 0, list(keys)


async def replica_random_key(coordinator: Keyspaces, attempt: int) -> bytes | None:
    """RANDOMKEY of a replica that is up and in sync (the attempt-th of them, in turn), or None
    if that replica holds no key or none can be asked."""
    usable = [i for i in range(len(coordinator.backends)) if _usable(coordinator, i)]
    if not usable:
        return None
    backend = coordinator.backends[usable[attempt % len(usable)]]
    try:
        reply = await asyncio.wait_for(
            backend.execute(b"RANDOMKEY", db=coordinator.db), coordinator.timeout_s
        )
    except (ReplicaUnavailable, TimeoutError):
        return None
    return bytes(reply) if isinstance(reply, bytes | bytearray) else None


def _usable(coordinator: Keyspaces, index: int) -> bool:
    """Whether a replica can be scanned: up, and holding its data (not emptied and refilling,
    not yet checked after a reconnection)."""
    return coordinator.backends[index].state == "up" and coordinator.health(index) is Health.IN_SYNC


async def _replica_page(
    coordinator: Keyspaces, position: ScanPosition, match: bytes | None, count: int | None
) -> tuple[int, Sequence[bytes]]:
    """One SCAN step of the position's replica: its next cursor and its keys."""
    args = [b"SCAN", b"%d" % position.cursor]
    if match is not None:
        args += [b"MATCH", match]
    if count is not None:
        args += [b"COUNT", b"%d" % count]
    args += [b"TYPE", b"string"]
    backend = coordinator.backends[position.replica]
    reply = await asyncio.wait_for(backend.execute(*args, db=coordinator.db), coordinator.timeout_s)
    if not (
        isinstance(reply, list)
        and len(reply) == 2
        and isinstance(reply[0], bytes)
        and reply[0].isdigit()
        and isinstance(reply[1], list)
    ):
        raise BadReply(f"not a SCAN reply: {reply!r:.200}")
    return int(reply[0]), reply[1]
