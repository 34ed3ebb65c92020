"""The coordinator: one client request becomes one quorum round over the replicas.

A write is stamped by the hybrid logical clock, sent to every replica at once through the
compare-by-timestamp script, and acknowledged as soon as W replicas answered; if some refused
it because they hold a newer version, it goes again with a timestamp past that version (see
`write`). A read asks every replica, answers from the newest version among the
first R replies, and repairs the stale replicas among those R before it answers, so two
quorum reads in a row are monotonic; replicas that answer after the quorum are repaired in
the background. The decisions (when a round has its quorum, when it cannot, who is stale)
come from the pure modules `quorum` and `merge`; this module only carries them out.

A replica that failed a write, or had not acknowledged it by the deadline, gets it as a hint
(`handoff.py`), replayed when it answers again; the round keeps its deadline timer for that
after answering the client. With `sloppy_quorum` a stored hint counts toward W, once at least
one replica has acknowledged. Reads count only replicas `rejoin.py` finds IN_SYNC: a replica
that came back emptied is left out of read quorums until it is refilled (`membership.py`), and
one just (re)connected is waited for until its check is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal, cast

import hiredis
from leaderless.replication.backend import (
    Backend,
    Deliver,
    ReplicaUnavailable,
    Reply,
    settle,
)
from leaderless.replication.handoff import Handoff
from leaderless.replication.hints import HintStats
from leaderless.replication.hlc import HybridClock, Timestamp
from leaderless.replication.membership import Health
from leaderless.replication.merge import Repair, ReplicaRead, Resolution, resolve
from leaderless.replication.merkle import range_of
from leaderless.replication.quorum import Failed, Late, QuorumRound, Reached
from leaderless.replication.record import Record, RecordFormatError, decode_record, encode_record
from leaderless.replication.rejoin import Rejoin
from leaderless.replication.scripts import (
    DBSIZE,
    FLUSH,
    FLUSH_KEY,
    PURGE_TOMBSTONES,
    WRITE_IF_NEWER,
)

log = logging.getLogger(__name__)

RESTAMP_ATTEMPTS = 3
"""Tries of a write whose replicas hold a newer version (see Coordinator.write)."""


class QuorumError(Exception):
    """Fewer than W (or R) replicas answered in time; the text says how many of how many."""


@dataclass
class ReplicationStats:
    """Counters shown by INFO."""

    reads: int = 0
    writes: int = 0
    read_repairs: int = 0
    background_repairs: int = 0
    quorum_failures: int = 0
    tombstones_purged: int = 0
    restamped_writes: int = 0


class Coordinator:
    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        w: int,
        r: int,
        timeout_s: float,
        clock: HybridClock,
        handoff: Handoff,
        rejoin: Rejoin,
        sloppy_quorum: bool = False,
    ) -> None:
        self.backends = list(backends)
        self.w = w
        self.r = r
        self.timeout_s = timeout_s
        self.clock = clock
        self.handoff = handoff
        self.rejoin = rejoin
        self.sloppy_quorum = sloppy_quorum
        self.stats = ReplicationStats()
        self._background: set[asyncio.Future[Reply]] = set()
        for backend in self.backends:
            backend.on_up = rejoin.on_up

    @property
    def hints(self) -> HintStats:
        """Hints stored, replayed and dropped since start-up, and pending now (for INFO)."""
        return self.handoff.ledger.stats

    def health(self, index: int) -> Health:
        """Whether replica `index` counts toward reads: in_sync, recovering or checking."""
        return self.rejoin.health[index]

    def stamp(self) -> Timestamp:
        return self.clock.now()

    async def read(self, keys: Sequence[bytes]) -> list[Record | None]:
        """The newest record of each key (tombstones and expired records included)."""
        self.stats.reads += 1
        request = (b"MGET", *keys, FLUSH_KEY)
        settled: list[Resolution] = []
        up_to_date: list[object] = []  # answers that needed no repair: a late twin needs none
        late_answers: list[tuple[int, object]] = []

        def on_late(replica: int, answer: object) -> None:
            if not settled:
                late_answers.append((replica, answer))
            elif answer not in up_to_date:
                self._repair_late(keys, settled, replica, answer)

        answers = await self._round(
            "read",
            self.r,
            lambda backend, deliver: self._read_from(
                backend, deliver, lambda to: backend.call(to, *request)
            ),
            parse=partial(_check_reads, len(keys)),
            on_late=on_late,
        )
        replies = cast(dict[int, list[Reply]], answers)
        repairs: list[tuple[Backend, asyncio.Future[Reply]]] = []
        for position, key in enumerate(keys):
            resolution = _agreed(replies, position) or self._resolve(replies, position)
            if resolution.winner is not None:
                self.clock.observe(resolution.winner.ts)
            if resolution.flushed_at is not None:
                self.clock.observe(resolution.flushed_at)
            settled.append(resolution)
            for repair in resolution.repairs:
                backend = self.backends[repair.replica]
                repairs.extend((backend, sent) for sent in self._send_repair(key, repair))
        repaired = {backend.index for backend, _ in repairs}
        up_to_date.extend(reply for replica, reply in replies.items() if replica not in repaired)
        for replica, answer in late_answers:
            on_late(replica, answer)
        if repairs:
            self.stats.read_repairs += len(repairs)
            await self._confirm_repairs(repairs)
        return [resolution.winner for resolution in settled]

    def _resolve(self, replies: dict[int, list[Reply]], position: int) -> Resolution:
        """The replicas disagree on a key: the last-write-wins rule decides, with repairs."""
        reads: list[ReplicaRead | None] = [None] * len(self.backends)
        for replica, reply in replies.items():
            reads[replica] = _decode_read(reply[position], reply[-1])
        return resolve(reads)

    async def _confirm_repairs(self, repairs: list[tuple[Backend, asyncio.Future[Reply]]]) -> None:
        """A read answers only once the stale replicas it saw hold what it returns: otherwise
        the next read could meet only replicas that never got it, and go back in time."""
        await asyncio.wait([sent for _, sent in repairs], timeout=self.timeout_s)
        for backend, sent in repairs:
            if not sent.done():
                failure = f"{backend.name}: timed out"
            elif sent.cancelled() or sent.exception() is not None:
                failure = str(sent.exception()) if not sent.cancelled() else "cancelled"
            elif isinstance(reply := sent.result(), hiredis.ReplyError):
                failure = f"{backend.name}: {reply}"
            else:
                continue
            self.stats.quorum_failures += 1
            raise QuorumError(f"NOQUORUM read repair not acknowledged; {failure}")

    async def write(self, records: Sequence[tuple[bytes, Record]]) -> None:
        """Apply every record on at least W replicas, or raise QuorumError. The replicas that
        miss it get hints.

        A replica refuses a record when it holds a version at least as new (or a newer flush).
        That version can come from a proxy whose clock runs ahead, or from the same
        millisecond with a higher proxy id, and still be older in real time than this write,
        which its client issued later: so the write looks at what blocked it, moves the clock
        past it and goes again with a newer timestamp, rather than answer OK for a write that
        no replica will show."""
        for _ in range(RESTAMP_ATTEMPTS):
            answers = await self._write_once(records)
            refused = _refusals(answers)
            if not refused:
                return  # the usual case: no extra round trip, not even a coroutine
            blocked = await self._blocking_versions(records, refused)
            if not blocked:
                return
            for blocking in blocked.values():
                if not self.clock.observe(blocking):
                    raise QuorumError(
                        "ERR the key holds a version stamped more than max_clock_offset_ms "
                        "in the future; a writer's clock is wrong"
                    )
            self.stats.restamped_writes += len(blocked)
            records = [
                (key, replace(record, ts=self.clock.now()))
                for key, record in records
                if key in blocked
            ]
        raise QuorumError("ERR write kept losing to newer versions; try again")

    async def _write_once(self, records: Sequence[tuple[bytes, Record]]) -> dict[int, object]:
        self.stats.writes += 1
        encoded = [(key, write_args(key, record)) for key, record in records]

        def send(backend: Backend, deliver: Deliver) -> None:
            collect = _collect(len(encoded), deliver)
            for key, args in encoded:
                backend.call_script(collect, WRITE_IF_NEWER, (key,), args)

        def missed(replica: int) -> bool:
            hints = [(key, args[0]) for key, args in encoded]
            return self.handoff.add(self.backends[replica].name, hints)

        return await self._round("write", self.w, send, parse=_parse_script_acks, on_missed=missed)

    async def _blocking_versions(
        self, records: Sequence[tuple[bytes, Record]], refused: dict[int, list[int]]
    ) -> dict[bytes, Timestamp]:
        """For each refused record (by replica, positions in `records`), the newer version (or
        flush) that replica holds; a refusal by a replica that holds this very version (a
        repair got there first) blocks nothing."""
        blocked: dict[bytes, Timestamp] = {}
        for replica, positions in refused.items():
            keys = [records[i][0] for i in positions]
            try:
                reply = await self.backends[replica].execute(b"MGET", *keys, FLUSH_KEY)
                reads = _decode_reads(_check_reads(len(keys), reply))
            except (ReplicaUnavailable, _BadReply):
                continue  # gone since it answered: what blocked it is unknown, its ack stands
            for position, read in zip(positions, reads, strict=True):
                key, record = records[position]
                held = max(
                    (ts for ts in (_ts_of(read.record), read.flushed_at) if ts is not None),
                    default=None,
                )
                if held is not None and held > record.ts:
                    blocked[key] = max(held, blocked.get(key, held))
        return blocked

    async def flush(self) -> None:
        """A timestamped FLUSHDB: everything older than it is gone on every replica it reaches."""
        packed = self.clock.now().pack()
        await self._round(
            "write",
            self.w,
            lambda backend, deliver: backend.call_script(deliver, FLUSH, (), (packed,)),
            parse=_parse_int,
        )

    async def dbsize(self) -> int:
        """The largest count of client-visible keys among R replicas."""
        answers = await self._round(
            "read",
            self.r,
            lambda backend, deliver: self._read_from(
                backend, deliver, lambda to: backend.call_script(to, DBSIZE, (), ())
            ),
            parse=_parse_int,
        )
        return max(count for count in answers.values() if isinstance(count, int))

    async def purge_tombstones(self, cutoff_ms: int, batch: int = 1000) -> int:
        """Drop tombstones older than the cutoff on every reachable replica."""
        purged = 0
        for backend in self.backends:
            if backend.state != "up":
                continue
            while True:
                reply = await backend.run_script(
                    PURGE_TOMBSTONES, [], [b"%d" % cutoff_ms, b"%d" % batch]
                )
                if not isinstance(reply, int):
                    break
                purged += reply
                if reply < batch:
                    break
        self.stats.tombstones_purged += purged
        return purged

    async def close(self) -> None:
        for future in list(self._background):
            future.cancel()
        await self.rejoin.close()
        for backend in self.backends:
            await backend.close()
        await self.handoff.close()

    def _read_from(
        self, backend: Backend, deliver: Deliver, send: Callable[[Deliver], None]
    ) -> None:
        """Send a read to a replica if it counts toward reads: a recovering one fails at once,
        one being checked is asked once its check says it is in sync."""
        health = self.rejoin.health[backend.index]
        if health is Health.IN_SYNC:
            send(deliver)
        elif health is Health.CHECKING:
            checked = asyncio.ensure_future(self._read_once_checked(backend, send))
            checked.add_done_callback(partial(_deliver_outcome, deliver))
        else:
            deliver(ReplicaUnavailable(f"{backend.name}: {_RECOVERING}"))

    async def _read_once_checked(self, backend: Backend, send: Callable[[Deliver], None]) -> Reply:
        health = await self.rejoin.wait_checked(backend.index)
        if health is Health.RECOVERING:
            raise ReplicaUnavailable(f"{backend.name}: {_RECOVERING}")
        if health is Health.CHECKING:
            raise ReplicaUnavailable(f"{backend.name}: not checked for lost data yet")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        send(settle(future))
        return await future

    async def _round(
        self,
        kind: Literal["read", "write"],
        required: int,
        send: Callable[[Backend, Deliver], None],
        *,
        parse: Callable[[Reply], object],
        on_late: Callable[[int, object], None] | None = None,
        on_missed: Callable[[int], bool] | None = None,
    ) -> dict[int, object]:
        """One quorum round. `on_missed(replica)` is called for each replica that failed or had
        not answered by the deadline (the timer then outlives the reply to the client), and says
        whether a hint was kept; with sloppy_quorum a kept hint counts as a success once some
        replica has succeeded."""
        loop = asyncio.get_running_loop()
        quorum: QuorumRound[object] = QuorumRound(kind, len(self.backends), required)
        outcome: asyncio.Future[dict[int, object]] = loop.create_future()
        unanswered = set(range(len(self.backends)))
        sloppy = on_missed is not None and self.sloppy_quorum
        hinted: dict[int, str] = {}  # sloppy: hints waiting for a first success to count
        succeeded = False

        def settle(decision: object) -> None:
            if isinstance(decision, Reached):
                if not outcome.done():
                    outcome.set_result(dict(decision.answers))
            elif isinstance(decision, Failed):
                if not outcome.done():
                    self.stats.quorum_failures += 1
                    outcome.set_exception(QuorumError(decision.error))
            elif isinstance(decision, Late) and on_late is not None:
                on_late(decision.replica, decision.value)

        def success(replica: int, value: object) -> None:
            nonlocal succeeded
            settle(quorum.on_success(replica, value))
            if not succeeded:
                succeeded = True
                for hint in hinted:
                    settle(quorum.on_success(hint, True))
                hinted.clear()

        def failure(replica: int, reason: str) -> None:
            if on_missed is None or not on_missed(replica) or not sloppy:
                settle(quorum.on_failure(replica, reason))
            elif succeeded:
                settle(quorum.on_success(replica, True))
            else:
                hinted[replica] = reason
            if not unanswered and not succeeded:  # nobody holds the write: hints do not count
                for hint, why in hinted.items():
                    settle(quorum.on_failure(hint, why))
                hinted.clear()

        def answered(backend: Backend, reply: object) -> None:
            if on_missed is not None:
                if backend.index not in unanswered:
                    return  # hinted at the deadline already
                unanswered.discard(backend.index)
                if not unanswered:
                    timer.cancel()
            if isinstance(reply, BaseException):
                failure(backend.index, str(reply))
                return
            try:
                value = parse(reply)
            except ReplicaUnavailable as lost:
                failure(backend.index, str(lost))
                return
            except _BadReply as bad:
                failure(backend.index, f"{backend.name}: {bad}")
                return
            success(backend.index, value)

        def deadline() -> None:
            if on_missed is not None:
                stragglers = sorted(unanswered)
                unanswered.clear()
                for replica in stragglers:
                    failure(replica, f"{self.backends[replica].name}: timed out")
            settle(quorum.on_timeout())

        timer = loop.call_later(self.timeout_s, deadline)
        for backend in self.backends:
            send(backend, partial(answered, backend))
        try:
            return await outcome
        finally:
            if on_missed is None:
                timer.cancel()

    def _send_repair(self, key: bytes, repair: Repair) -> list[asyncio.Future[Reply]]:
        backend = self.backends[repair.replica]
        sent = []
        if repair.flush is not None:
            sent.append(backend.run_script(FLUSH, [], [repair.flush.pack()]))
        if repair.record is not None:
            sent.append(backend.run_script(WRITE_IF_NEWER, [key], write_args(key, repair.record)))
        return sent

    def _repair_late(
        self,
        keys: Sequence[bytes],
        settled: Sequence[Resolution],
        replica: int,
        answer: object,
    ) -> None:
        """A replica answered after the quorum: bring it up to what the quorum saw, if stale."""
        assert isinstance(answer, list)
        for key, resolution, late_read in zip(keys, settled, _decode_reads(answer), strict=True):
            repair = resolution.repair_for(replica, late_read)
            if repair is None:
                continue
            for future in self._send_repair(key, repair):
                self.stats.background_repairs += 1
                self._background.add(future)
                future.add_done_callback(self._background.discard)


def write_args(key: bytes, record: Record) -> list[bytes]:
    """WRITE_IF_NEWER's arguments for one key: its record, encoded with the key's range."""
    return [encode_record(record, range_of(key))]


_RECOVERING = "recovering (emptied; not counted toward reads until refilled)"


class _BadReply(Exception):
    """A replica answered something other than what the request expects."""


def _collect(count: int, deliver: Deliver) -> Deliver:
    """One receiver for `count` replies from one replica, delivering them as a list."""
    if count == 1:
        return lambda reply: deliver([reply])
    replies: list[object] = []

    def receive(reply: object) -> None:
        replies.append(reply)
        if len(replies) == count:
            deliver(replies)

    return receive


def _deliver_outcome(deliver: Deliver, done: asyncio.Future[Reply]) -> None:
    if done.cancelled():
        deliver(ReplicaUnavailable("cancelled"))
    elif (exc := done.exception()) is not None:
        deliver(exc)
    else:
        deliver(done.result())


def _parse_script_acks(replies: Reply) -> object:
    """Per record, 1 if the replica applied it, 0 if it already held something as new."""
    assert isinstance(replies, list)
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
        if not isinstance(reply, int):
            raise _BadReply(str(reply))
    return replies


def _refusals(answers: dict[int, object]) -> dict[int, list[int]]:
    """Per acknowledging replica, the positions of the records it did not apply."""
    refused: dict[int, list[int]] = {}
    for replica, acks in answers.items():
        if isinstance(acks, list) and 0 in acks:
            refused[replica] = [i for i, applied in enumerate(acks) if applied == 0]
    return refused


def _ts_of(record: Record | None) -> Timestamp | None:
    return None if record is None else record.ts


def _parse_int(reply: Reply) -> object:
    if not isinstance(reply, int):
        raise _BadReply(str(reply))
    return reply


def _check_reads(count: int, reply: Reply) -> list[Reply]:
    """A replica's answer to `MGET key... FLUSH_KEY`, left undecoded: most reads find every
    replica agreeing, and then only one copy is decoded."""
    if not isinstance(reply, list) or len(reply) != count + 1:
        raise _BadReply(str(reply))
    for raw in reply:
        if isinstance(raw, hiredis.ReplyError):
            raise _BadReply(str(raw))
    return reply


def _agreed(replies: dict[int, list[Reply]], position: int) -> Resolution | None:
    """The resolution of a key every answering replica holds byte for byte the same (with the
    same newest flush): that record, nothing to repair. None if they differ."""
    first = next(iter(replies.values()))
    raw, flush = first[position], first[-1]
    for reply in replies.values():
        if reply[position] != raw or reply[-1] != flush:
            return None
    read = _decode_read(raw, flush)
    record, flushed_at = read.record, read.flushed_at
    if record is not None and flushed_at is not None and record.ts <= flushed_at:
        record = None  # what resolve() decides for one replica, without its general case
    return Resolution(record, flushed_at, ())


def _decode_reads(reply: list[Reply]) -> list[ReplicaRead]:
    return [_decode_read(raw, reply[-1]) for raw in reply[:-1]]


def _decode_read(raw: Reply, flush: Reply) -> ReplicaRead:
    flushed_at = Timestamp.unpack(flush) if isinstance(flush, bytes) else None
    if not isinstance(raw, bytes):
        return ReplicaRead(None, flushed_at)
    try:
        return ReplicaRead(decode_record(raw), flushed_at)
    except RecordFormatError as exc:
        log.warning("ignoring a record this proxy cannot read: %s", exc)
        return ReplicaRead(None, flushed_at)
