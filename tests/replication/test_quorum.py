from __future__ import annotations

import itertools
from typing import Literal

import pytest
from leaderless.replication.quorum import (
    _TRANSITIONS,
    Decision,
    Failed,
    Group,
    Late,
    Phase,
    QuorumRound,
    Reached,
    Wait,
    _Event,
)


def test_write_reaches_quorum_at_w_acks_exactly_once() -> None:
    round_: QuorumRound[str] = QuorumRound("write", replicas=3, required=2)
    assert round_.on_success(2, "ack2") == Wait()
    assert round_.on_success(0, "ack0") == Reached({2: "ack2", 0: "ack0"})
    assert round_.phase is Phase.REACHED
    assert round_.on_success(1, "ack1") == Late(1, "ack1")


def test_failures_below_the_limit_wait() -> None:
    round_: QuorumRound[str] = QuorumRound("read", replicas=3, required=2)
    assert round_.on_failure(0, "a: connection refused") == Wait()
    assert round_.on_success(1, "x") == Wait()
    assert round_.on_success(2, "y") == Reached({1: "x", 2: "y"})


def test_write_fails_once_too_few_replicas_remain() -> None:
    round_: QuorumRound[str] = QuorumRound("write", replicas=3, required=2)
    assert round_.on_success(0, "ok") == Wait()
    assert round_.on_failure(1, "127.0.0.1:7001: connection refused") == Wait()
    assert round_.on_failure(2, "127.0.0.1:7002: connection refused") == Failed(
        "NOQUORUM write quorum not reached: 1 of 2 required replicas acknowledged (3 replicas)"
        "; 127.0.0.1:7001: connection refused, 127.0.0.1:7002: connection refused"
    )
    assert round_.phase is Phase.FAILED


def test_read_fails_on_timeout_with_the_reasons_so_far() -> None:
    round_: QuorumRound[str] = QuorumRound("read", replicas=3, required=2)
    round_.on_success(0, "x")
    round_.on_failure(1, "127.0.0.1:7002: connection refused")
    assert round_.on_timeout() == Failed(
        "NOQUORUM read quorum not reached: 1 of 2 required replicas answered (3 replicas)"
        "; 127.0.0.1:7002: connection refused"
    )


def test_timeout_without_failure_reasons_has_no_suffix() -> None:
    round_: QuorumRound[str] = QuorumRound("write", replicas=3, required=2)
    round_.on_success(0, "ok")
    assert round_.on_timeout() == Failed(
        "NOQUORUM write quorum not reached: 1 of 2 required replicas acknowledged (3 replicas)"
    )


def test_quorum_of_all_fails_on_the_first_failure() -> None:
    round_: QuorumRound[str] = QuorumRound("write", replicas=3, required=3)
    assert isinstance(round_.on_failure(1, "b: timeout"), Failed)


def test_quorum_of_one_is_reached_by_the_first_success() -> None:
    round_: QuorumRound[str] = QuorumRound("read", replicas=3, required=1)
    assert round_.on_failure(0, "a: down") == Wait()
    assert round_.on_success(2, "x") == Reached({2: "x"})


def test_after_failure_successes_are_late_and_failures_and_timeouts_are_ignored() -> None:
    round_: QuorumRound[str] = QuorumRound("write", replicas=3, required=2)
    round_.on_timeout()
    assert round_.on_success(0, "ok") == Late(0, "ok")
    assert round_.on_failure(1, "b: down") == Wait()
    assert round_.on_timeout() == Wait()
    assert round_.phase is Phase.FAILED


def test_after_reaching_failures_and_timeouts_are_ignored() -> None:
    round_: QuorumRound[str] = QuorumRound("write", replicas=3, required=1)
    round_.on_success(0, "ok")
    assert round_.on_failure(1, "b: down") == Wait()
    assert round_.on_timeout() == Wait()
    assert round_.on_success(2, "ok") == Late(2, "ok")


def test_reached_answers_are_a_snapshot() -> None:
    round_: QuorumRound[str] = QuorumRound("read", replicas=2, required=1)
    decision = round_.on_success(0, "x")
    assert isinstance(decision, Reached)
    round_.on_success(1, "y")
    assert decision.answers == {0: "x"}


def test_a_replica_answers_once() -> None:
    round_: QuorumRound[str] = QuorumRound("read", replicas=3, required=2)
    round_.on_success(0, "x")
    with pytest.raises(ValueError, match="already answered"):
        round_.on_failure(0, "again")


@pytest.mark.parametrize("replica", [-1, 3])
def test_replica_index_out_of_range(replica: int) -> None:
    round_: QuorumRound[str] = QuorumRound("read", replicas=3, required=2)
    with pytest.raises(ValueError, match="out of range"):
        round_.on_success(replica, "x")


@pytest.mark.parametrize(("replicas", "required"), [(3, 0), (3, 4), (0, 0)])
def test_impossible_quorums_are_rejected(replicas: int, required: int) -> None:
    with pytest.raises(ValueError):
        QuorumRound("read", replicas, required)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError):
        QuorumRound("scan", 3, 2)  # type: ignore[arg-type]


def test_transition_table_covers_every_reachable_pair() -> None:
    decided_events = {_Event.SUCCESS, _Event.FAILURE, _Event.TIMEOUT}
    expected = {(Phase.COLLECTING, event) for event in _Event} | {
        (phase, event) for phase in (Phase.REACHED, Phase.FAILED) for event in decided_events
    }
    assert set(_TRANSITIONS) == expected
    for (phase, _), (next_phase, _) in _TRANSITIONS.items():
        if phase is not Phase.COLLECTING:
            assert next_phase is phase


Outcome = tuple[Literal["ok", "fail"], int]


def _all_schedules(replicas: int) -> list[list[Outcome]]:
    """Every order of answers, each replica succeeding or failing, possibly never answering."""
    schedules: list[list[Outcome]] = []
    for kinds in itertools.product(("ok", "fail", "silent"), repeat=replicas):
        events: list[Outcome] = [
            ("ok" if kind == "ok" else "fail", i)
            for i, kind in enumerate(kinds)
            if kind != "silent"
        ]
        schedules.extend(list(order) for order in itertools.permutations(events))
    return schedules


@pytest.mark.parametrize(
    ("replicas", "required"), [(n, k) for n in range(1, 5) for k in range(1, n + 1)]
)
@pytest.mark.parametrize("kind", ["read", "write"])
def test_exhaustively(replicas: int, required: int, kind: Literal["read", "write"]) -> None:
    """For every schedule: one decision at most, at exactly the right moment, then a timeout
    decides an undecided round; every success after the decision comes back as Late."""
    for schedule in _all_schedules(replicas):
        round_: QuorumRound[int] = QuorumRound(kind, replicas, required)
        decisions: list[Decision[int]] = []
        oks = fails = 0
        for outcome, i in schedule:
            decided_before = round_.phase is not Phase.COLLECTING
            if outcome == "ok":
                decision = round_.on_success(i, i * 10)
                oks += not decided_before
            else:
                decision = round_.on_failure(i, f"r{i}: down")
                fails += not decided_before
            decisions.append(decision)
            if decided_before:
                expected = Late(i, i * 10) if outcome == "ok" else Wait()
                assert decision == expected
            elif oks == required:
                assert isinstance(decision, Reached)
                assert len(decision.answers) == required
                assert all(value == replica * 10 for replica, value in decision.answers.items())
            elif fails > replicas - required:
                assert isinstance(decision, Failed)
                assert decision.error.startswith(f"NOQUORUM {kind} quorum not reached: {oks} of")
                assert decision.error.count("down") == fails
            else:
                assert decision == Wait()
        final = round_.on_timeout()
        if round_.phase is Phase.FAILED and not any(isinstance(d, Failed) for d in decisions):
            assert isinstance(final, Failed)
        else:
            assert final == Wait()
        verdicts = [d for d in [*decisions, final] if isinstance(d, Reached | Failed)]
        assert len(verdicts) == 1


def test_a_grouped_round_needs_each_group_s_quorum() -> None:
    old, new = (
        Group("old owners", frozenset({0, 1, 2}), 2),
        Group("new owners", frozenset({2, 3}), 2),
    )
    round_: QuorumRound[str] = QuorumRound("write", 4, 2, (old, new))
    assert isinstance(round_.on_success(0, "a"), Wait)
    assert isinstance(round_.on_success(1, "b"), Wait)  # two old owners, no new one yet
    assert isinstance(round_.on_success(2, "c"), Wait)
    reached = round_.on_success(3, "d")
    assert isinstance(reached, Reached) and set(reached.answers) == {0, 1, 2, 3}


def test_a_grouped_round_fails_once_one_group_cannot_reach_its_quorum() -> None:
    old, new = (
        Group("old owners", frozenset({0, 1, 2}), 2),
        Group("new owners", frozenset({2, 3}), 2),
    )
    round_: QuorumRound[str] = QuorumRound("write", 4, 2, (old, new))
    assert isinstance(round_.on_success(0, "a"), Wait)
    failed = round_.on_failure(3, "h:4: connection refused")
    assert isinstance(failed, Failed)
    assert failed.error == (
        "NOQUORUM write quorum not reached while keys move between rings: 1 of 2 required old "
        "owners and 0 of 2 required new owners acknowledged (4 replicas); h:4: connection refused"
    )
