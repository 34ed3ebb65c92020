from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from leaderless.replication.hlc import (
    MAX_LOGICAL,
    MAX_NODE,
    MAX_PHYSICAL_MS,
    HybridClock,
    Timestamp,
)

from tests.replication.strategies import timestamps


class Wall:
    """A wall clock the test sets by hand."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_pack_layout_is_big_endian_in_comparison_order() -> None:
    ts = Timestamp(0x010203040506, 0x0708, 0x090A)
    assert ts.pack() == bytes(range(1, 11))
    assert Timestamp.unpack(ts.pack()) == ts


@given(timestamps)
def test_pack_round_trips(ts: Timestamp) -> None:
    assert Timestamp.unpack(ts.pack()) == ts


@given(timestamps, timestamps)
def test_packed_bytes_order_like_timestamps(a: Timestamp, b: Timestamp) -> None:
    assert (a < b) == (a.pack() < b.pack())


def test_order_is_physical_then_logical_then_node() -> None:
    assert Timestamp(1, 9, 9) < Timestamp(2, 0, 0)
    assert Timestamp(1, 1, 9) < Timestamp(1, 2, 0)
    assert Timestamp(1, 1, 1) < Timestamp(1, 1, 2)


@pytest.mark.parametrize(
    "fields",
    [(-1, 0, 0), (MAX_PHYSICAL_MS + 1, 0, 0), (0, MAX_LOGICAL + 1, 0), (0, 0, MAX_NODE + 1)],
)
def test_out_of_range_fields_are_rejected(fields: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        Timestamp(*fields)


@pytest.mark.parametrize("length", [0, 9, 11])
def test_unpack_rejects_wrong_length(length: int) -> None:
    with pytest.raises(ValueError):
        Timestamp.unpack(bytes(length))


def test_now_follows_the_wall_clock_and_stamps_the_node() -> None:
    wall = Wall(1000)
    clock = HybridClock(7, wall)
    assert clock.now() == Timestamp(1000, 0, 7)
    wall.ms = 1005
    assert clock.now() == Timestamp(1005, 0, 7)


def test_now_counts_logically_when_the_wall_clock_stands_still_or_goes_back() -> None:
    wall = Wall(1000)
    clock = HybridClock(1, wall)
    clock.now()
    assert clock.now() == Timestamp(1000, 1, 1)
    wall.ms = 400
    assert clock.now() == Timestamp(1000, 2, 1)
    wall.ms = 1001
    assert clock.now() == Timestamp(1001, 0, 1)


def test_logical_overflow_carries_into_physical() -> None:
    clock = HybridClock(1, Wall(50))
    assert clock.observe(Timestamp(50, MAX_LOGICAL - 1, 0))
    assert clock.now() == Timestamp(50, MAX_LOGICAL, 1)
    assert clock.now() == Timestamp(51, 0, 1)
    assert clock.now() == Timestamp(51, 1, 1)


def test_observe_moves_the_next_timestamp_past_the_observed_one() -> None:
    wall = Wall(1000)
    clock = HybridClock(1, wall)
    seen = Timestamp(1400, 3, 9)
    assert clock.observe(seen)
    assert clock.now() == Timestamp(1400, 4, 1)
    assert clock.refused_observations == 0


def test_observe_beats_an_equal_time_from_a_higher_node() -> None:
    clock = HybridClock(1, Wall(1000))
    seen = Timestamp(1000, 0, MAX_NODE)
    assert clock.observe(seen)
    assert clock.now() > seen


def test_observing_an_older_timestamp_is_accepted_and_changes_nothing() -> None:
    clock = HybridClock(1, Wall(1000))
    clock.now()
    assert clock.observe(Timestamp(10, 0, 0))
    assert clock.now() == Timestamp(1000, 1, 1)


def test_far_future_timestamp_is_refused_and_counted() -> None:
    wall = Wall(1000)
    clock = HybridClock(1, wall, max_offset_ms=500)
    assert clock.observe(Timestamp(1500, 0, 2))
    assert not clock.observe(Timestamp(1501 + 100, 0, 2))
    assert clock.refused_observations == 1
    assert clock.now() == Timestamp(1500, 1, 1)


def test_refusal_is_judged_against_the_current_wall_clock() -> None:
    wall = Wall(1000)
    clock = HybridClock(1, wall, max_offset_ms=0)
    future = Timestamp(2000, 0, 2)
    assert not clock.observe(future)
    wall.ms = 2000
    assert clock.observe(future)
    assert clock.now() > future


@pytest.mark.parametrize(("node", "offset"), [(-1, 0), (MAX_NODE + 1, 0), (0, -1)])
def test_bad_configuration_is_rejected(node: int, offset: int) -> None:
    with pytest.raises(ValueError):
        HybridClock(node, Wall(0), offset)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("now"), st.integers(0, 10_000)),
        st.tuples(st.just("observe"), st.integers(0, 10_000), timestamps),
    ),
    max_size=60,
)


@given(st.integers(0, MAX_NODE), st.integers(0, 1000), steps)
def test_clock_never_goes_back_and_never_exceeds_the_offset(
    node: int, max_offset: int, script: list[tuple[str, int] | tuple[str, int, Timestamp]]
) -> None:
    """Under any wall readings and observations, each now() exceeds every earlier now() and
    every accepted observation, and no refused observation ever shows up in the clock."""
    wall = Wall(0)
    clock = HybridClock(node, wall, max_offset)
    floor: Timestamp | None = None
    highest_wall = 0
    for step in script:
        wall.ms = step[1]
        highest_wall = max(highest_wall, wall.ms)
        if len(step) == 3:
            ts = step[2]
            accepted = clock.observe(ts)
            assert accepted == (ts.physical_ms <= wall.ms + max_offset)
            if accepted and (floor is None or ts > floor):
                floor = ts
            continue
        now = clock.now()
        assert now.node == node
        assert floor is None or now > floor
        floor = now
        # Ahead of the wall only through accepted observations (or a logical carry).
        assert now.physical_ms <= highest_wall + max_offset + 1
