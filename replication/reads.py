"""What a read does once its quorum has answered: the newest record of each key, and the
repairs that make it safe to return.

A read answers from the newest version among the first R replies, and repairs the stale
replicas among those R before it answers, so two quorum reads in a row are monotonic;
replicas that answer after the quorum are repaired in the background. Who wins and who is
stale is decided by the pure `merge`; most reads find every replica agreeing byte for byte,
and then only one copy of each key is decoded and nothing needs resolving.

None of this concerns how a request reaches the replicas or when a round has its quorum
(that is the coordinator's and `rounds`'): it starts from the replies of a finished round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, cast

import hiredis
from leaderless.replication.backend import (
    Backend,
    Deliver,
    Reply,
    ScriptCall,
    pack_command,
    pack_script,
)
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merge import ReplicaRead, Resolution
from leaderless.replication.record import Record, RecordFormatError, decode_record
from leaderless.replication.rounds import BadReply, Outcome, QuorumError, ReplicationStats
from leaderless.replication.scripts import EPOCH_KEY, FLUSH_KEY, READ_WITH_EPOCH

if TYPE_CHECKING:
    from leaderless.replication.coordinator import Coordinator

log = logging.getLogger(__name__)


class Read:
    """A read once its quorum answers: the newest record of each key, after the stale replicas
    among the quorum confirmed their repairs; stragglers are repaired in the background."""

    __slots__ = (
        "_coordinator",
        "_done",
        "_epoch",
        "_keys",
        "_late_answers",
        "_settled",
        "_up_to_date",
    )

    def __init__(
        self, coordinator: Coordinator, keys: Sequence[bytes], done: Outcome, epoch: int
    ) -> None:
        self._coordinator = coordinator
        self._keys = keys
        self._done = done
        self._epoch = epoch
        """The ring epoch the read was routed by: one a replica showed newer sends it again."""
        self._settled: list[Resolution] = []
        self._up_to_date: list[object] = []  # answers that needed no repair: a late twin needs none
        self._late_answers: list[tuple[int, object]] = []

    def late(self, replica: int, answer: object) -> None:
        if not self._settled:
            self._late_answers.append((replica, answer))
        elif answer not in self._up_to_date:
            self._coordinator.repair_late(self._keys, self._settled, replica, answer)

    def reached(self, outcome: object) -> None:
        coordinator = self._coordinator
        if isinstance(outcome, BaseException):
            if not coordinator.retry_if_moved("read", self._keys, self._done, self._epoch):
                self._done(outcome)
            return
        replies = cast(dict[int, list[Reply]], outcome)
        repairs = RepairAcks(self._done, coordinator.stats)
        repaired: set[int] = set()
        agreed = _Agreement(replies)
        settled = self._settled
        newest = agreed.flushed_at
        for position, key in enumerate(self._keys):
            resolution = agreed.on(position)
            if resolution is None:
                resolution = coordinator.resolve_key(replies, position)
                for seen in _versions(resolution):
                    if newest is None or seen > newest:
                        newest = seen
                for repair in resolution.repairs:
                    backend = coordinator.backends[repair.replica]
                    sent = coordinator.send_repair(key, repair, partial(repairs.ack, backend))
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
        # A key a flush removed is given as deleted at the flush: an increment then starts its
        # counter from the flush, as every proxy that saw it does, and never merges into one
        # from before it that a replica which missed the flush still holds.
        winners = [
            Record.deletion(flushed)
            if resolution.winner is None and (flushed := resolution.flushed_at) is not None
            else resolution.winner
            for resolution in self._settled
        ]
        if repairs.outstanding:
            coordinator.stats.read_repairs += repairs.outstanding
            repairs.wait(winners, coordinator.timeout_s)
        else:
            self._done(winners)


class RepairAcks:
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
            self._stats.read_quorum_failures += 1
            done(QuorumError(f"NOQUORUM read repair not acknowledged; {failure}"))


def split_reads(run: list[tuple[Sequence[bytes], Outcome]], outcome: object) -> None:
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


def read_request(keys: Sequence[bytes], db: int) -> bytes | ScriptCall:
    """What a read of `keys` sends a replica: `MGET key... FLUSH_KEY EPOCH_KEY` in database 0,
    and in another database the script that answers the same (the epoch is kept in database 0
    only, ring_state.py)."""
    if not db:
        return pack_command((b"MGET", *keys, FLUSH_KEY, EPOCH_KEY))
    return pack_script(READ_WITH_EPOCH, (*keys, FLUSH_KEY), (b"%d" % db,))


def send_request(backend: Backend, request: bytes | ScriptCall, deliver: Deliver, db: int) -> None:
    """Send a packed command or script call."""
    if isinstance(request, bytes):
        backend.send(deliver, request, db)
    else:
        backend.send_script(deliver, request, db)


def check_reads(count: int, reply: Reply) -> list[Reply]:
    """A replica's answer to `MGET key... FLUSH_KEY`, left undecoded: most reads find every
    replica agreeing, and then only one copy is decoded."""
    if not isinstance(reply, list) or len(reply) != count + 1:
        raise BadReply(str(reply))
    for raw in reply:
        if isinstance(raw, hiredis.ReplyError):
            raise BadReply(str(raw))
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


def decode_reads(reply: list[Reply]) -> list[ReplicaRead]:
    return [decode_read(raw, reply[-1]) for raw in reply[:-1]]


def decode_read(raw: Reply, flush: Reply) -> ReplicaRead:
    return ReplicaRead(_decode(raw), Timestamp.unpack(flush) if isinstance(flush, bytes) else None)


def _decode(raw: Reply) -> Record | None:
    if not isinstance(raw, bytes):
        return None
    try:
        return decode_record(raw)
    except RecordFormatError as exc:
        log.warning("ignoring a record this proxy cannot read: %s", exc)
        return None
