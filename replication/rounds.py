"""One quorum round in flight: the asyncio shell around the pure `quorum.QuorumRound`.

Every request the coordinator makes of the replicas is a round: it goes to every replica at
once, each reply is parsed and fed to the QuorumRound, and its decisions (when the round has
its quorum, when it cannot) are carried out here. A round answers its caller with the answers
by replica or a QuorumError, and hands the replies that come after the quorum to `on_late`.
A replica that failed a write, or had not acknowledged it by the deadline, is handed to
`on_missed`, which keeps a hint for it (`handoff.py`); the round keeps its deadline timer for
that after answering the client. With `sloppy_quorum` a stored hint counts toward W, once at
least one replica has acknowledged.

A round knows the replicas only by position and name, and nothing of keys or records: reads,
writes, flushes and counts all go through the same round and the same deadline queue, and
what a request means stays with the coordinator and `reads`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from leaderless.replication.backend import ReplicaUnavailable, Reply, settle
from leaderless.replication.quorum import Failed, Group, Late, QuorumRound, Reached

log = logging.getLogger(__name__)

Outcome = Callable[[object], None]
"""Receives a request's result, or the exception that stands for it (a QuorumError, ...)."""


class QuorumError(Exception):
    """Fewer than W (or R) replicas answered in time; the text says how many of how many."""


@dataclass
class ReplicationStats:
    """Counters shown by INFO and the metrics."""

    reads: int = 0
    writes: int = 0
    read_repairs: int = 0
    background_repairs: int = 0
    read_quorum_failures: int = 0
    write_quorum_failures: int = 0
    tombstones_purged: int = 0
    restamped_writes: int = 0

    @property
    def quorum_failures(self) -> int:
        return self.read_quorum_failures + self.write_quorum_failures


class QuorumWatch:
    """Whether the rounds of each kind reach their quorum, so that losing it and regaining it
    are each logged once rather than once per request: the first read (or write) round to fail
    after one that reached its quorum logs "quorum lost", and the next to reach it "quorum
    regained", with the rounds that failed in between. While every quorum is reached, a round
    costs one attribute test."""

    __slots__ = ("_failing", "lost")

    def __init__(self) -> None:
        self.lost = False
        self._failing: dict[str, int] = {}  # kind -> rounds failed since it was lost

    def failed(self, kind: str, error: str) -> None:
        failing = self._failing.get(kind)
        if failing is None:
            log.warning(
                "%s quorum lost: %s",
                kind,
                error,
                extra={"event": "quorum_lost", "kind": kind, "error": error},
            )
            failing = 0
        self._failing[kind] = failing + 1
        self.lost = True

    def reached(self, kind: str) -> None:
        failed = self._failing.pop(kind, None)
        if failed is not None:
            log.info(
                "%s quorum regained after %d failed rounds",
                kind,
                failed,
                extra={"event": "quorum_regained", "kind": kind, "failed_rounds": failed},
            )
        self.lost = bool(self._failing)


class BadReply(Exception):
    """A replica answered something other than what the request expects."""


class Round:
    """One quorum round in flight: the replicas' replies go through `parse` into the pure
    QuorumRound, and its decisions are carried out here. A round stays known to the deadline
    queue until its deadline, and to each replica's reply queue until that replica answers;
    once every replica has answered it lets go of what it holds. `names` are the replicas'
    names by position, for the failures' texts; there is one replica per name."""

    __slots__ = (
        "_done",
        "_heard",
        "_hinted",
        "_names",
        "_on_late",
        "_on_missed",
        "_parse",
        "_quorum",
        "_sloppy",
        "_stats",
        "_succeeded",
        "_unanswered",
        "_watch",
    )

    def __init__(
        self,
        names: Sequence[str],
        sloppy: bool,
        stats: ReplicationStats,
        watch: QuorumWatch,
        kind: Literal["read", "write"],
        required: int,
        parse: Callable[[Reply], object],
        done: Outcome,
        on_late: Callable[[int, object], None] | None,
        on_missed: Callable[[int], bool] | None,
        groups: tuple[Group, ...] = (),
    ) -> None:
        replicas = len(names)
        self._names = names
        self._stats = stats
        self._watch = watch
        self._quorum: QuorumRound[object] = QuorumRound(kind, replicas, required, groups)
        self._parse = parse
        self._done: Outcome | None = done
        self._on_late = on_late
        self._on_missed = on_missed
        self._unanswered = set(range(replicas)) if on_missed is not None else None
        self._sloppy = on_missed is not None and sloppy
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
            except BadReply as bad:
                name = self._names[replica]
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
                name = self._names[replica]
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
                if self._watch.lost:
                    self._watch.reached(self._quorum.kind)
                done(decision.answers)
        elif type(decision) is Failed:
            done, self._done = self._done, None
            if done is not None:
                if self._quorum.kind == "read":
                    self._stats.read_quorum_failures += 1
                else:
                    self._stats.write_quorum_failures += 1
                self._watch.failed(self._quorum.kind, decision.error)
                done(QuorumError(decision.error))
        elif type(decision) is Late and self._on_late is not None:
            self._on_late(decision.replica, decision.value)


_SLACK_S = 0.005
"""How late a round may be failed after its deadline: the timer lets the rounds expiring
within this long go together, rather than wake the event loop once for each."""


class Deadlines:
    """The rounds in flight, oldest first, with one timer for the oldest. Every round gets the
    same timeout, so they expire in the order they started: one timer serves them all, where
    a timer per round would cost a heap entry (and its cancellation) on every request."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._rounds: deque[tuple[float, Round]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, round_: Round) -> None:
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


def completion(start: Callable[[Outcome], None]) -> asyncio.Future[object]:
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
