"""The pure state of a scan for the keys of some ranges: the bitmap, the cursor, and each key
found once however often the replica returns it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import RANGES
from leaderless.replication.range_scan import SCAN_COUNT, RangeScan, range_bitmap
from leaderless.replication.record import HEADER_LEN, Record, encode_record


def header(range_id: int, ts_ms: int = 1000) -> bytes:
    return encode_record(Record(Timestamp(ts_ms, 0, 1), False, 0, b"v"), range_id)[:HEADER_LEN]


@given(st.sets(st.integers(0, RANGES - 1)))
def test_the_bitmap_has_a_bit_per_range_high_bit_first(ranges: set[int]) -> None:
    bitmap = range_bitmap(ranges)
    assert len(bitmap) == RANGES // 8
    assert {r for r in range(RANGES) if bitmap[r // 8] >> (7 - r % 8) & 1} == ranges


def test_the_first_request_starts_a_scan_at_cursor_zero() -> None:
    scan = RangeScan({3, 9})
    assert scan.request() == [b"0", b"%d" % SCAN_COUNT, range_bitmap({3, 9})]
    assert RangeScan({3}, count=10).request()[1] == b"10"
    assert not scan.done


def test_steps_follow_the_cursor_until_it_comes_back_to_zero() -> None:
    scan = RangeScan({1})
    assert scan.feed([b"17", b"5", b"a", header(1)]) == (5, {b"a": header(1)})
    assert scan.request()[0] == b"17" and not scan.done
    assert scan.feed([b"0", b"3"]) == (3, {})
    assert scan.done


def test_a_key_returned_again_is_found_once() -> None:
    scan = RangeScan({1, 2})
    first, again = header(1), header(1, ts_ms=2000)  # written again between the steps
    step = [b"5", b"2", b"a", first, b"b", header(2)]
    assert scan.feed(step)[1] == {b"a": first, b"b": header(2)}
    assert scan.feed([b"9", b"2", b"a", again, b"c", header(2)])[1] == {b"c": header(2)}
    assert scan.feed([b"0", b"1", b"b", header(2)])[1] == {}


def test_ranges_no_longer_wanted_are_dropped_even_if_the_replica_returns_them() -> None:
    scan = RangeScan({1, 2})
    scan.feed([b"5", b"1", b"a", header(1)])
    scan.want({2})
    assert scan.request()[2] == range_bitmap({2})
    assert scan.feed([b"0", b"2", b"b", header(1), b"c", header(2)])[1] == {b"c": header(2)}


@pytest.mark.parametrize(
    "reply",
    [
        None,
        b"0",
        [b"0"],
        [b"0", b"1", b"a"],
        [0, b"1"],
        [b"0", 1],
        [b"0", b"-1"],
        [b"0", b"1", b"a", None],
        [b"0", b"1", b"a", b"short"],
        [b"0", b"1", b"a", b"\x01" + header(1)[1:]],
    ],
)
def test_a_reply_that_is_no_scan_step_raises_value_error(reply: object) -> None:
    with pytest.raises(ValueError):
        RangeScan({1}).feed(reply)
