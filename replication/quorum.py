"""One quorum round: send to every replica, then decide from the answers as they come.

A round starts COLLECTING. Each answer or the timeout is first classified into an `_Event`
(counting is done there, so the table below needs no conditions), then `_TRANSITIONS` gives the
next phase and what the caller must do:

    phase       event           next phase   decision
    COLLECTING  SUCCESS         COLLECTING   Wait
    COLLECTING  QUORUM_SUCCESS  REACHED      Reached(answers)   `required` successes are in
    COLLECTING  FAILURE         COLLECTING   Wait
    COLLECTING  FATAL_FAILURE   FAILED       Failed(error)      too few replicas left to succeed
    COLLECTING  TIMEOUT         FAILED       Failed(error)
    REACHED     SUCCESS         REACHED      Late(i, value)     a straggler, e.g. to repair
    REACHED     FAILURE         REACHED      Wait               nothing left to do
    REACHED     TIMEOUT         REACHED      Wait
    FAILED      (same as REACHED)

So Reached or Failed is returned exactly once, and every success after it comes back as Late,
letting the coordinator repair stragglers in the background. The round never does I/O itself:
the coordinator sends the requests, feeds the outcomes in, and carries out the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Generic, Literal, TypeVar

V = TypeVar("V")

Kind = Literal["read", "write"]
_VERB: dict[Kind, str] = {"read": "answered", "write": "acknowledged"}


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do yet (or, after a decision, nothing to do at all)."""


@dataclass(frozen=True, slots=True)
class Reached(Generic[V]):
    """The quorum is reached: the first `required` successes, by replica index."""

    answers: dict[int, V]


@dataclass(frozen=True, slots=True)
class Failed:
    """The quorum cannot be reached; `error` is the reply for the client."""

    error: str


@dataclass(frozen=True, slots=True)
class Late(Generic[V]):
    """A success that arrived after the round was decided."""

    replica: int
    value: V


Decision = Wait | Reached[V] | Failed | Late[V]


_WAIT = Wait()


class _Singletons(Enum):
    """Enum members are singletons, so identity hashing (in C) serves; Enum's own __hash__ is
    a Python call, paid on every lookup in the transition table."""

    __hash__ = object.__hash__


class Phase(_Singletons):
    COLLECTING = "collecting"
    REACHED = "reached"
    FAILED = "failed"


class _Event(_Singletons):
    SUCCESS = "success"
    QUORUM_SUCCESS = "quorum success"
    FAILURE = "failure"
    FATAL_FAILURE = "fatal failure"
    TIMEOUT = "timeout"


class _Do(_Singletons):
    WAIT = "wait"
    REACH = "reach"
    FAIL = "fail"
    LATE = "late"


_AFTER_DECISION = {
    _Event.SUCCESS: _Do.LATE,
    _Event.FAILURE: _Do.WAIT,
    _Event.TIMEOUT: _Do.WAIT,
}

_TRANSITIONS: dict[tuple[Phase, _Event], tuple[Phase, _Do]] = {
    (Phase.COLLECTING, _Event.SUCCESS): (Phase.COLLECTING, _Do.WAIT),
    (Phase.COLLECTING, _Event.QUORUM_SUCCESS): (Phase.REACHED, _Do.REACH),
    (Phase.COLLECTING, _Event.FAILURE): (Phase.COLLECTING, _Do.WAIT),
    (Phase.COLLECTING, _Event.FATAL_FAILURE): (Phase.FAILED, _Do.FAIL),
    (Phase.COLLECTING, _Event.TIMEOUT): (Phase.FAILED, _Do.FAIL),
    **{(Phase.REACHED, event): (Phase.REACHED, do) for event, do in _AFTER_DECISION.items()},
    **{(Phase.FAILED, event): (Phase.FAILED, do) for event, do in _AFTER_DECISION.items()},
}


@dataclass(frozen=True, slots=True)
class Group:
    """Replicas of which `required` must succeed, whatever the others do: during a ring move
    a write needs W of the old owners and W of the new ones (placement.py)."""

    name: str
    replicas: frozenset[int]
    required: int


class QuorumRound(Generic[V]):
    """Collects the outcomes of one request sent to `replicas` replicas (indexed 0..replicas-1)
    until `required` of them succeed or too many fail; with `groups`, until every group has
    its own required successes, or one cannot have them any more."""

    def __init__(
        self, kind: Kind, replicas: int, required: int, groups: tuple[Group, ...] = ()
    ) -> None:
        if kind not in _VERB:
            raise ValueError(f"kind must be 'read' or 'write', got {kind!r}")
        if not 1 <= required <= replicas:
            raise ValueError(f"need 1 <= required <= replicas, got {required} of {replicas}")
        for group in groups:
            if not 1 <= group.required <= len(group.replicas):
                raise ValueError(f"group {group.name} needs more replicas than it has")
        self.kind = kind
        self.replicas = replicas
        self.required = required
        self.groups = groups
        self.phase = Phase.COLLECTING
        self._answers: dict[int, V] = {}
        self._failures: list[str] = []
        self._failed: set[int] = set()
        self._heard: set[int] = set()

    def on_success(self, replica: int, value: V) -> Decision[V]:
        """Replica `replica` answered with `value`."""
        self._hear(replica)
        event = _Event.SUCCESS
        if self.phase is Phase.COLLECTING:
            self._answers[replica] = value
            if len(self._answers) == self.required if not self.groups else self._groups_reached():
                event = _Event.QUORUM_SUCCESS
        do = self._advance(event)
        return Late(replica, value) if do is _Do.LATE else self._decision(do)

    def on_failure(self, replica: int, reason: str) -> Decision[V]:
        """Replica `replica` failed; `reason` goes into the error text, e.g.
        "127.0.0.1:7002: connection refused"."""
        self._hear(replica)
        event = _Event.FAILURE
        if self.phase is Phase.COLLECTING:
            self._failures.append(reason)
            self._failed.add(replica)
            if self._hopeless():
                event = _Event.FATAL_FAILURE
        return self._decision(self._advance(event))

    def _groups_reached(self) -> bool:
        answered = self._answers.keys()
        return all(len(group.replicas & answered) >= group.required for group in self.groups)

    def _hopeless(self) -> bool:
        if not self.groups:
            return len(self._failures) > self.replicas - self.required
        return any(len(group.replicas - self._failed) < group.required for group in self.groups)

    def on_timeout(self) -> Decision[V]:
        """The round's deadline passed."""
        return self._decision(self._advance(_Event.TIMEOUT))

    def _hear(self, replica: int) -> None:
        if not 0 <= replica < self.replicas:
            raise ValueError(f"replica index {replica} out of range 0..{self.replicas - 1}")
        if replica in self._heard:
            raise ValueError(f"replica {replica} already answered this round")
        self._heard.add(replica)

    def _advance(self, event: _Event) -> _Do:
        self.phase, do = _TRANSITIONS[self.phase, event]
        return do

    def _decision(self, do: _Do) -> Decision[V]:
        if do is _Do.REACH:
            answers, self._answers = self._answers, {}  # handed over, not kept for stragglers
            return Reached(answers)
        if do is _Do.FAIL:
            return Failed(self._error())
        return _WAIT

    def _error(self) -> str:
        if self.groups:
            counts = " and ".join(
                f"{len(group.replicas & self._answers.keys())} of {group.required} required "
                f"{group.name}"
                for group in self.groups
            )
            error = (
                f"NOQUORUM {self.kind} quorum not reached while keys move between rings: "
                f"{counts} {_VERB[self.kind]} ({self.replicas} replicas)"
            )
        else:
            error = (
                f"NOQUORUM {self.kind} quorum not reached: {len(self._answers)} of "
                f"{self.required} required replicas {_VERB[self.kind]} ({self.replicas} replicas)"
            )
        if self._failures:
            error += "; " + ", ".join(self._failures)
        return error
