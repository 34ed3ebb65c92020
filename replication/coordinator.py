"""The coordinator: client requests become quorum rounds over the replicas.

The requests made during one event-loop tick share rounds: a run of reads is one MGET per
replica, a run of writes one call of the compare-by-timestamp script per replica (up to
MAX_BATCH keys each), and each request is answered from its own part of the replies. That is
what lets many clients, or one client's pipeline, cost a few system calls and one script call
per replica rather than one each. Runs keep the order the requests came in, and each replica
connection keeps the order of what is sent on it, so a GET pipelined after a SET sees it.

A write is stamped by the hybrid logical clock, sent to every replica at once through the
compare-by-timestamp script, and acknowledged as soon as W replicas answered; if some refused
it because they hold a newer version, it goes again with a timestamp past that version (see
`write_then`). A read asks every replica, answers from the newest version among the
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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import Literal, TypeVar, cast

import hiredis
from leaderless.replication.backend import (
    Backend,
    Deliver,
    ReplicaUnavailable,
    Reply,
    pack_command,
    pack_script,
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
    Script,
    write_if_newer_args,
)

log = logging.getLogger(__name__)

RESTAMP_ATTEMPTS = 3
"""Tries of a write whose replicas hold a newer version (see Coordinator.write)."""


MAX_BATCH = 256
"""Most keys in one round: the requests of one event-loop tick share rounds up to this."""

Outcome = Callable[[object], None]
"""Receives a request's result, or the exception that stands for it (a QuorumError, ...)."""


class _Batch(Enum):
    READS = "reads"
    WRITES = "writes"


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
        self._deadlines = _Deadlines(timeout_s)
        self._queued: list[tuple[_Batch, Sequence[object], Outcome]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
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
        return cast(list[Record | None], await _completion(partial(self.read_then, keys)))

    def read_then(self, keys: Sequence[bytes], done: Outcome) -> None:
        """`read`, handing its result (or the QuorumError) to `done`: the common request runs
        on callbacks alone, with no task or coroutine of its own."""
        self.stats.reads += 1
        self._enqueue(_Batch.READS, keys, done)

    def _enqueue(self, kind: _Batch, items: Sequence[object], done: Outcome) -> None:
        """Requests made during one event-loop tick go out together at its end (`_send_queued`)."""
        queued = self._queued
        if not queued:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self._send_queued)
        queued.append((kind, items, done))

    def _send_queued(self) -> None:
        """One round for each run of reads or of writes, in the order they came: a client's
        pipelined SET then GET reach every replica in that order, so the GET sees the SET.
        A run is cut at MAX_BATCH keys, which bounds the time a replica spends on one call."""
        queued, self._queued = self._queued, []
        start = 0
        while start < len(queued):
            kind = queued[start][0]
            end, keys = start, 0
            while end < len(queued) and queued[end][0] is kind and keys < MAX_BATCH:
                keys += len(queued[end][1])
                end += 1
            run = [(items, done) for _, items, done in queued[start:end]]
            if kind is _Batch.READS:
                self._send_reads(cast(list[tuple[Sequence[bytes], Outcome]], run))
            else:
                self._send_writes(cast(list[tuple[Sequence[tuple[bytes, Record]], Outcome]], run))
            start = end

    def _send_reads(self, run: list[tuple[Sequence[bytes], Outcome]]) -> None:
        keys, done = run[0] if len(run) == 1 else (_joined(run), partial(_split_reads, run))
        request = pack_command((b"MGET", *keys, FLUSH_KEY))
        read = _Read(self, keys, done)
        self._round(
            "read",
            self.r,
            partial(self._read_from, request),
            read.reached,
            parse=partial(_check_reads, len(keys)),
            on_late=read.late,
        )

    def _resolve(self, replies: dict[int, list[Reply]], position: int) -> Resolution:
        """The replicas disagree on a key: the last-write-wins rule decides, with repairs."""
        reads: list[ReplicaRead | None] = [None] * len(self.backends)
        for replica, reply in replies.items():
            reads[replica] = _decode_read(reply[position], reply[-1])
        return resolve(reads)

    def _send_repair(self, key: bytes, repair: Repair, deliver: Deliver) -> int:
        """Send what replica `repair.replica` lacks; returns how many requests went."""
        backend = self.backends[repair.replica]
        sent = 0
        if repair.flush is not None:
            backend.call_script(deliver, FLUSH, (), (repair.flush.pack(),))
            sent += 1
        if repair.record is not None:
            stored = _stored(key, repair.record)
            backend.call_script(
                deliver, WRITE_IF_NEWER, (key,), write_if_newer_args((key,), (stored,))
            )
            sent += 1
        return sent

    async def write(self, records: Sequence[tuple[bytes, Record]]) -> None:
        """Apply every record on at least W replicas, or raise QuorumError."""
        await _completion(partial(self.write_then, records))

    def write_then(self, records: Sequence[tuple[bytes, Record]], done: Outcome) -> None:
        """`write`, handing None (or the QuorumError) to `done`. The replicas that miss it get
        hints.

        A replica refuses a record when it holds a version at least as new (or a newer flush).
        That version can come from a proxy whose clock runs ahead, or from the same
        millisecond with a higher proxy id, and still be older in real time than this write,
        which its client issued later: so the write looks at what blocked it, moves the clock
        past it and goes again with a newer timestamp (`_write_refused`), rather than answer
        OK for a write that no replica will show."""

        self.stats.writes += 1
        self._enqueue(_Batch.WRITES, records, partial(self._written, records, done))

    def _written(
        self, records: Sequence[tuple[bytes, Record]], done: Outcome, outcome: object
    ) -> None:
        if isinstance(outcome, BaseException):
            done(outcome)
        elif refused := _refusals(cast(dict[int, object], outcome)):
            retry = asyncio.ensure_future(self._write_refused(records, refused))
            retry.add_done_callback(partial(pass_outcome, done))
        else:
            done(None)  # the usual case: no extra round trip, not even a coroutine

    def _send_writes(self, run: list[tuple[Sequence[tuple[bytes, Record]], Outcome]]) -> None:
        records, done = run[0] if len(run) == 1 else (_joined(run), partial(_split_writes, run))
        self._write_once(records, done)

    async def _write_refused(
        self, records: Sequence[tuple[bytes, Record]], refused: dict[int, list[int]]
    ) -> None:
        for attempt in range(1, RESTAMP_ATTEMPTS + 1):
            blocked = await self._blocking_versions(records, refused)
            if not blocked:
                return
            for blocking in blocked.values():
                if not self.clock.observe(blocking):
                    raise QuorumError(
                        "ERR the key holds a version stamped more than max_clock_offset_ms "
                        "in the future; a writer's clock is wrong"
                    )
            if attempt == RESTAMP_ATTEMPTS:
                break
            self.stats.restamped_writes += len(blocked)
            records = [
                (key, record._replace(ts=self.clock.now()))
                for key, record in records
                if key in blocked
            ]
            answers = await _completion(partial(self._write_once, records))
            refused = _refusals(cast(dict[int, object], answers))
            if not refused:
                return
        raise QuorumError("ERR write kept losing to newer versions; try again")

    def _write_once(self, records: Sequence[tuple[bytes, Record]], done: Outcome) -> None:
        """One round of one WRITE_IF_NEWER call per replica for all the records, packed once."""
        keys = [key for key, _ in records]
        encoded = [_stored(key, record) for key, record in records]
        call = pack_script(WRITE_IF_NEWER, keys, write_if_newer_args(keys, encoded))

        def missed(replica: int) -> bool:
            hints = list(zip(keys, encoded, strict=True))
            return self.handoff.add(self.backends[replica].name, hints)

        self._round(
            "write",
            self.w,
            lambda backend, deliver: backend.send_script(deliver, call),
            done,
            parse=partial(_parse_script_acks, len(records)),
            on_missed=missed,
        )

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
        await _completion(
            partial(
                self._round,
                "write",
                self.w,
                lambda backend, deliver: backend.call_script(deliver, FLUSH, (), (packed,)),
                parse=_parse_int,
            )
        )

    async def dbsize(self) -> int:
        """The largest count of client-visible keys among R replicas."""
        answers = await _completion(
            partial(
                self._round,
                "read",
                self.r,
                partial(self._read_from, DBSIZE),
                parse=_parse_int,
            )
        )
        return max(
            count for count in cast(dict[int, object], answers).values() if isinstance(count, int)
        )

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
        self._deadlines.close()
        await self.rejoin.close()
        for backend in self.backends:
            await backend.close()
        await self.handoff.close()

    def _read_from(self, request: bytes | Script, backend: Backend, deliver: Deliver) -> None:
        """Send a read (a packed command, or a script without arguments) to a replica if it
        counts toward reads: a recovering one fails at once, one being checked is asked once
        its check says it is in sync."""
        health = self.rejoin.health[backend.index]
        if health is Health.IN_SYNC:
            _send_read(backend, request, deliver)
        elif health is Health.CHECKING:
            checked = asyncio.ensure_future(self._read_once_checked(backend, request))
            checked.add_done_callback(partial(_deliver_outcome, deliver))
        else:
            deliver(ReplicaUnavailable(f"{backend.name}: {_RECOVERING}"))

    async def _read_once_checked(self, backend: Backend, request: bytes | Script) -> Reply:
        health = await self.rejoin.wait_checked(backend.index)
        if health is Health.RECOVERING:
            raise ReplicaUnavailable(f"{backend.name}: {_RECOVERING}")
        if health is Health.CHECKING:
            raise ReplicaUnavailable(f"{backend.name}: not checked for lost data yet")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        _send_read(backend, request, settle(future))
        return await future

    def _round(
        self,
        kind: Literal["read", "write"],
        required: int,
        send: Callable[[Backend, Deliver], None],
        done: Outcome,
        *,
        parse: Callable[[Reply], object],
        on_late: Callable[[int, object], None] | None = None,
        on_missed: Callable[[int], bool] | None = None,
    ) -> None:
        """Start one quorum round; `done` gets the answers by replica, or the QuorumError.
        `on_missed(replica)` is called for each replica that failed or had not answered by the
        deadline, and says whether a hint was kept; with sloppy_quorum a kept hint counts as a
        success once some replica has succeeded."""
        round_ = _Round(self, kind, required, parse, done, on_late, on_missed)
        self._deadlines.add(round_)
        for backend in self.backends:
            send(backend, partial(round_.answered, backend.index))

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
            if repair is not None:
                self.stats.background_repairs += self._send_repair(key, repair, _ignore)


class _Round:
    """One quorum round in flight: the replicas' replies go through `parse` into the pure
    QuorumRound, and its decisions are carried out here. A round stays known to the deadline
    queue until its deadline, and to each replica's reply queue until that replica answers;
    once every replica has answered it lets go of what it holds."""

    __slots__ = (
        "_coordinator",
        "_done",
        "_heard",
        "_hinted",
        "_on_late",
        "_on_missed",
        "_parse",
        "_quorum",
        "_sloppy",
        "_succeeded",
        "_unanswered",
    )

    def __init__(
        self,
        coordinator: Coordinator,
        kind: Literal["read", "write"],
        required: int,
        parse: Callable[[Reply], object],
        done: Outcome,
        on_late: Callable[[int, object], None] | None,
        on_missed: Callable[[int], bool] | None,
    ) -> None:
        replicas = len(coordinator.backends)
        self._coordinator = coordinator
        self._quorum: QuorumRound[object] = QuorumRound(kind, replicas, required)
        self._parse = parse
        self._done: Outcome | None = done
        self._on_late = on_late
        self._on_missed = on_missed
        self._unanswered = set(range(replicas)) if on_missed is not None else None
        self._sloppy = on_missed is not None and coordinator.sloppy_quorum
        self._hinted: dict[int, str] = {}  # sloppy: hints waiting for a first success to count
        self._succeeded = False
        self._heard = 0

    @property
    def pending(self) -> bool:
        """Whether the deadline can still matter: undecided, or replicas still to hint."""
        return self._done is not None or bool(self._unanswered)

    def answered(self, replica: int, reply: object) -> None:
        unanswered = self._unanswered
        if unanswered is not None:
            if replica not in unanswered:
                return  # hinted at the deadline already
            unanswered.discard(replica)
        self._heard += 1
        if isinstance(reply, BaseException):
            self._failure(replica, str(reply))
        else:
            try:
                value = self._parse(reply)
            except ReplicaUnavailable as lost:
                self._failure(replica, str(lost))
            except _BadReply as bad:
                name = self._coordinator.backends[replica].name
                self._failure(replica, f"{name}: {bad}")
            else:
                self._success(replica, value)
        if self._heard == self._quorum.replicas:
            self._on_late = None  # nobody else will answer: let go of the read's state

    def expired(self) -> None:
        """The deadline passed: replicas that have not answered are missed."""
        if self._unanswered:
            stragglers = sorted(self._unanswered)
            self._unanswered.clear()
            for replica in stragglers:
                name = self._coordinator.backends[replica].name
                self._failure(replica, f"{name}: timed out")
        self._settle(self._quorum.on_timeout())

    def _success(self, replica: int, value: object) -> None:
        self._settle(self._quorum.on_success(replica, value))
        if not self._succeeded:
            self._succeeded = True
            for hint in self._hinted:
                self._settle(self._quorum.on_success(hint, True))
            self._hinted.clear()

    def _failure(self, replica: int, reason: str) -> None:
        on_missed = self._on_missed
        if on_missed is None or not on_missed(replica) or not self._sloppy:
            self._settle(self._quorum.on_failure(replica, reason))
        elif self._succeeded:
            self._settle(self._quorum.on_success(replica, True))
        else:
            self._hinted[replica] = reason
        if not self._unanswered and not self._succeeded:  # nobody holds it: hints do not count
            for hint, why in self._hinted.items():
                self._settle(self._quorum.on_failure(hint, why))
            self._hinted.clear()

    def _settle(self, decision: object) -> None:
        if type(decision) is Reached:
            done, self._done = self._done, None
            if done is not None:
                done(decision.answers)
        elif type(decision) is Failed:
            done, self._done = self._done, None
            if done is not None:
                self._coordinator.stats.quorum_failures += 1
                done(QuorumError(decision.error))
        elif type(decision) is Late and self._on_late is not None:
            self._on_late(decision.replica, decision.value)


_SLACK_S = 0.005
"""How late a round may be failed after its deadline: the timer lets the rounds expiring
within this long go together, rather than wake the event loop once for each."""


class _Deadlines:
    """The rounds in flight, oldest first, with one timer for the oldest. Every round gets the
    same timeout, so they expire in the order they started: one timer serves them all, where
    a timer per round would cost a heap entry (and its cancellation) on every request."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._rounds: deque[tuple[float, _Round]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, round_: _Round) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        self._rounds.append((deadline, round_))
        if self._timer is None:
            self._timer = loop.call_at(deadline + _SLACK_S, self._expire)

    def _expire(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        rounds = self._rounds
        while rounds and rounds[0][0] <= now:
            _, round_ = rounds.popleft()
            if round_.pending:
                round_.expired()
        self._timer = self._loop.call_at(rounds[0][0] + _SLACK_S, self._expire) if rounds else None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Read:
    """A read once its quorum answers: the newest record of each key, after the stale replicas
    among the quorum confirmed their repairs; stragglers are repaired in the background."""

    __slots__ = ("_coordinator", "_done", "_keys", "_late_answers", "_settled", "_up_to_date")

    def __init__(self, coordinator: Coordinator, keys: Sequence[bytes], done: Outcome) -> None:
        self._coordinator = coordinator
        self._keys = keys
        self._done = done
        self._settled: list[Resolution] = []
        self._up_to_date: list[object] = []  # answers that needed no repair: a late twin needs none
        self._late_answers: list[tuple[int, object]] = []

    def late(self, replica: int, answer: object) -> None:
        if not self._settled:
            self._late_answers.append((replica, answer))
        elif answer not in self._up_to_date:
            self._coordinator._repair_late(self._keys, self._settled, replica, answer)

    def reached(self, outcome: object) -> None:
        if isinstance(outcome, BaseException):
            self._done(outcome)
            return
        coordinator = self._coordinator
        replies = cast(dict[int, list[Reply]], outcome)
        repairs = _RepairAcks(self._done, coordinator.stats)
        repaired: set[int] = set()
        agreed = _Agreement(replies)
        settled = self._settled
        newest = agreed.flushed_at
        for position, key in enumerate(self._keys):
            resolution = agreed.on(position)
            if resolution is None:
                resolution = coordinator._resolve(replies, position)
                for seen in _versions(resolution):
                    if newest is None or seen > newest:
                        newest = seen
                for repair in resolution.repairs:
                    backend = coordinator.backends[repair.replica]
                    sent = coordinator._send_repair(key, repair, partial(repairs.ack, backend))
                    repairs.expect(sent)
                    repaired.add(repair.replica)
            elif (winner := resolution.winner) is not None and (
                newest is None or winner.ts > newest
            ):
                newest = winner.ts
            settled.append(resolution)
        if newest is not None and not coordinator.clock.observe(newest):
            for resolution in self._settled:  # one is too far ahead: take in the others
                for seen in _versions(resolution):
                    coordinator.clock.observe(seen)
        self._up_to_date.extend(
            reply for replica, reply in replies.items() if replica not in repaired
        )
        for replica, answer in self._late_answers:
            self.late(replica, answer)
        self._late_answers.clear()
        winners = [resolution.winner for resolution in self._settled]
        if repairs.outstanding:
            coordinator.stats.read_repairs += repairs.outstanding
            repairs.wait(winners, coordinator.timeout_s)
        else:
            self._done(winners)


class _RepairAcks:
    """A read answers only once the stale replicas it saw hold what it returns: otherwise the
    next read could meet only replicas that never got it, and go back in time."""

    __slots__ = ("_done", "_result", "_stats", "_timer", "outstanding")

    def __init__(self, done: Outcome, stats: ReplicationStats) -> None:
        self._done: Outcome | None = done
        self._stats = stats
        self.outstanding = 0
        self._result: object = None
        self._timer: asyncio.TimerHandle | None = None

    def expect(self, requests: int) -> None:
        self.outstanding += requests

    def wait(self, result: object, timeout_s: float) -> None:
        self._result = result
        if self._done is not None:
            self._timer = asyncio.get_running_loop().call_later(timeout_s, self._timed_out)

    def ack(self, backend: Backend, reply: object) -> None:
        if isinstance(reply, BaseException):
            self._fail(str(reply))
        elif isinstance(reply, hiredis.ReplyError):
            self._fail(f"{backend.name}: {reply}")
        else:
            self.outstanding -= 1
            if self.outstanding == 0 and self._timer is not None and self._done is not None:
                self._timer.cancel()
                done, self._done = self._done, None
                done(self._result)

    def _timed_out(self) -> None:
        self._fail("a stale replica timed out")

    def _fail(self, failure: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
        done, self._done = self._done, None
        if done is not None:
            self._stats.quorum_failures += 1
            done(QuorumError(f"NOQUORUM read repair not acknowledged; {failure}"))


def _stored(key: bytes, record: Record) -> bytes:
    """The record as WRITE_IF_NEWER takes and a replica stores it: encoded with the key's range."""
    return encode_record(record, range_of(key))


_RECOVERING = "recovering (emptied; not counted toward reads until refilled)"


class _BadReply(Exception):
    """A replica answered something other than what the request expects."""


def _send_read(backend: Backend, request: bytes | Script, deliver: Deliver) -> None:
    if isinstance(request, bytes):
        backend.send(deliver, request)
    else:
        backend.call_script(deliver, request, (), ())


T = TypeVar("T")


def _joined(run: list[tuple[Sequence[T], Outcome]]) -> list[T]:
    return [item for items, _ in run for item in items]


def _split_reads(run: list[tuple[Sequence[bytes], Outcome]], outcome: object) -> None:
    """Hand each read of a shared round its own records."""
    if isinstance(outcome, BaseException):
        for _, done in run:
            done(outcome)
        return
    records = cast(list[object], outcome)
    start = 0
    for keys, done in run:
        done(records[start : start + len(keys)])
        start += len(keys)


def _split_writes(
    run: list[tuple[Sequence[tuple[bytes, Record]], Outcome]], outcome: object
) -> None:
    """Hand each write of a shared round its own acknowledgements, by replica."""
    if isinstance(outcome, BaseException):
        for _, done in run:
            done(outcome)
        return
    answers = cast(dict[int, object], outcome)
    if not _refusals(answers):  # the usual case: every write of the run was applied
        for _, done in run:
            done(_NONE_REFUSED)
        return
    start = 0
    for records, done in run:
        end = start + len(records)
        done({i: a[start:end] if isinstance(a, list) else a for i, a in answers.items()})
        start = end


_NONE_REFUSED: dict[int, object] = {}
"""The acknowledgements a write gets when no replica refused any record of its round."""


def _completion(start: Callable[[Outcome], None]) -> asyncio.Future[object]:
    """Start a callback-driven request; the future holds its outcome."""
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    start(settle(future))
    return future


def pass_outcome(done: Outcome, task: asyncio.Future[object]) -> None:
    """Hand a finished task's result, exception or cancellation to a callback."""
    if task.cancelled():
        done(asyncio.CancelledError())
    elif (exc := task.exception()) is not None:
        done(exc)
    else:
        done(task.result())


def _ignore(reply: object) -> None:
    """For background repairs: a replica that misses one is repaired by the next read or by
    anti-entropy."""


def _deliver_outcome(deliver: Deliver, done: asyncio.Future[Reply]) -> None:
    if done.cancelled():
        deliver(ReplicaUnavailable("cancelled"))
    elif (exc := done.exception()) is not None:
        deliver(exc)
    else:
        deliver(done.result())


def _parse_script_acks(count: int, reply: Reply) -> object:
    """Per record, 1 if the replica applied it, 0 if it already held something as new."""
    if not isinstance(reply, list) or len(reply) != count:
        raise _BadReply(str(reply))
    return reply


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


def _versions(resolution: Resolution) -> list[Timestamp]:
    """The timestamps a read saw, for the clock: the winner's and the newest flush."""
    seen = [] if resolution.winner is None else [resolution.winner.ts]
    return seen if resolution.flushed_at is None else [*seen, resolution.flushed_at]


class _Agreement:
    """Resolves the keys every answering replica holds byte for byte the same (with the same
    newest flush): that record, nothing to repair. The flush is looked at once per read."""

    __slots__ = ("_replies", "flushed_at")

    def __init__(self, replies: dict[int, list[Reply]]) -> None:
        flushes = {
            bytes(reply[-1]) if isinstance(reply[-1], bytes) else None for reply in replies.values()
        }
        self._replies = list(replies.values()) if len(flushes) == 1 else []
        flush = next(iter(flushes))
        self.flushed_at = None if flush is None or not self._replies else Timestamp.unpack(flush)
        """The newest flush, when every replica has the same; None otherwise."""

    def on(self, position: int) -> Resolution | None:
        """The key at `position`, if its replicas agree; None if they differ."""
        replies = self._replies
        if not replies:
            return None
        raw = replies[0][position]
        for reply in replies:
            if reply[position] != raw:
                return None
        record, flushed_at = _decode(raw), self.flushed_at
        if record is not None and flushed_at is not None and record.ts <= flushed_at:
            record = None  # what resolve() decides for one replica, without its general case
        return _new_resolution(Resolution, (record, flushed_at, ()))


_new_resolution = tuple.__new__
"""Builds an agreed read's Resolution without NamedTuple's generated constructor."""


def _decode_reads(reply: list[Reply]) -> list[ReplicaRead]:
    return [_decode_read(raw, reply[-1]) for raw in reply[:-1]]


def _decode_read(raw: Reply, flush: Reply) -> ReplicaRead:
    return ReplicaRead(_decode(raw), Timestamp.unpack(flush) if isinstance(flush, bytes) else None)


def _decode(raw: Reply) -> Record | None:
    if not isinstance(raw, bytes):
        return None
    try:
        return decode_record(raw)
    except RecordFormatError as exc:
        log.warning("ignoring a record this proxy cannot read: %s", exc)
        return None
