"""The anti-entropy sidecar: rounds that make every owner of a key hold its newest version.

Read repair fixes the keys someone reads; a round fixes all the others. Each range of keys
(merkle.py) is compared and repaired among its owners only (placement.py, range_owners.py):
without a placement every replica owns every range. One round:

1. Flushes: a replica that missed the newest FLUSHDB gets it (scripts.FLUSH).
2. Expiries: every replica's expiry watermark is moved to the same time (now), so the digests
   count the same records everywhere (see merkle.py).
3. Digests: every replica's digests of the ranges it owns (range digests are all a replica
   keeps) are read, and each range's compared among its owners that are up. The segment
   parts (a segment's ranges that one replica set owns; with every replica owning every
   range, a whole segment) holding a differing range are leased (below) and their range
   digests read again. The keys of all the ranges that differ are then listed by scanning
   the keyspace of one owner of each (scripts.SCAN_RANGES: the replica keeps no index of
   keys by range, but every record carries its range, so Redis filters the keys itself):
   as few replicas as cover the ranges, the owner of the most first and the one with the
   most keys among equals (range_owners.sources), scanned at once. For each page of keys
   found, the record headers of each key's other owners (scripts.READ_HEADERS) go to
   `reconcile.plan`, which says which owners lack the newest version; the sidecar reads it
   from one that has it and writes it to the others through WRITE_IF_NEWER, the proxy's own
   compare-by-timestamp script, so a repair never overwrites a newer write that lands
   meanwhile, and a repair done twice is harmless. Ranges that still differ after the scans
   hold keys the replicas scanned lack: they are looked for in the keyspace of another of
   their owners, and so on. Before each scan the ranges' digests are read again,
   so that a range that differed only for a write in flight costs no scan. A key the scan
   returns twice is compared once (SCAN may repeat keys).
4. The digests are compared again (up to RECHECKS more passes over the parts that still
   differ, since writes in flight move them): the round has converged if every replica
   answered and all owners agree. A replica that a complete pass reached, with every replica
   it shares a range with, is marked `synced_at` even if writes keep the digests moving: it
   now holds every version of its ranges that existed when the round started. The counters
   are published in its ANTI_ENTROPY_KEY hash (rounds, ranges_differing, keys_scanned,
   keys_repaired, last_round_ms, ...).

A round where nothing differs reads the digests of the ranges each replica owns (all 65,536
without a ring, about 1 MB) and no key; a round where some range differs scans at least one
of its owners' whole keyspace (about 2 us of Redis time a key; 10 s a million keys at the
default `max_scan_keys_per_s`), which is the price of keeping no index of keys by range:
scanning costs time only when replicas differ, where an index costs memory for every key all
the time.

Any number of sidecars may run against the same replicas. A sidecar works on a differing
segment part only while it holds that part's lease on a majority of the part's owners
(scripts.TAKE_LEASE: owner and expiry, judged by each replica's own clock; range_owners.py
says why its owners), renewing its leases as it goes; a killed sidecar's leases expire after
`lease_ms` and another takes the parts over. A part whose lease is lost midway is left to its
new holder. Leases only share out the work: correctness never depends on them. In `--once`
mode a sidecar comes back to the parts others held, once their lease is released or expired,
and checks them (cheaply, if the other sidecar repaired them).

A copy of a key on a replica that does not own its range (a stray a move has not removed
yet) is in none of the owners' digests of that range, and is never scanned, compared or
repaired there: removing strays is the move's work, not a round's.

Pacing (pacing.RateLimit): the keys scanned count against `max_scan_keys_per_s`, and the keys
compared and the copies written against `max_keys_per_s`. They are apart because the costs
differ: a scanned key costs Redis about 2 us and sends nothing back unless its range is wanted,
while comparing and repairing read and write records on every replica, which clients feel.
The work is done in small batches (range_scan.SCAN_COUNT keys a scan step), so clients'
requests are never queued behind more than one batch on a replica. The sidecar holds a page of
headers at a time, and the names of the keys it found in the ranges that differ (to compare
each once).

Databases (`databases.py`): a round does steps 1 to 4 in each database that holds keys on
some replica (INFO keyspace), one after the other; each database has its own records,
digests, flushes and leases, so it converges on its own. The round has converged if every
database has. What is about a replica as a whole (its `synced_at` mark, the counters) lives
in database 0, and a replica is marked only once a complete pass of every database reached it.

A replica with no `synced_at` mark while another has one was emptied (restarted on a fresh
disk, or replaced) since the last converged round: the round copies everything of its ranges
back to it and says so. The proxy uses the same mark (rejoin.py) to leave such a replica out
of its read quorums until a pass has covered it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

import hiredis
from leaderless.config.settings import AntiEntropySettings, Settings
from leaderless.replication.backend import Backend, ReplicaUnavailable, Reply
from leaderless.replication.databases import databases_in
from leaderless.replication.merkle import RANGES, parse_digest, range_field
from leaderless.replication.move_plan import MoveIncomplete, MoveRefused
from leaderless.replication.pacing import RateLimit
from leaderless.replication.placement import Placement
from leaderless.replication.range_owners import RangeOwners, SegmentPart, by_owners
from leaderless.replication.range_scan import RangeScan
from leaderless.replication.reconcile import KeyRepair, plan
from leaderless.replication.record import peek_range
from leaderless.replication.ring_move import finish_move
from leaderless.replication.ring_nodes import MoveNodes, read_stored
from leaderless.replication.ring_state import configured
from leaderless.replication.scripts import (
    ANTI_ENTROPY_KEY,
    DIGESTS_KEY,
    FLUSH,
    FLUSH_KEY,
    READ_HEADERS,
    RELEASE_LEASE,
    SCAN_RANGES,
    SETTLE_EXPIRIES,
    SETTLED_FIELD,
    TAKE_LEASE,
    WRITE_IF_NEWER,
    write_if_newer_args,
)

log = logging.getLogger(__name__)

SETTLE_BATCH = 1000
DIGEST_BATCH = 4096
"""Digests read per HMGET: about 0.4 ms of a replica's time."""
FETCH_BATCH = 500
WRITE_BATCH = 200
WORKERS = 4
"""Pages of a scan compared and repaired at once, so that round trips overlap."""
RECHECKS = 2
"""Extra looks at the segments that still differ after a pass (writes in flight)."""
REQUEST_TIMEOUT_S = 30.0
_T = TypeVar("_T")


class RoundFailed(Exception):
    """A replica failed or answered something unexpected; the round stopped."""


@dataclass
class RoundReport:
    """What one round did; `summary()` is the line `--once` prints."""

    replicas: int = 0
    replicas_up: int = 0
    parts_differing: int = 0
    """Segment parts (range_owners.py) whose first look found some range differing."""
    ranges_compared: int = 0
    ranges_differing: int = 0
    keys_scanned: int = 0
    keys_compared: int = 0
    keys_repaired: int = 0
    bytes_read: list[int] = field(default_factory=list)
    seconds: float = 0.0
    converged: bool = False
    emptied: list[str] = field(default_factory=list)
    """Replicas that lost their `synced_at` mark: emptied since the last converged round."""

    def fields(self) -> dict[str, object]:
        """The round's figures by name, for a structured log line."""
        return {
            "converged": self.converged,
            "replicas": self.replicas,
            "replicas_up": self.replicas_up,
            "ranges_compared": self.ranges_compared,
            "ranges_differing": self.ranges_differing,
            "keys_scanned": self.keys_scanned,
            "keys_compared": self.keys_compared,
            "keys_repaired": self.keys_repaired,
            "bytes_read": list(self.bytes_read),
            "seconds": round(self.seconds, 3),
            "emptied": list(self.emptied),
        }

    def summary(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        emptied = f"; emptied since last sync: {', '.join(self.emptied)}" if self.emptied else ""
        read = "/".join(f"{b / 1e6:.2f}" for b in self.bytes_read)
        return (
            f"anti-entropy round: {state}: {self.replicas_up}/{self.replicas} replicas, "
            f"ranges compared {self.ranges_compared}, ranges differing {self.ranges_differing}, "
            f"keys scanned {_scanned(self.keys_scanned, self.seconds)}, "
            f"keys compared {self.keys_compared}, keys repaired {self.keys_repaired}, "
            f"MB read per replica {read}, {self.seconds:.2f} s{emptied}"
        )


@dataclass
class SidecarTotals:
    """This sidecar's rounds since it started, for its metrics endpoint."""

    rounds: int = 0
    rounds_failed: int = 0
    keys_repaired: int = 0
    last_round_s: float | None = None
    """How long the last finished round took; None before one."""
    last_round_converged: bool = False

    def add(self, report: RoundReport) -> None:
        self.rounds += 1
        self.keys_repaired += report.keys_repaired
        self.last_round_s = report.seconds
        self.last_round_converged = report.converged


@dataclass(frozen=True)
class Progress:
    """How far a pass is; a segment counts once for each replica set that owns some of its
    ranges (its parts, range_owners.py)."""

    segments_done: int
    segments_total: int
    seconds: float
    """Since the round started."""
    report: RoundReport

    def line(self) -> str:
        """The progress line `--once` shows on stderr."""
        report = self.report
        return (
            f"anti-entropy: {self.segments_done}/{self.segments_total} differing segments done, "
            f"{_scanned(report.keys_scanned, self.seconds)} keys scanned, "
            f"{report.keys_compared} keys compared, {report.keys_repaired} repaired"
        )


def _scanned(keys: int, seconds: float) -> str:
    """Keys scanned, with their rate over the round so far (the scan is most of a round)."""
    return f"{keys} ({keys / seconds:.0f}/s)" if keys and seconds > 0 else f"{keys}"


@dataclass
class _Pass:
    """The segment parts a pass holds leases on, and the ranges among theirs it still
    repairs."""

    held: set[SegmentPart]
    wanted: set[int]
    renewed: float
    """When the leases were last taken or renewed (monotonic seconds)."""
    lost: list[SegmentPart] = field(default_factory=list)


class AntiEntropy:
    def __init__(
        self,
        backends: Sequence[Backend],
        settings: AntiEntropySettings,
        *,
        tombstone_grace_ms: int,
        expired_grace_ms: int,
        wall_ms: Callable[[], int],
        owner: str | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        totals: SidecarTotals | None = None,
        placement: Placement | None = None,
    ) -> None:
        """`backends[i].index` is i, the position `placement` names backends by; without a
        placement every backend owns every range."""
        self.place(backends, placement)
        self.before_round: Callable[[], Awaitable[None]] | None = None
        """Called before each round of `run_forever` (the sidecar follows the stored ring)."""
        self.totals = totals or SidecarTotals()
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()}/{os.getpid()}/{os.urandom(4).hex()}"
        self._grace_ms = tombstone_grace_ms
        self._expired_grace_ms = expired_grace_ms
        self._wall_ms = wall_ms
        self._on_progress = on_progress
        self._scan_limit = RateLimit(settings.max_scan_keys_per_s)
        self._key_limit = RateLimit(settings.max_keys_per_s)
        self._report = RoundReport()
        self._started = time.monotonic()
        self._db = 0
        """The database the round is in: every request about records goes there."""

    def place(self, backends: Sequence[Backend], placement: Placement | None) -> None:
        """Compare these backends, owning the ranges `placement` gives them, from now on."""
        self.backends = list(backends)
        if any(backend.index != i for i, backend in enumerate(self.backends)):
            raise ValueError("backends must be given in the order of their index")
        self._owners = RangeOwners.of(placement, len(self.backends))

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Rounds every `interval_s` until `stop` is set; a failed round is logged and retried."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                if self.before_round is not None:
                    await self.before_round()
                report = await self.run_round(finish_leased=False)
            except (RoundFailed, OSError) as failure:
                self.totals.rounds_failed += 1
                log.warning("anti-entropy round failed: %s", failure)
            else:
                if report.ranges_differing or not report.converged:
                    fields = {"event": "anti_entropy_round", **report.fields()}
                    log.info("%s", report.summary(), extra=fields)
            remaining = self.settings.interval_s - (time.monotonic() - started)
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), remaining)

    async def run_round(self, *, finish_leased: bool) -> RoundReport:
        """One round over the replicas that are up. With `finish_leased`, segments another
        sidecar holds are waited for and checked too, so the round covers every segment."""
        started = self._started = time.monotonic()
        report = self._report = RoundReport(
            replicas=len(self.backends), bytes_read=[0] * len(self.backends)
        )
        up = [backend for backend in self.backends if backend.state == "up"]
        report.replicas_up = len(up)
        if len(up) >= 2:
            await self._round(up, finish_leased)
        report.seconds = time.monotonic() - started
        await self._publish(up, report)
        self.totals.add(report)
        return report

    async def _round(self, up: list[Backend], finish_leased: bool) -> None:
        report = self._report
        started_at = b"%d" % self._wall_ms()
        marks = await self._each(up, lambda b: b.execute(b"HGET", ANTI_ENTROPY_KEY, b"synced_at"))
        if any(marks):
            report.emptied = [b.name for b, mark in zip(up, marks, strict=True) if mark is None]
            for name in report.emptied:
                log.warning("replica %s has lost its data since the last sync; refilling", name)
        left: set[SegmentPart] = set()
        agreed = True
        for db in await self._databases(up):
            self._db = db
            try:
                in_db_left, in_db_still = await self._round_in_db(up, finish_leased)
            finally:
                self._db = 0
            left.update(in_db_left)
            agreed = not in_db_still and agreed
        every_replica = len(up) == len(self.backends)
        report.converged = every_replica and not left and agreed
        covered = set(self._owners.covered((b.index for b in up), left))
        reached = [(b, mark) for b, mark in zip(up, marks, strict=True) if b.index in covered]
        if reached:
            # A whole pass reached these replicas and every replica they share a range with:
            # each now holds every version that existed when the round started, even if later
            # writes keep the digests moving. That is what an emptied replica needs before it
            # counts toward reads again; a replica whose mark changed meanwhile (emptied
            # during the round) is left for the next.
            now_marks = await self._each(
                [b for b, _ in reached],
                lambda b: b.execute(b"HGET", ANTI_ENTROPY_KEY, b"synced_at"),
            )
            unchanged = [b for (b, a), z in zip(reached, now_marks, strict=True) if a == z]
            await self._each(
                unchanged,
                lambda b: b.execute(b"HSET", ANTI_ENTROPY_KEY, b"synced_at", started_at),
            )

    async def _databases(self, up: list[Backend]) -> list[int]:
        """The databases that hold keys on some replica."""
        keyspaces = await self._each(up, lambda b: b.execute(b"INFO", b"keyspace"))
        return sorted({db for info in keyspaces for db in databases_in(cast(bytes, info))})

    async def _round_in_db(
        self, up: list[Backend], finish_leased: bool
    ) -> tuple[list[SegmentPart], list[SegmentPart]]:
        """Steps 1 to 4 in the round's database: the parts left to another sidecar, and those
        whose owners still disagree at the end."""
        report = self._report
        await self._sync_flushes(up)
        await self._settle(up, self._wall_ms())
        sizes = await self._each(up, lambda b: b.execute(b"HLEN", DIGESTS_KEY, db=self._db))
        if all(size in (0, 1) for size in sizes):
            # No replica holds a range digest (at most the `settled` field): every digest
            # reads 0 everywhere, as after a FLUSHALL, so the 65,536 need not be read.
            return [], []
        every_range = range(RANGES)
        todo = self._owners.parts_of(
            self._owners.differing(await self._digests(up, every_range), every_range)
        )
        report.parts_differing += len(todo)
        left = await self._repair_parts(up, todo, finish_leased)
        for _ in range(RECHECKS):
            # Writes in flight during the pass make some ranges differ for a moment; look
            # again at just those parts before calling the round unconverged.
            still = await self._still_differing(up)
            if not still:
                break
            left += await self._repair_parts(up, still, finish_leased)
        else:
            still = await self._still_differing(up)
        return left, still

    async def _repair_parts(
        self, up: list[Backend], todo: list[SegmentPart], finish_leased: bool
    ) -> list[SegmentPart]:
        """Repair the parts in `todo`; returns those left to another sidecar's lease."""
        progress = [0, len(todo)]
        while todo:
            granted = await asyncio.gather(*(self._take_lease(up, s) for s in todo))
            leased = [segment for segment, ok in zip(todo, granted, strict=True) if ok]
            deferred = [segment for segment, ok in zip(todo, granted, strict=True) if not ok]
            try:
                deferred += await self._repair_leased(up, leased, progress)
            finally:
                await asyncio.gather(*(self._release_lease(up, s) for s in leased))
            if not deferred:
                return []
            if not finish_leased:
                return deferred
            await asyncio.sleep(min(self.settings.lease_ms / 10_000, 1.0))  # pacing a retry
            todo = deferred
        return []

    async def _repair_leased(
        self, up: list[Backend], parts: list[SegmentPart], progress: list[int]
    ) -> list[SegmentPart]:
        """Repair the differing ranges of these leased parts, each range in one scan of one of
        its owners, the few replicas chosen (range_owners.sources) scanned at once, then, for
        what still differs, of others (see the module docstring); returns the parts whose lease
        was lost."""
        report = self._report
        changed = await asyncio.gather(*(self._differing_ranges(up, part.ranges) for part in parts))
        report.ranges_compared += sum(len(part.ranges) for part in parts)
        report.ranges_differing += sum(map(len, changed))
        work = _Pass(
            held={part for part, ranges in zip(parts, changed, strict=True) if ranges},
            wanted={range_id for ranges in changed for range_id in ranges},
            renewed=time.monotonic(),
        )
        self._advance(progress, len(parts) - len(work.held))
        if work.wanted:
            replies = await self._each(up, lambda b: b.execute(b"DBSIZE", db=self._db))
            sizes = {b.index: cast(int, size) for b, size in zip(up, replies, strict=True)}
            answering = set(sizes)
            tried: dict[int, set[int]] = {}
            while True:
                # Look again before each scan, which costs a whole keyspace: ranges that
                # differed for writes in flight agree by now, and after a scan, those still
                # differing hold keys the replicas scanned so far lack.
                work.wanted = await self._differing_ranges(up, sorted(work.wanted))
                sources = self._owners.sources(work.wanted, tried, answering, sizes)
                if not sources:
                    break
                for position, ranges in sources.items():
                    for range_id in ranges:
                        tried.setdefault(range_id, set()).add(position)
                await _all(
                    self._scan(up, self.backends[position], set(ranges), work, progress)
                    for position, ranges in sources.items()
                )
        self._advance(progress, len(work.held))
        return work.lost

    async def _still_differing(self, up: list[Backend]) -> list[SegmentPart]:
        """The parts that differ after a pass. Reading every range takes long enough for
        writes in flight to make a range differ for a moment, so the parts that seem to are
        read again: only those whose ranges differ at that closer look count."""
        every_range = range(RANGES)
        seeming = self._owners.differing(await self._digests(up, every_range), every_range)
        if not seeming:
            return []
        ranges = [r for part in self._owners.parts_of(seeming) for r in part.ranges]
        return self._owners.parts_of(await self._differing_ranges(up, ranges))

    async def _differing_ranges(self, up: list[Backend], ranges: Sequence[int]) -> set[int]:
        """The ranges whose owners' digests differ."""
        return set(self._owners.differing(await self._digests(up, ranges), ranges))

    async def _scan(
        self,
        up: list[Backend],
        backend: Backend,
        assigned: set[int],
        work: _Pass,
        progress: list[int],
    ) -> None:
        """Compare and repair every key of the `assigned` ranges (while wanted) that replica
        `backend` holds. The scan goes on while up to WORKERS pages it found are compared and
        repaired."""
        mine = assigned & work.wanted
        scan = RangeScan(mine)
        lost = len(work.lost)
        comparing: set[asyncio.Task[None]] = set()
        try:
            while not scan.done and mine:
                request = backend.run_script(SCAN_RANGES, [], scan.request(), self._db)
                try:
                    scanned, found = scan.feed(await self._call(backend, request))
                except ValueError as error:
                    raise RoundFailed(f"{backend.name}: {error}") from None
                self._report.keys_scanned += scanned
                await self._pace(self._scan_limit, scanned)
                if found:
                    if len(comparing) >= WORKERS:
                        done, comparing = await asyncio.wait(
                            comparing, return_when=asyncio.FIRST_COMPLETED
                        )
                        await asyncio.gather(*done)  # raises what failed
                    comparing.add(asyncio.create_task(self._compare(up, backend, found)))
                self._advance(progress, 0)
                await self._renew(up, work)
                if len(work.lost) != lost:  # some lease was lost, here or in another scan
                    lost = len(work.lost)
                    mine = assigned & work.wanted
                    scan.want(mine)
            await asyncio.gather(*comparing)
        finally:
            for task in comparing:
                task.cancel()
            await asyncio.gather(*comparing, return_exceptions=True)

    async def _compare(
        self, up: list[Backend], source: Backend, found: Mapping[bytes, bytes]
    ) -> None:
        """Repair the keys `found` on replica `source` (key -> record header) on the other
        owners of each key that are up."""
        await self._pace(self._key_limit, len(found))
        answering = {backend.index for backend in up}
        groups = by_owners(
            {key: peek_range(header) for key, header in found.items()}, self._owners.owners
        )
        await asyncio.gather(
            *(
                self._compare_among(
                    [source.index, *(p for p in owners if p != source.index and p in answering)],
                    {key: found[key] for key in keys},
                )
                for owners, keys in groups.items()
            )
        )
        self._report.keys_compared += len(found)

    async def _compare_among(self, replicas: list[int], found: Mapping[bytes, bytes]) -> None:
        """Repair keys found on replica `replicas[0]` among these replicas (positions)."""
        keys = list(found)
        others = replicas[1:]
        replies = await asyncio.gather(
            *(
                self._call(
                    self.backends[p], self.backends[p].run_script(READ_HEADERS, keys, [], self._db)
                )
                for p in others
            )
        )
        held: list[Mapping[bytes, bytes]] = [found]
        for p, reply in zip(others, replies, strict=True):
            if not isinstance(reply, list) or len(reply) != len(keys):
                raise RoundFailed(f"{self.backends[p].name}: unexpected reply {reply!r}")
            held.append({key: header for key, header in zip(keys, reply, strict=True) if header})
        now = self._wall_ms()
        repairs = plan(held, now_ms=now, purge_cutoff_ms=now - self._grace_ms)
        await self._apply(
            [
                KeyRepair(r.key, replicas[r.source], tuple(replicas[t] for t in r.targets))
                for r in repairs
            ]
        )

    async def _renew(self, up: list[Backend], work: _Pass) -> None:
        """Renew the pass's leases when a third of their time is gone; the parts whose lease
        was lost go to `work.lost`, and their ranges are no longer wanted."""
        if time.monotonic() - work.renewed <= self.settings.lease_ms / 3000:
            return
        work.renewed = time.monotonic()
        parts = sorted(work.held, key=lambda part: (part.segment, part.replicas))
        kept = await asyncio.gather(*(self._take_lease(up, part) for part in parts))
        lost = [part for part, ok in zip(parts, kept, strict=True) if not ok]
        if not lost:
            return
        log.info(
            "lost the lease of %s; leaving them to their holder",
            ", ".join(part.lease_field.decode() for part in lost),
        )
        work.held.difference_update(lost)
        work.lost += lost
        work.wanted = {r for r in work.wanted if self._owners.part_of(r) in work.held}

    def _advance(self, progress: list[int], segments_done: int) -> None:
        progress[0] += segments_done
        if self._on_progress is not None:
            seconds = time.monotonic() - self._started
            self._on_progress(Progress(progress[0], progress[1], seconds, self._report))

    async def _sync_flushes(self, up: list[Backend]) -> None:
        flushes = await self._each(up, lambda b: b.execute(b"GET", FLUSH_KEY, db=self._db))
        known = [flush for flush in flushes if isinstance(flush, bytes)]
        if not known:
            return
        newest = max(known)  # packed timestamps sort as bytes
        behind = [b for b, flush in zip(up, flushes, strict=True) if flush != newest]
        await self._each(behind, lambda b: b.run_script(FLUSH, [], [newest], self._db))

    async def _settle(self, up: list[Backend], cutoff_ms: int) -> None:
        async def settle(backend: Backend) -> None:
            while True:
                reply = await self._call(
                    backend,
                    backend.run_script(
                        SETTLE_EXPIRIES,
                        [],
                        [b"%d" % cutoff_ms, b"%d" % SETTLE_BATCH, b"%d" % self._expired_grace_ms],
                        self._db,
                    ),
                )
                if not isinstance(reply, list) or reply[0] < SETTLE_BATCH:
                    return

        await asyncio.gather(*(settle(backend) for backend in up))

    async def _digests(self, up: list[Backend], ranges: Sequence[int]) -> dict[int, dict[int, int]]:
        """The digests of `ranges` on the replicas that own them (position -> range ->
        digest; each replica reads only the ranges it owns), read at one common expiry
        watermark, in batches of DIGEST_BATCH fields (one HMGET of all 65,536 would hold a
        replica ~10 ms)."""
        owned = {b.index: self._owners.owned_among(b.index, ranges) for b in up}
        readers = [b for b in up if owned[b.index]]
        values: list[list[object]] = []
        for _ in range(3):
            read = await asyncio.gather(*(self._read_digests(b, owned[b.index]) for b in readers))
            values = [held for _, held in read]
            marks = {mark for marks, _ in read for mark in marks}
            if len(marks) <= 1:
                break
            await self._settle(up, max(marks))  # another sidecar settled some replicas further
        return {
            b.index: dict(zip(owned[b.index], map(parse_digest, held), strict=True))
            for b, held in zip(readers, values, strict=True)
        }

    async def _read_digests(
        self, backend: Backend, ranges: Sequence[int]
    ) -> tuple[set[int], list[object]]:
        """One replica's digests of `ranges`, with the expiry watermarks they were read at."""
        marks: set[int] = set()
        held: list[object] = []
        for batch in _chunks([range_field(r) for r in ranges], DIGEST_BATCH):
            request = backend.execute(b"HMGET", DIGESTS_KEY, SETTLED_FIELD, *batch, db=self._db)
            reply = cast(list[object], await self._call(backend, request))
            marks.add(parse_digest(reply[0]))
            held.extend(reply[1:])
        return marks, held

    async def _apply(self, repairs: list[KeyRepair]) -> None:
        by_source: dict[int, list[KeyRepair]] = {}
        for repair in repairs:
            by_source.setdefault(repair.source, []).append(repair)
        await asyncio.gather(
            *(
                self._copy(source, chunk)
                for source, batch in by_source.items()
                for chunk in _chunks(batch, FETCH_BATCH)
            )
        )

    async def _copy(self, source: int, repairs: list[KeyRepair]) -> None:
        """Read the winning records from `source`, write them to the replicas lacking them."""
        backend = self.backends[source]
        keys = (r.key for r in repairs)
        values = await self._call(backend, backend.execute(b"MGET", *keys, db=self._db))
        assert isinstance(values, list)
        writes: dict[int, list[tuple[bytes, bytes]]] = {}
        for repair, record in zip(repairs, values, strict=True):
            if isinstance(record, bytes):  # gone meanwhile (expired, purged): skip
                for target in repair.targets:
                    writes.setdefault(target, []).append((repair.key, record))
        await self._pace(self._key_limit, sum(len(items) for items in writes.values()))
        applied = await asyncio.gather(
            *(self._write(self.backends[t], items) for t, items in writes.items())
        )
        self._report.keys_repaired += sum(applied)

    async def _write(self, backend: Backend, items: list[tuple[bytes, bytes]]) -> int:
        calls = []
        for chunk in _chunks(items, WRITE_BATCH):
            keys = [key for key, _ in chunk]
            args = [record for _, record in chunk]
            script = backend.run_script(
                WRITE_IF_NEWER,
                keys,
                write_if_newer_args(keys, args, self._expired_grace_ms),
                self._db,
            )
            calls.append(self._call(backend, script))
        return sum(sum(cast(list[int], applied)) for applied in await asyncio.gather(*calls))

    async def _take_lease(self, up: list[Backend], part: SegmentPart) -> bool:
        """Take or renew a part's lease on a majority of its owners (range_owners.py)."""
        args = [part.lease_field, self.owner.encode(), b"%d" % self.settings.lease_ms]
        granted = await self._each(
            _owners_in(up, part),
            lambda b: b.run_script(TAKE_LEASE, [], args, self._db),
            lenient=True,
        )
        if sum(1 for reply in granted if reply == 1) >= part.majority:
            return True
        await self._release_lease(up, part)
        return False

    async def _release_lease(self, up: list[Backend], part: SegmentPart) -> None:
        args = [part.lease_field, self.owner.encode()]
        await self._each(
            _owners_in(up, part),
            lambda b: b.run_script(RELEASE_LEASE, [], args, self._db),
            lenient=True,
        )

    async def _publish(self, up: list[Backend], report: RoundReport) -> None:
        """Add this round to the counters every replica keeps for INFO (best effort)."""

        requests = [
            (b"HINCRBY", ANTI_ENTROPY_KEY, b"rounds", b"1"),
            (b"HINCRBY", ANTI_ENTROPY_KEY, b"ranges_differing", b"%d" % report.ranges_differing),
            (b"HINCRBY", ANTI_ENTROPY_KEY, b"keys_scanned", b"%d" % report.keys_scanned),
            (b"HINCRBY", ANTI_ENTROPY_KEY, b"keys_repaired", b"%d" % report.keys_repaired),
            (
                b"HSET",
                ANTI_ENTROPY_KEY,
                b"last_round_ms",
                b"%d" % round(report.seconds * 1000),
                b"last_round_at",
                b"%d" % self._wall_ms(),
                b"last_round_converged",
                b"1" if report.converged else b"0",
            ),
        ]
        for request in requests:
            await self._each(up, lambda b: b.execute(*request), lenient=True)  # noqa: B023

    async def _pace(self, limit: RateLimit, count: int) -> None:
        delay = limit.delay(count, time.monotonic())
        if delay > 0:
            await asyncio.sleep(delay)  # the rate limit, not synchronisation

    async def _each(
        self,
        backends: list[Backend],
        send: Callable[[Backend], asyncio.Future[Reply]],
        *,
        lenient: bool = False,
    ) -> list[Reply]:
        """One request to each replica, all at once; with `lenient`, failures are None."""
        calls = [self._call(backend, send(backend), lenient=lenient) for backend in backends]
        return list(await asyncio.gather(*calls))

    async def _call(
        self, backend: Backend, request: Awaitable[Reply], *, lenient: bool = False
    ) -> Reply:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                reply = await request
        except (OSError, TimeoutError) as failure:
            if lenient:
                return None
            raise RoundFailed(f"{backend.name}: {failure or 'timed out'}") from None
        except ReplicaUnavailable as failure:
            if lenient:
                return None
            raise RoundFailed(str(failure)) from None
        if isinstance(reply, hiredis.ReplyError):
            if lenient:
                return None
            raise RoundFailed(f"{backend.name}: {reply}")
        self._report.bytes_read[backend.index] += reply_size(reply)
        return reply


def reply_size(reply: Reply) -> int:
    """About the bytes a parsed reply took on the wire (RESP2): exact for integers and for
    bulk strings of 10 to 99 bytes, the sizes this sidecar mostly reads, within a few per cent
    otherwise; cheap enough to run on every reply."""
    if isinstance(reply, bytes):
        return len(reply) + 7
    if isinstance(reply, list):
        if all(isinstance(item, bytes) for item in reply):
            return len(str(len(reply))) + 3 + sum(map(len, reply)) + 7 * len(reply)
        return len(str(len(reply))) + 3 + sum(reply_size(item) for item in reply)
    if isinstance(reply, int):
        return len(str(reply)) + 3
    return 5


async def _all(calls: Iterable[Awaitable[None]]) -> None:
    """Await all the calls at once; the first to fail cancels the others and is raised."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _owners_in(up: list[Backend], part: SegmentPart) -> list[Backend]:
    return [backend for backend in up if backend.index in part.replicas]


def _chunks(items: list[_T], size: int) -> list[list[_T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def run_sidecar(
    settings: Settings,
    *,
    once: bool,
    stop: asyncio.Event,
    wall_ms: Callable[[], int],
    on_progress: Callable[[Progress], None] | None = None,
    totals: SidecarTotals | None = None,
) -> RoundReport | None:
    """Connect to the replicas, then one round (`once`: its report) or rounds until `stop`.
    Before each round the sidecar follows the ring the nodes store (`RingFollower`): it
    finishes a move under way, and compares ranges among their owners on the ring in force."""
    replication = settings.replication
    follower = RingFollower(settings, wall_ms)
    await follower.follow()
    sidecar = AntiEntropy(
        follower.backends,
        settings.anti_entropy,
        tombstone_grace_ms=replication.tombstone_grace_s * 1000,
        expired_grace_ms=replication.expired_grace_s * 1000,
        wall_ms=wall_ms,
        on_progress=on_progress,
        totals=totals,
        placement=follower.placement,
    )

    async def follow() -> None:
        if await follower.follow():
            sidecar.place(follower.backends, follower.placement)

    sidecar.before_round = follow
    try:
        if once:
            return await sidecar.run_round(finish_leased=True)
        await sidecar.run_forever(stop)
        return None
    finally:
        await follower.close()


class RingFollower:
    """The members of the ring the nodes store, connected, and the placement over them: the
    configured ring while no node stores one. A move under way (or its pending drop) is
    finished first (ring_move.finish_move); one that cannot finish now is retried before the
    next round, which meanwhile compares on the ring last in force."""

    def __init__(self, settings: Settings, wall_ms: Callable[[], int]) -> None:
        replication = settings.replication
        self._settings = settings
        self._wall_ms = wall_ms
        self._timeout_s = replication.timeout_ms / 1000
        self._nodes = MoveNodes(replication.nodes, connect_timeout_s=self._timeout_s)
        self.state = configured(replication.nodes, replication.n, replication.vnodes)
        self.backends: list[Backend] = []
        self._own: list[Backend] = []
        """The backends opened for the members alone, when the ring's nodes could not serve."""
        self.placement: Placement | None = None
        self._epoch: int | None = None

    async def follow(self) -> bool:
        """Bring the ring up to date; whether the backends or the placement changed."""
        replication = self._settings.replication
        try:
            stored = await read_stored(self._nodes, [a.endpoint for a in replication.nodes])
            state = stored.state
            if state is not None and (state.moving or stored.pending is not None):
                state = await finish_move(self._settings, wall_ms=self._wall_ms, on_line=log.info)
        except (MoveIncomplete, MoveRefused) as failure:
            log.warning(
                "the move under way cannot finish now (%s); trying again next round", failure
            )
            state = None
        if state is not None and not state.moving:
            self.state = state
        if self.state.epoch == self._epoch and self.backends:
            return False
        for backend in self._own:
            await backend.close()
        self._own = []
        endpoints = [member.endpoint for member in self.state.members]
        self.backends = await self._nodes.get(endpoints)
        if [backend.index for backend in self.backends] != list(range(len(endpoints))):
            # A round wants the members at positions 0..k-1, the order the ring names them.
            self._own = self.backends = [
                Backend(index, self._nodes.address(endpoint), connect_timeout_s=self._timeout_s)
                for index, endpoint in enumerate(endpoints)
            ]
            await asyncio.gather(*(backend.connect() for backend in self.backends))
        placement = self.state.placement({b.name: b.index for b in self.backends})
        assert isinstance(placement, Placement)  # a ring whose keys are not moving
        self.placement = placement
        if self._epoch is not None:
            log.info(
                "anti-entropy follows the ring at epoch %d: %d nodes",
                self.state.epoch,
                len(self.backends),
            )
        self._epoch = self.state.epoch
        return True

    async def close(self) -> None:
        for backend in self._own:
            await backend.close()
        await self._nodes.close()
