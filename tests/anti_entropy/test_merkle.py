"""The pure Merkle tree: ranges, leaves, digests from scratch, and root-down comparison."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from leaderless.replication.merkle import (
    MODULUS,
    RANGES,
    SEGMENTS,
    counted,
    differing,
    leaf,
    parse_digest,
    range_of,
    recompute,
    segment_of,
    segment_ranges,
)
from leaderless.replication.record import encode_record

from tests.anti_entropy.support import deletion, value


@given(st.binary(max_size=64))
def test_every_key_falls_in_one_range_of_its_segment(key: bytes) -> None:
    range_id = range_of(key)
    assert 0 <= range_id < RANGES
    assert range_id in segment_ranges(segment_of(range_id))
    assert 0 <= segment_of(range_id) < SEGMENTS


def test_a_leaf_names_one_version_of_one_key() -> None:
    old, new = encode_record(value(1000, b"a"), 0), encode_record(value(1001, b"a"), 0)
    assert leaf(b"k", old) != leaf(b"k", new)
    assert leaf(b"k", old) != leaf(b"j", old)
    assert leaf(b"k", old) != leaf(b"k", encode_record(deletion(1000), 0))
    assert 0 <= leaf(b"k", old) < MODULUS


def test_records_expired_at_the_watermark_are_not_counted() -> None:
    assert counted(encode_record(value(1, b"v"), 0), 10**12)
    assert counted(encode_record(value(1, b"v", expires_at_ms=501), 0), 500)
    assert not counted(encode_record(value(1, b"v", expires_at_ms=500), 0), 500)


@given(st.dictionaries(st.binary(max_size=8), st.integers(1, 2**40), max_size=30))
def test_segment_digests_sum_their_ranges_and_order_does_not_matter(
    versions: dict[bytes, int],
) -> None:
    items = [(key, encode_record(value(ts, b"x"), 0)) for key, ts in versions.items()]
    digests = recompute(items, 0)
    assert digests == recompute(reversed(items), 0)
    for segment, digest in digests.segments.items():
        ranges = segment_ranges(segment)
        assert digest == sum(d for r, d in digests.ranges.items() if r in ranges) % MODULUS
    assert digests.root == sum(leaf(key, record) for key, record in items) % MODULUS


def test_differing_compares_every_replica_with_absent_as_zero() -> None:
    a, b, c = {1: 5, 2: 7}, {1: 5, 2: 7, 3: 0}, {1: 5, 2: 8}
    assert differing([a, b], range(5)) == []
    assert differing([a, b, c], range(5)) == [2]
    assert differing([a, {3: 1}], [1, 3]) == [1, 3]


def test_parse_digest_reads_hmget_replies() -> None:
    assert parse_digest(b"123") == 123
    assert parse_digest(None) == 0
