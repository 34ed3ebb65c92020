"""The decisions of a membership change: the state a move works from, the scans that find every
acknowledged key, the copies to new owners, the ranges a node drops, and the pending drop."""

from __future__ import annotations

import pytest
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import RANGES
from leaderless.replication.move_plan import (
    MoveIncomplete,
    MoveProgress,
    MoveRefused,
    PendingDrop,
    copies,
    drop_ranges,
    next_state,
    same_members,
    stable,
    stream_plan,
)
from leaderless.replication.placement import Moving
from leaderless.replication.reconcile import KeyRepair
from leaderless.replication.record import Record, encode_record
from leaderless.replication.ring_state import RingMember, RingState

THREE = tuple(RingMember(f"h:{i}") for i in range(3))
FIVE = tuple(RingMember(f"h:{i}") for i in range(5))
POSITIONS = {f"h:{i}": i for i in range(5)}
NOW = 1_700_000_000_000


def moving(old: tuple[RingMember, ...], new: tuple[RingMember, ...]) -> Moving:
    placement = RingState(1, 3, 32, new, previous=old).placement(POSITIONS)
    assert isinstance(placement, Moving)
    return placement


def header(ts_ms: int, *, tombstone: bool = False) -> bytes:
    ts = Timestamp(ts_ms, 0, 1)
    record = Record.deletion(ts) if tombstone else Record(ts, False, 0, b"v")
    return encode_record(record, 0)[:20]


def test_a_move_over_the_stored_ring_is_at_the_next_epoch() -> None:
    stored = RingState(4, 3, 32, THREE)
    state = next_state(stored, None, None, FIVE, 3, 32)
    assert state == RingState(5, 3, 32, FIVE, previous=THREE)
    assert stable(state) == RingState(6, 3, 32, FIVE)


def test_with_no_stored_ring_the_current_nodes_must_be_named() -> None:
    with pytest.raises(MoveRefused, match="--from-config"):
        next_state(None, None, None, FIVE, 3, 32)
    assert next_state(None, None, THREE, FIVE, 3, 32) == RingState(1, 3, 32, FIVE, previous=THREE)


def test_the_stored_move_to_the_same_members_is_resumed_in_any_order() -> None:
    stored = RingState(5, 3, 32, FIVE, previous=THREE)
    assert next_state(stored, None, None, tuple(reversed(FIVE)), 3, 32) is stored
    assert same_members(FIVE, tuple(reversed(FIVE)))


def test_a_move_to_other_members_while_one_is_in_progress_is_refused() -> None:
    stored = RingState(5, 3, 32, FIVE, previous=THREE)
    with pytest.raises(MoveRefused, match="in progress"):
        next_state(stored, None, None, FIVE[:4], 3, 32)


def test_a_ring_with_these_members_already_is_returned_stable() -> None:
    stored = RingState(6, 3, 32, FIVE)
    assert next_state(stored, None, None, FIVE, 3, 32) is stored
    assert next_state(stored, PendingDrop(6, ("h:9",)), None, FIVE, 3, 32) is stored


def test_a_new_move_waits_for_the_last_one_s_drop() -> None:
    stored = RingState(6, 3, 32, FIVE)
    with pytest.raises(MoveRefused, match="still drops records from h:9"):
        next_state(stored, PendingDrop(6, ("h:9",)), None, THREE, 3, 32)


@pytest.mark.parametrize(
    ("target", "n", "vnodes", "message"),
    [
        (FIVE, 2, 32, "a move changes the members only"),
        (FIVE, 3, 64, "a move changes the members only"),
        (FIVE[:2], 3, 32, "needs at least n = 3"),
        ((*FIVE, FIVE[0]), 3, 32, "names a node twice"),
    ],
)
def test_unusable_targets_are_refused(
    target: tuple[RingMember, ...], n: int, vnodes: int, message: str
) -> None:
    with pytest.raises(MoveRefused, match=message):
        next_state(RingState(1, 3, 32, THREE), None, None, target, n, vnodes)


def test_every_changed_range_is_scanned_on_n_minus_w_plus_1_old_owners() -> None:
    move = moving(THREE, FIVE)
    plan = stream_plan(move, set(range(5)), 2, [m.endpoint for m in FIVE])
    assert plan.changed == tuple(move.changed_ranges())
    assert 0 < len(plan.changed) < RANGES
    counts = plan.scans_of()
    assert set(counts) == set(plan.changed)
    assert set(counts.values()) == {2}
    for position, ranges in plan.scans.items():
        assert all(position in move.old.owners[r] for r in ranges)


def test_old_owners_that_keep_no_copy_are_scanned_first() -> None:
    move = moving(THREE, FIVE)
    plan = stream_plan(move, set(range(5)), 3, [m.endpoint for m in FIVE])
    for position, ranges in plan.scans.items():
        for range_id in ranges:
            assert position not in move.new.owners[range_id]


def test_too_few_owners_up_names_the_nodes_down() -> None:
    move = moving(THREE, FIVE)
    names = [m.endpoint for m in FIVE]
    with pytest.raises(MoveIncomplete, match="down: h:0, h:1"):
        stream_plan(move, {2, 3, 4}, 2, names)
    assert stream_plan(move, {0, 1, 2, 3}, 1, names).scans  # W = 1: one of each is enough


def test_copies_go_to_the_new_owners_lacking_the_newest_version() -> None:
    old, new = header(10), header(20)
    held = [(0, new), (1, old), (3, None), (4, new)]
    assert copies(b"k", held, {1, 3, 4}, now_ms=NOW, purge_cutoff_ms=0) == [
        KeyRepair(b"k", 0, (1, 3))
    ]
    assert copies(b"k", [(0, new), (3, new)], {3}, now_ms=NOW, purge_cutoff_ms=0) == []


def test_a_tombstone_past_its_grace_is_not_copied_where_there_is_nothing() -> None:
    gone = header(10, tombstone=True)
    assert copies(b"k", [(0, gone), (3, None)], {3}, now_ms=NOW, purge_cutoff_ms=20) == []
    kept = copies(b"k", [(0, gone), (3, None)], {3}, now_ms=NOW, purge_cutoff_ms=5)
    assert kept == [KeyRepair(b"k", 0, (3,))]


def test_a_node_drops_exactly_the_ranges_it_does_not_own() -> None:
    move = moving(FIVE, FIVE[:4])
    assert len(drop_ranges(move.new, 4)) == RANGES
    kept = set(range(RANGES)) - set(drop_ranges(move.new, 0))
    assert kept == {r for r in range(RANGES) if 0 in move.new.owners[r]}


def test_a_pending_drop_decodes_to_itself_and_junk_to_none() -> None:
    pending = PendingDrop(6, ("h:4",))
    assert PendingDrop.decode(pending.encode()) == pending
    assert PendingDrop.decode(b"{") is None
    assert PendingDrop.decode(None) is None


def test_the_progress_line_says_keys_ranges_and_rate() -> None:
    line = MoveProgress("stream", 5, 200, 400, 3, 10, "ranges", 2.0, 1, 2).line()
    assert line == (
        "ring move (epoch 5) stream: 200 keys, 400 copies written, 3/10 ranges done "
        "(1/2 node scans), 2.0 s, 100 keys/s"
    )
    assert MoveProgress("drop", 6, 9, 9, 1, 4, "nodes", 0.0).line() == (
        "ring move (epoch 6) drop: 9 keys, 9 records dropped, 1/4 nodes done, 0.0 s"
    )
