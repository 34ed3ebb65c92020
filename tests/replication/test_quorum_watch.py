"""Quorum lost and regained: each logged once, however many rounds fail in between."""

from __future__ import annotations

import logging

import pytest
from leaderless.replication.backend import ReplicaUnavailable
from leaderless.replication.rounds import QuorumWatch, ReplicationStats, Round

NAMES = ("r0", "r1", "r2")


def _round(watch: QuorumWatch, kind: str, outcomes: list[object]) -> object:
    """One round over three replicas, W or R = 2; True answers, False fails."""
    got: list[object] = []
    round_ = Round(
        NAMES, False, ReplicationStats(), watch, kind, 2, lambda r: r, got.append, None, None
    )  # type: ignore[arg-type]
    for replica, ok in enumerate(outcomes):
        round_.answered(replica, "OK" if ok else ReplicaUnavailable(f"{NAMES[replica]}: down"))
    return got[0]


def _events(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, object]]]:
    return [
        (record.__dict__["event"], record.__dict__)
        for record in caplog.records
        if "event" in record.__dict__
    ]


def test_lost_once_then_regained_once_with_the_failed_rounds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "leaderless.replication.rounds")
    watch = QuorumWatch()
    _round(watch, "write", [True, True, True])
    assert _events(caplog) == []
    for _ in range(3):
        assert isinstance(_round(watch, "write", [True, False, False]), Exception)
    _round(watch, "write", [True, True, False])
    _round(watch, "write", [True, True, True])
    events = _events(caplog)
    assert [name for name, _ in events] == ["quorum_lost", "quorum_regained"]
    lost, regained = events[0][1], events[1][1]
    assert lost["kind"] == "write" and "NOQUORUM" in str(lost["error"])
    assert lost["levelname"] == "WARNING"
    assert regained["kind"] == "write" and regained["failed_rounds"] == 3
    assert not watch.lost


def test_reads_and_writes_are_watched_apart(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "leaderless.replication.rounds")
    watch = QuorumWatch()
    _round(watch, "read", [False, False, True])
    _round(watch, "write", [False, False, True])
    _round(watch, "read", [True, True, True])
    assert watch.lost  # writes still fail
    _round(watch, "write", [True, True, True])
    assert not watch.lost
    assert [(name, fields["kind"]) for name, fields in _events(caplog)] == [
        ("quorum_lost", "read"),
        ("quorum_lost", "write"),
        ("quorum_regained", "read"),
        ("quorum_regained", "write"),
    ]
