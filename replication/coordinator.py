"""The coordinator: one client request becomes one quorum round over the replicas.

A write is stamped by the hybrid logical clock, sent to every replica at once through the
compare-by-timestamp script, and acknowledged as soon as W replicas applied it (or already
held something newer). A read asks every replica, answers from the newest version among the
first R replies, and repairs the stale replicas among those R before it answers, so two
quorum reads in a row are monotonic; replicas that answer after the quorum are repaired in
the background. The decisions (when a round has its quorum, when it cannot, who is stale)
come from the pure modules `quorum` and `merge`; this module only carries them out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import hiredis
from leaderless.replication.backend import Backend, ReplicaUnavailable, Reply
from leaderless.replication.hlc import HybridClock, Timestamp
from leaderless.replication.merge import Repair, ReplicaRead, Resolution, resolve
from leaderless.replication.merkle import range_of
from leaderless.replication.quorum import Failed, Late, QuorumRound, Reached
from leaderless.replication.record import Record, RecordFormatError, decode_record, encode_record
from leaderless.replication.scripts import (
    DBSIZE,
    FLUSH,
    FLUSH_KEY,
    PURGE_TOMBSTONES,
    WRITE_IF_NEWER,
)

log = logging.getLogger(__name__)


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


class Coordinator:
    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        w: int,
        r: int,
        timeout_s: float,
        clock: HybridClock,
    ) -> None:
        self.backends = list(backends)
        self.w = w
        self.r = r
        self.timeout_s = timeout_s
        self.clock = clock
        self.stats = ReplicationStats()
        self._background: set[asyncio.Future[Reply]] = set()

    def stamp(self) -> Timestamp:
        return self.clock.now()

    async def read(self, keys: Sequence[bytes]) -> list[Record | None]:
        """The newest record of each key (tombstones and expired records included)."""
        self.stats.reads += 1
        request = (b"MGET", *keys, FLUSH_KEY)
        settled: list[Resolution] = []
        late_answers: list[tuple[int, object]] = []

        def on_late(replica: int, answer: object) -> None:
            if settled:
                self._repair_late(keys, settled, replica, answer)
            else:
                late_answers.append((replica, answer))

        answers = await self._round(
            "read",
            self.r,
            lambda backend: backend.execute(*request),
            parse=partial(_parse_reads, len(keys)),
            on_late=on_late,
        )
        repairs: list[tuple[Backend, asyncio.Future[Reply]]] = []
        for position, key in enumerate(keys):
            reads: list[ReplicaRead | None] = [None] * len(self.backends)
            for replica, replica_reads in answers.items():
                reads[replica] = replica_reads[position]  # type: ignore[index]
            resolution = resolve(reads)
            if resolution.winner is not None:
                self.clock.observe(resolution.winner.ts)
            if resolution.flushed_at is not None:
                self.clock.observe(resolution.flushed_at)
            settled.append(resolution)
            for repair in resolution.repairs:
                backend = self.backends[repair.replica]
                repairs.extend((backend, sent) for sent in self._send_repair(key, repair))
        for replica, answer in late_answers:
            self._repair_late(keys, settled, replica, answer)
        if repairs:
            self.stats.read_repairs += len(repairs)
            await self._confirm_repairs(repairs)
        return [resolution.winner for resolution in settled]

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
        """Apply every record on at least W replicas, or raise QuorumError."""
        self.stats.writes += 1
        encoded = [(key, write_args(key, record)) for key, record in records]

        def send(backend: Backend) -> asyncio.Future[list[Reply]]:
            return _all([backend.run_script(WRITE_IF_NEWER, [k], args) for k, args in encoded])

        await self._round("write", self.w, send, parse=_parse_script_acks)

    async def flush(self) -> None:
        """A timestamped FLUSHDB: everything older than it is gone on every replica it reaches."""
        packed = self.clock.now().pack()
        await self._round(
            "write",
            self.w,
            lambda backend: backend.run_script(FLUSH, [], [packed]),
            parse=_parse_int,
        )

    async def dbsize(self) -> int:
        """The largest count of client-visible keys among R replicas."""
        answers = await self._round(
            "read", self.r, lambda backend: backend.run_script(DBSIZE, [], []), parse=_parse_int
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
        for backend in self.backends:
            await backend.close()

    async def _round(
        self,
        kind: Literal["read", "write"],
        required: int,
        send: Callable[[Backend], asyncio.Future[Reply]]
        | Callable[[Backend], asyncio.Future[list[Reply]]],
        *,
        parse: Callable[[Reply], object],
        on_late: Callable[[int, object], None] | None = None,
    ) -> dict[int, object]:
        loop = asyncio.get_running_loop()
        quorum: QuorumRound[object] = QuorumRound(kind, len(self.backends), required)
        outcome: asyncio.Future[dict[int, object]] = loop.create_future()

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

        def answered(backend: Backend, future: asyncio.Future[Reply]) -> None:
            if future.cancelled():
                settle(quorum.on_failure(backend.index, f"{backend.name}: cancelled"))
                return
            if (exc := future.exception()) is not None:
                settle(quorum.on_failure(backend.index, str(exc)))
                return
            try:
                value = parse(future.result())
            except ReplicaUnavailable as lost:
                settle(quorum.on_failure(backend.index, str(lost)))
                return
            except _BadReply as bad:
                settle(quorum.on_failure(backend.index, f"{backend.name}: {bad}"))
                return
            settle(quorum.on_success(backend.index, value))

        for backend in self.backends:
            send(backend).add_done_callback(partial(answered, backend))
        timer = loop.call_later(self.timeout_s, lambda: settle(quorum.on_timeout()))
        try:
            return await outcome
        finally:
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
        for key, resolution, late_read in zip(keys, settled, answer, strict=True):
            repair = resolution.repair_for(replica, late_read)
            if repair is None:
                continue
            for future in self._send_repair(key, repair):
                self.stats.background_repairs += 1
                self._background.add(future)
                future.add_done_callback(self._background.discard)


def write_args(key: bytes, record: Record) -> list[bytes]:
    """WRITE_IF_NEWER's arguments for one key: the encoded record and the key's range."""
    return [encode_record(record), b"%d" % range_of(key)]


class _BadReply(Exception):
    """A replica answered something other than what the request expects."""


def _all(futures: list[asyncio.Future[Reply]]) -> asyncio.Future[list[Reply]]:
    return asyncio.gather(*futures, return_exceptions=True)


def _parse_script_acks(replies: Reply) -> object:
    assert isinstance(replies, list)
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply
        if not isinstance(reply, int):
            raise _BadReply(str(reply))
    return True


def _parse_int(reply: Reply) -> object:
    if not isinstance(reply, int):
        raise _BadReply(str(reply))
    return reply


def _parse_reads(count: int, reply: Reply) -> object:
    if not isinstance(reply, list) or len(reply) != count + 1:
        raise _BadReply(str(reply))
    flush = reply[-1]
    flushed_at = Timestamp.unpack(flush) if isinstance(flush, bytes) else None
    reads = []
    for raw in reply[:-1]:
        if isinstance(raw, hiredis.ReplyError):
            raise _BadReply(str(raw))
        try:
            record = decode_record(raw) if raw is not None else None
        except RecordFormatError as exc:
            log.warning("ignoring a record this proxy cannot read: %s", exc)
            record = None
        reads.append(ReplicaRead(record, flushed_at))
    return reads
