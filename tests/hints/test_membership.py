"""The emptied-replica rule: who counts toward reads, and which marks each replica learns."""

from __future__ import annotations

from leaderless.replication.membership import Health, judge, missing_names

A, B, C = b"a:1", b"b:1", b"c:1"


def test_a_replica_that_holds_its_own_mark_is_in_sync() -> None:
    assert judge(B, {A, B, C}, [{A, B, C}, {A, B, C}]) is Health.IN_SYNC


def test_a_replica_others_know_but_that_does_not_know_itself_lost_its_data() -> None:
    assert judge(B, set(), [{A, B, C}, {A, C}]) is Health.RECOVERING
    assert judge(B, set(), [set(), {B}]) is Health.RECOVERING


def test_a_replica_nobody_knows_is_new_and_counts_at_once() -> None:
    assert judge(A, set(), [set(), set()]) is Health.IN_SYNC  # an entirely new cluster
    assert judge(C, set(), [{A, B}, {A, B}]) is Health.IN_SYNC  # a new replica
    assert judge(A, set(), []) is Health.IN_SYNC  # alone: nobody to say otherwise


def test_every_replica_learns_every_mark_but_a_lost_one_on_itself() -> None:
    healths = [Health.IN_SYNC, Health.RECOVERING, Health.IN_SYNC]
    missing = missing_names([{A, B}, set(), set()], healths, [A, B, C])
    assert missing == [{C}, {A, C}, {A, B, C}]


def test_a_replica_being_checked_is_not_marked_by_the_others() -> None:
    healths = [Health.IN_SYNC, Health.CHECKING]
    assert missing_names([{A, B}, set()], healths, [A, B]) == [set(), {A}]
