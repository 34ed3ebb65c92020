"""The keyspace iteration's cursor: its layout, the choice of replicas, and the promise that a
whole iteration returns every key held by W replicas whatever replicas fail on the way."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from leaderless.replication.scan_cursor import (
    REPLICA_CURSOR_LIMIT,
    START,
    CursorOverflow,
    ScanPosition,
    after_page,
    choose_replica,
    decode_cursor,
    needed_replicas,
)

ULLONG_MAX = 2**64 - 1


def test_the_start_is_cursor_zero() -> None:
    assert START.encode() == 0
    assert decode_cursor(0, 3) == START


def test_the_layout_is_replica_then_done_bits_then_the_replicas_cursor() -> None:
    assert ScanPosition(2, 0b101, 7).encode() == 7 << 20 | 0b101 << 4 | 2


@given(
    st.integers(0, 15),
    st.integers(0, 2**16 - 1),
    st.integers(0, REPLICA_CURSOR_LIMIT - 1),
)
def test_every_position_of_sixteen_replicas_survives_the_round_trip(
    replica: int, done: int, cursor: int
) -> None:
    position = ScanPosition(replica, done, cursor)
    encoded = position.encode()
    assert 0 <= encoded <= ULLONG_MAX
    assert decode_cursor(encoded, 16) == position


def test_a_replica_cursor_past_44_bits_does_not_fit() -> None:
    with pytest.raises(CursorOverflow):
        ScanPosition(0, 0, REPLICA_CURSOR_LIMIT).encode()


@given(st.integers(0, ULLONG_MAX))
def test_any_64_bit_cursor_decodes_to_a_position_of_the_replicas_there_are(cursor: int) -> None:
    position = decode_cursor(cursor, 3)
    assert position.done < 1 << 3
    chosen = choose_replica(position, [True, True, True])
    assert chosen is None or 0 <= chosen.replica < 3


def test_needed_replicas_cover_every_write_quorum() -> None:
    assert needed_replicas(3, 2, sloppy_quorum=False) == 2
    assert needed_replicas(5, 3, sloppy_quorum=False) == 3
    assert needed_replicas(3, 3, sloppy_quorum=False) == 1
    assert needed_replicas(3, 2, sloppy_quorum=True) == 3


def test_the_replica_being_scanned_goes_on_from_its_cursor() -> None:
    position = ScanPosition(1, 0b001, 42)
    assert choose_replica(position, [True, True, True]) == position


def test_a_replica_that_cannot_be_scanned_is_left_for_the_next_from_its_start() -> None:
    position = ScanPosition(1, 0b000, 42)
    assert choose_replica(position, [True, False, True]) == ScanPosition(2, 0, 0)
    assert choose_replica(position, [True, False, False]) == ScanPosition(0, 0, 0)


def test_replicas_done_are_not_chosen_again() -> None:
    position = ScanPosition(1, 0b001, 42)
    assert choose_replica(position, [True, False, True]) == ScanPosition(2, 0b001, 0)
    assert choose_replica(position, [True, False, False]) is None


def test_a_page_with_a_cursor_moves_the_cursor() -> None:
    assert after_page(ScanPosition(2, 0b001, 5), 9, 2, 3) == ScanPosition(2, 0b001, 9)


def test_a_replica_done_passes_to_the_next_until_enough_are_done() -> None:
    first = after_page(ScanPosition(2, 0, 5), 0, 2, 3)
    assert first == ScanPosition(0, 0b100, 0)
    assert first.encode() != 0
    assert after_page(ScanPosition(0, 0b100, 5), 0, 2, 3) is None


class Replica:
    """A replica's keys in a fixed order, scanned `page` keys at a time (cursor = offset)."""

    def __init__(self, keys: list[int], page: int) -> None:
        self.keys, self.page = keys, page

    def scan(self, cursor: int) -> tuple[int, list[int]]:
        end = cursor + self.page
        return (end if end < len(self.keys) else 0), self.keys[cursor:end]


@given(
    holders=st.lists(st.sets(st.integers(0, 2), min_size=2, max_size=3), max_size=40),
    page=st.integers(1, 7),
    failures=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 2)), max_size=4),
)
def test_a_whole_iteration_returns_every_key_held_by_w_replicas_despite_failures(
    holders: list[set[int]], page: int, failures: list[tuple[int, int]]
) -> None:
    """N = 3, W = 2: each key on at least two replicas. At step s, replica r goes down for good
    (at most one replica: W = 2 leaves two to scan)."""
    replicas = [
        Replica([key for key, held in enumerate(holders) if index in held], page)
        for index in range(3)
    ]
    down_at = {replica: step for step, replica in failures[:1]}
    needed = needed_replicas(3, 2, sloppy_quorum=False)
    returned: set[int] = set()
    position: ScanPosition | None = decode_cursor(0, 3)
    for step in range(1000):
        assert position is not None
        usable = [step < down_at.get(index, step + 1) for index in range(3)]
        chosen = choose_replica(position, usable)
        assert chosen is not None
        next_cursor, keys = replicas[chosen.replica].scan(chosen.cursor)
        returned.update(keys)
        position = after_page(chosen, next_cursor, needed, 3)
        if position is None:
            break
        position = decode_cursor(position.encode(), 3)
    assert position is None
    assert returned == set(range(len(holders)))
