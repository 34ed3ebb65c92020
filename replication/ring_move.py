"""Carrying out a membership change over the nodes: `move` (steps 1 to 5) and `finish_move`.

The steps and their decisions are in move_plan.py and the requests to the nodes that read and
install the ring in ring_nodes.py; this is the thin shell that carries the steps out.

1. The stored ring is the newest among every node reachable: those configured, those the
   stored ring names, and those a pending drop names (read again until no new node appears).
2. The moving state is installed on every node of the old and the new ring (INSTALL_RING),
   and read back: the move goes on only once every one of them holds exactly it.
3. Stream: in each database holding keys, the old owners the plan chose are scanned for the
   keys of the changed ranges (SCAN_RANGES); for each page found, the headers of every up old
   and new owner of those keys are read (READ_HEADERS), and the newest version is copied to
   the new owners lacking it through WRITE_IF_NEWER, so a copy never overwrites a newer write
   that proxies, writing to both rings meanwhile, made. Any failed request stops the step.
4. The nodes the stable ring drops are noted beside the ring on every node (PendingDrop), then
   the stable state is installed on every node, as in step 2.
5. Drop: every node is scanned for the records of the ranges it no longer owns; each is
   copied first to the new owners that lack it, then deleted with DROP, which deletes it
   only if its header is still the one checked, and keeps the node's digests and lists true.
   Once every node is done, the pending drop is cleared.

Each step can be interrupted and run again: installs are compare-and-set by epoch, copies
are idempotent, and a rerun resumes from what the nodes store. Scans and copies are paced as
anti-entropy is (`max_scan_keys_per_s`, `max_keys_per_s`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import replace
from typing import cast

import hiredis
from leaderless.config.settings import NodeAddress, Settings
from leaderless.replication.backend import Backend, Reply
from leaderless.replication.databases import databases_in
from leaderless.replication.move_plan import (
    MoveIncomplete,
    MoveProgress,
    MoveRefused,
    PendingDrop,
    copies,
    drop_ranges,
    next_state,
    stable,
    stream_plan,
)
from leaderless.replication.pacing import RateLimit
from leaderless.replication.placement import Moving, Placement
from leaderless.replication.range_scan import RangeScan
from leaderless.replication.reconcile import KeyRepair
from leaderless.replication.ring_nodes import (
    DROPPING_FIELD,
    PROGRESS_FIELD,
    MoveNodes,
    answer,
    call,
    install,
    lenient,
    read_stored,
)
from leaderless.replication.ring_state import (
    RingMember,
    RingState,
)
from leaderless.replication.scripts import (
    DROP,
    READ_HEADERS,
    RING_KEY,
    SCAN_RANGES,
    WRITE_IF_NEWER,
    write_if_newer_args,
)

FETCH_BATCH = 500
WRITE_BATCH = 200
PROGRESS_EVERY_S = 1.0
WORKERS = 4
Page = Callable[[int, int, dict[bytes, bytes]], Coroutine[object, None, None]]
"""What is done with a page of keys found on a node: (its position, the database, key -> header)."""


async def move(
    settings: Settings,
    *,
    current: Sequence[NodeAddress] | None,
    wall_ms: Callable[[], int],
    on_line: Callable[[str], None],
    on_progress: Callable[[MoveProgress], None] | None = None,
) -> RingState:
    """Move the ring to `settings`' nodes (steps 1 to 5), or resume the stored move to them.
    `current` names the nodes holding the keys when no node stores a ring. Returns the
    stable state in force at the end."""
    replication = settings.replication
    target = [RingMember.of(address) for address in replication.nodes]
    nodes = MoveNodes(
        [*replication.nodes, *(current or ())], connect_timeout_s=replication.timeout_ms / 1000
    )
    try:
        known = [a.endpoint for a in (*replication.nodes, *(current or ()))]
        stored = await read_stored(nodes, known)
        members = None if current is None else [RingMember.of(a) for a in current]
        state = next_state(
            stored.state, stored.pending, members, target, replication.n, replication.vnodes
        )
        if not state.moving and stored.pending is None:
            on_line(f"ring move: the ring at epoch {state.epoch} has these members already")
            return state
        if state.moving and state is not stored.state:
            down = [b.name for b in await nodes.get(state.endpoints()) if b.state != "up"]
            if down:
                raise MoveRefused(
                    f"cannot start the move: {', '.join(down)} unreachable; every node of the "
                    "old and the new ring must be up"
                )
            on_line(
                f"ring move: epoch {state.epoch}: from {_names(state.previous or ())} "
                f"to {_names(state.members)}"
            )
        elif state.moving:
            on_line(f"ring move: resuming the move at epoch {state.epoch}")
        else:
            on_line(f"ring move: resuming the drop at epoch {state.epoch}")
        mover = RingMove(nodes, settings, wall_ms=wall_ms, on_line=on_line, on_progress=on_progress)
        return await mover.finish(state, stored.pending)
    finally:
        await nodes.close()


async def finish_move(
    settings: Settings,
    *,
    wall_ms: Callable[[], int],
    on_line: Callable[[str], None],
    on_progress: Callable[[MoveProgress], None] | None = None,
) -> RingState | None:
    """Steps 3 to 5 of the move the nodes store (or step 5 of one whose drop is pending);
    None if no move is under way."""
    replication = settings.replication
    nodes = MoveNodes(replication.nodes, connect_timeout_s=replication.timeout_ms / 1000)
    try:
        stored = await read_stored(nodes, [a.endpoint for a in replication.nodes])
        if stored.state is None or not (stored.state.moving or stored.pending):
            return None
        mover = RingMove(nodes, settings, wall_ms=wall_ms, on_line=on_line, on_progress=on_progress)
        return await mover.finish(stored.state, stored.pending)
    finally:
        await nodes.close()


def _names(members: Iterable[RingMember]) -> str:
    return ", ".join(member.endpoint for member in members)


class RingMove:
    """Steps 2 to 5 over connected nodes, for one moving (or stable, drop pending) state."""

    def __init__(
        self,
        nodes: MoveNodes,
        settings: Settings,
        *,
        wall_ms: Callable[[], int],
        on_line: Callable[[str], None],
        on_progress: Callable[[MoveProgress], None] | None,
    ) -> None:
        self.nodes = nodes
        self.settings = settings
        self._wall_ms = wall_ms
        self._on_line = on_line
        self._on_progress = on_progress
        self._scan_limit = RateLimit(settings.anti_entropy.max_scan_keys_per_s)
        self._key_limit = RateLimit(settings.anti_entropy.max_keys_per_s)
        self._grace_ms = settings.replication.expired_grace_s * 1000
        self._tombstone_grace_ms = settings.replication.tombstone_grace_s * 1000
        self.epoch = 0
        """The epoch of the state in force while a step runs (what its writes are under)."""
        self.backends: list[Backend] = []
        self._progress = MoveProgress("stream", 0, 0, 0, 0, 0, "ranges", 0.0)
        self._started = self._shown = 0.0

    async def finish(self, state: RingState, pending: PendingDrop | None) -> RingState:
        if state.moving:
            endpoints = state.endpoints()
            self.backends = await self.nodes.get(endpoints)
            await install(self.nodes, state, endpoints)
            self.epoch = state.epoch
            moving = state.placement({e: i for i, e in enumerate(endpoints)})
            assert isinstance(moving, Moving)
            await self._stream(moving)
            done = stable(state)
            leaving = tuple(e for e in endpoints if e not in {m.endpoint for m in done.members})
            pending = PendingDrop(done.epoch, leaving)
            await self._each(
                lambda b: b.execute(b"HSET", RING_KEY, DROPPING_FIELD, pending.encode())
            )
            await install(self.nodes, done, endpoints)
            self._on_line(f"ring move: epoch {done.epoch}: the new ring is in force")
            state = done
        assert pending is not None
        endpoints = [*(m.endpoint for m in state.members), *pending.nodes]
        self.backends = await self.nodes.get(endpoints)
        self.epoch = state.epoch
        placement = state.placement({e: i for i, e in enumerate(endpoints)})
        assert isinstance(placement, Placement)
        await self._drop(placement)
        await self._each(lambda b: b.execute(b"HDEL", RING_KEY, DROPPING_FIELD, PROGRESS_FIELD))
        self._on_line(f"ring move: epoch {state.epoch}: done; every node holds only its ranges")
        return state

    async def _each(self, send: Callable[[Backend], Awaitable[Reply]]) -> list[Reply]:
        return list(await asyncio.gather(*(call(b, send(b)) for b in self.backends)))

    async def _databases(self, backends: Sequence[Backend]) -> list[int]:
        infos = await asyncio.gather(*(call(b, b.execute(b"INFO", b"keyspace")) for b in backends))
        return sorted({db for info in infos for db in databases_in(cast(bytes, info))})

    def _start(self, step: str, total: int, unit: str, scans: int = 0) -> None:
        self._started = time.monotonic()
        self._progress = MoveProgress(step, self.epoch, 0, 0, 0, total, unit, 0.0, 0, scans)

    async def _advance(
        self, keys: int = 0, changes: int = 0, done: int = 0, scans: int = 0, *, last: bool = False
    ) -> None:
        """Count work done; report it (and note it on the nodes) at most once a second."""
        p = self._progress
        now = time.monotonic()
        self._progress = replace(
            p,
            keys=p.keys + keys,
            changes=p.changes + changes,
            done=p.done + done,
            scans_done=p.scans_done + scans,
            seconds=now - self._started,
        )
        if last or now - self._shown >= PROGRESS_EVERY_S:
            self._shown = now
            line = self._progress.line()
            up = [b for b in self.backends if b.state == "up"]
            await asyncio.gather(
                *(
                    lenient(b, b.execute(b"HSET", RING_KEY, PROGRESS_FIELD, line.encode()))
                    for b in up
                )
            )
            if self._on_progress is not None:
                self._on_progress(self._progress)

    async def _stream(self, moving: Moving) -> None:
        """Step 3: every key of the changed ranges to its new owners."""
        up = {i for i, b in enumerate(self.backends) if b.state == "up"}
        names = [b.name for b in self.backends]
        plan = stream_plan(moving, up, self.settings.replication.w, names)
        self._on_line(
            f"ring move: epoch {self.epoch}: streaming the {len(plan.changed)} ranges whose "
            f"owners change, scanning {len(plan.scans)} nodes"
        )
        self._start("stream", len(plan.changed), "ranges", len(plan.scans))
        remaining = plan.scans_of()
        databases = await self._databases([self.backends[p] for p in plan.scans])
        seen: dict[int, set[bytes]] = {db: set() for db in databases}
        for position, ranges in plan.scans.items():
            for db in databases:
                await self._scan(position, ranges, db, self._stream_page(moving, up, seen[db]))
            finished = 0
            for range_id in ranges:
                remaining[range_id] -= 1
                finished += remaining[range_id] == 0
            await self._advance(done=finished, scans=1)
        await self._advance(last=True)

    async def _scan(
        self,
        position: int,
        ranges: Sequence[int],
        db: int,
        page: Page,
    ) -> None:
        """One pass over backend `position`'s keyspace in `db` for the records of `ranges`,
        each page found handed to `page(position, db, found)`; up to WORKERS pages are worked
        on while the scan goes on, so that round trips overlap."""
        backend = self.backends[position]
        scan = RangeScan(ranges)
        working: set[asyncio.Task[None]] = set()
        try:
            while not scan.done:
                request = backend.run_script(SCAN_RANGES, [], scan.request(), db)
                try:
                    scanned, found = scan.feed(await call(backend, request))
                except ValueError as error:
                    raise MoveIncomplete(f"{backend.name}: {error}") from None
                await _pace(self._scan_limit, scanned)
                if found:
                    if len(working) >= WORKERS:
                        done, working = await asyncio.wait(
                            working, return_when=asyncio.FIRST_COMPLETED
                        )
                        await asyncio.gather(*done)  # raises what failed
                    working.add(asyncio.create_task(page(position, db, found)))
            await asyncio.gather(*working)
        finally:
            for task in working:
                task.cancel()
            await asyncio.gather(*working, return_exceptions=True)

    def _stream_page(self, moving: Moving, up: set[int], seen: set[bytes]) -> Page:
        async def page(source: int, db: int, found: dict[bytes, bytes]) -> None:
            found = {key: header for key, header in found.items() if key not in seen}
            seen.update(found)
            owners = {key: moving.owners_of(key) for key in found}
            holders = {key: sorted({*old, *new} & up) for key, (old, new) in owners.items()}
            held = await self._headers(source, found, holders, db)
            repairs = [
                repair
                for key, (_, new) in owners.items()
                for repair in self._copies(key, held, holders[key], new)
            ]
            await self._advance(keys=len(found), changes=await self._apply(repairs, db))

        return page

    async def _drop(self, placement: Placement) -> None:
        """Step 5: every node keeps only the records of the ranges it owns."""
        down = [b.name for b in self.backends if b.state != "up"]
        if down:
            raise MoveIncomplete(
                f"cannot drop moved records: {', '.join(down)} unreachable; the records stay "
                "until the move is run again with every node up"
            )
        self._on_line(
            f"ring move: epoch {self.epoch}: dropping from {len(self.backends)} nodes "
            "the records of the ranges they no longer own"
        )
        self._start("drop", len(self.backends), "nodes")
        databases = await self._databases(self.backends)
        for position in range(len(self.backends)):
            ranges = drop_ranges(placement, position)
            for db in databases if ranges else ():  # a node owning every range drops nothing
                await self._scan(position, ranges, db, self._drop_page(placement))
            await self._advance(done=1)
        await self._advance(last=True)

    def _drop_page(self, placement: Placement) -> Page:
        async def page(source: int, db: int, found: dict[bytes, bytes]) -> None:
            holders = {key: [source, *placement.owners_of(key)] for key in found}
            held = await self._headers(source, found, holders, db)
            repairs = [
                repair
                for key in found
                for repair in self._copies(key, held, holders[key], placement.owners_of(key))
            ]
            await self._apply(repairs, db)
            backend = self.backends[source]
            keys = list(found)
            dropped = await call(
                backend, backend.run_script(DROP, keys, [found[k] for k in keys], db)
            )
            await self._advance(keys=len(found), changes=cast(int, dropped))

        return page

    async def _headers(
        self,
        source: int,
        found: dict[bytes, bytes],
        holders: dict[bytes, list[int]],
        db: int,
    ) -> dict[int, dict[bytes, bytes]]:
        """Position -> the headers it holds of the keys it is listed for (source: `found`)."""
        await _pace(self._key_limit, len(found))
        asked: dict[int, list[bytes]] = {}
        for key, positions in holders.items():
            for position in positions:
                if position != source:
                    asked.setdefault(position, []).append(key)
        replies = await asyncio.gather(
            *(
                call(self.backends[p], self.backends[p].run_script(READ_HEADERS, keys, [], db))
                for p, keys in asked.items()
            )
        )
        held = {source: found}
        for (position, keys), reply in zip(asked.items(), replies, strict=True):
            if not isinstance(reply, list) or len(reply) != len(keys):
                raise MoveIncomplete(f"{self.backends[position].name}: unexpected {reply!r:.100}")
            held[position] = {k: h for k, h in zip(keys, reply, strict=True) if h}
        return held

    def _copies(
        self,
        key: bytes,
        held: dict[int, dict[bytes, bytes]],
        holders: Sequence[int],
        to: Sequence[int],
    ) -> list[KeyRepair]:
        now = self._wall_ms()
        return copies(
            key,
            [(p, held[p].get(key)) for p in holders],
            to,
            now_ms=now,
            purge_cutoff_ms=now - self._tombstone_grace_ms,
        )

    async def _apply(self, repairs: list[KeyRepair], db: int) -> int:
        """Read each repair's record from its source and write it to its targets; returns how
        many copies were applied."""
        by_source: dict[int, list[KeyRepair]] = {}
        for repair in repairs:
            by_source.setdefault(repair.source, []).append(repair)
        applied = await asyncio.gather(
            *(
                self._copy(source, batch[i : i + FETCH_BATCH], db)
                for source, batch in by_source.items()
                for i in range(0, len(batch), FETCH_BATCH)
            )
        )
        return sum(applied)

    async def _copy(self, source: int, repairs: list[KeyRepair], db: int) -> int:
        backend = self.backends[source]
        values = await call(backend, backend.execute(b"MGET", *(r.key for r in repairs), db=db))
        assert isinstance(values, list)
        writes: dict[int, list[tuple[bytes, bytes]]] = {}
        for repair, record in zip(repairs, values, strict=True):
            if isinstance(record, bytes):  # gone meanwhile (expired, purged): nothing to copy
                for target in repair.targets:
                    writes.setdefault(target, []).append((repair.key, record))
        await _pace(self._key_limit, sum(len(items) for items in writes.values()))
        applied = await asyncio.gather(
            *(
                self._write(self.backends[target], items[i : i + WRITE_BATCH], db)
                for target, items in writes.items()
                for i in range(0, len(items), WRITE_BATCH)
            )
        )
        return sum(applied)

    async def _write(self, backend: Backend, items: list[tuple[bytes, bytes]], db: int) -> int:
        """Every write a move makes goes through here, under the ring at `self.epoch`: applied
        where newer, and a refusal means the node holds a version at least as new. A node
        holding a newer ring refuses it all: another change has begun, and this one stops."""
        keys = [key for key, _ in items]
        records = [record for _, record in items]
        args = write_if_newer_args(keys, records, self._grace_ms, self.epoch, db)
        reply = await answer(backend, backend.run_script(WRITE_IF_NEWER, keys, args, db))
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("RINGEPOCH"):
            raise MoveRefused(
                f"{backend.name} holds a newer ring than epoch {self.epoch} ({reply}): "
                "another membership change is under way"
            )
        if not isinstance(reply, list):
            raise MoveIncomplete(f"{backend.name}: unexpected {reply!r:.100}")
        return sum(cast(list[int], reply))


async def _pace(limit: RateLimit, count: int) -> None:
    delay = limit.delay(count, time.monotonic())
    if delay > 0:
        await asyncio.sleep(delay)  # the rate limit, not synchronisation
