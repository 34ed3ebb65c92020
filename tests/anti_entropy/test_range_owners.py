"""Which replicas a round compares for each range, and the segment parts it leases: without a
ring (every backend owns every range, one part per segment, the segment's own lease) and with
5 nodes and N=3."""

from __future__ import annotations

import pytest
from leaderless.replication.merkle import (
    RANGES,
    RANGES_PER_SEGMENT,
    SEGMENTS,
    segment_field,
    segment_of,
)
from leaderless.replication.placement import Placement
from leaderless.replication.range_owners import RangeOwners, SegmentPart, by_owners
from leaderless.replication.ring import Ring, RingNode


def five_nodes() -> RangeOwners:
    names = "abcde"
    placement = Placement(
        Ring([RingNode(n) for n in names]), 3, {n: i for i, n in enumerate(names)}
    )
    return RangeOwners.of(placement, 5)


def test_without_a_ring_a_part_is_a_segment_leased_by_its_own_name_on_a_majority() -> None:
    owners = RangeOwners.of(None, 3)
    parts = owners.parts_of(range(RANGES))
    assert len(parts) == SEGMENTS
    for segment, part in enumerate(parts):
        assert part == SegmentPart(
            segment, (0, 1, 2), tuple(range(segment * 256, segment * 256 + 256))
        )
        assert part.lease_field == segment_field(segment)
        assert part.majority == 2
    assert owners.owned == {i: tuple(range(RANGES)) for i in range(3)}
    assert owners.peers == {i: frozenset({0, 1, 2}) for i in range(3)}


def test_with_a_ring_the_parts_split_every_segment_by_its_ranges_owners() -> None:
    owners = five_nodes()
    parts = owners.parts_of(range(RANGES))
    assert sorted(r for part in parts for r in part.ranges) == list(range(RANGES))
    assert len(parts) > SEGMENTS  # some segment has ranges of two replica sets
    for part in parts:
        assert len(part.replicas) == 3
        assert part.majority == 2
        assert {owners.owners[r] for r in part.ranges} == {part.replicas}
        assert {segment_of(r) for r in part.ranges} == {part.segment}
        assert owners.part_of(part.ranges[-1]) is owners.part_of(part.ranges[0])
    assert len({part.lease_field for part in parts}) == len(parts)
    first = [part for part in parts if part.ranges[0] % RANGES_PER_SEGMENT == 0]
    assert all(part.lease_field == segment_field(part.segment) for part in first)
    other = next(part for part in parts if part.ranges[0] % RANGES_PER_SEGMENT)
    assert other.lease_field == b"s%d.%d" % (other.segment, other.ranges[0])


def test_each_backend_owns_its_share_and_shares_ranges_with_every_other() -> None:
    owners = five_nodes()
    assert sum(len(ranges) for ranges in owners.owned.values()) == 3 * RANGES
    for position, ranges in owners.owned.items():
        assert all(position in owners.owners[r] for r in ranges)
        assert 0.4 * RANGES < len(ranges) < 0.8 * RANGES
    assert owners.owned_among(0, [0, 1, 2, 3]) == [r for r in range(4) if 0 in owners.owners[r]]


def test_a_range_differs_only_among_the_owners_that_answered() -> None:
    owners = five_nodes()
    r = 0
    mine = owners.owners[r]
    stranger = next(p for p in range(5) if p not in mine)
    same = {p: {r: 7} for p in mine}
    assert owners.differing({**same, stranger: {r: 8}}, [r]) == []  # a stray copy's digest
    assert owners.differing({**same, mine[0]: {r: 8}}, [r]) == [r]
    assert owners.differing({**same, mine[0]: {}}, [r]) == [r]  # absent is 0, not 7
    assert owners.differing({mine[0]: {r: 0}, mine[1]: {}}, [r]) == []  # 0 is absent
    assert owners.differing({mine[0]: {r: 8}, stranger: {r: 9}}, [r]) == []  # one owner: alone


def test_a_backend_is_covered_once_every_backend_it_shares_ranges_with_was_up() -> None:
    owners = RangeOwners([(0, 1)] * (RANGES // 2) + [(2, 3)] * (RANGES // 2))
    assert owners.covered(range(4), []) == [0, 1, 2, 3]
    assert owners.covered([0, 1, 2], []) == [0, 1]  # 3 down: 2 may lack what only 3 has
    left = owners.parts_of([RANGES - 1])
    assert owners.covered(range(4), left) == [0, 1]  # a part of 2 and 3 left to another sidecar
    assert RangeOwners.everywhere(3).covered([0, 1], []) == []  # without a ring: all up, or none


def test_keys_are_grouped_by_the_owners_of_their_range() -> None:
    owners = RangeOwners([(0, 1)] * (RANGES // 2) + [(1, 2)] * (RANGES // 2))
    keys = {b"a": 0, b"b": RANGES - 1, b"c": 5}
    assert by_owners(keys, owners.owners) == {(0, 1): [b"a", b"c"], (1, 2): [b"b"]}


def test_owners_are_needed_for_every_range() -> None:
    with pytest.raises(ValueError, match="all 65536 ranges"):
        RangeOwners([(0,)] * 10)


def test_without_a_ring_the_replica_with_the_most_keys_is_scanned_first_then_the_next() -> None:
    owners = RangeOwners.everywhere(3)
    sizes = {0: 10, 1: 30, 2: 20}
    assert owners.sources([1, 2, 3], {}, {0, 1, 2}, sizes) == {1: [1, 2, 3]}
    assert owners.sources([2], {2: {1}}, {0, 1, 2}, sizes) == {2: [2]}
    assert owners.sources([2], {2: {1}}, {0, 1}, sizes) == {0: [2]}  # 2 is down
    assert owners.sources([2], {2: {0, 1, 2}}, {0, 1, 2}, sizes) == {}  # looked for everywhere


def test_with_a_ring_each_range_goes_to_one_owner_and_few_replicas_are_scanned() -> None:
    half = RANGES // 2
    owners = RangeOwners([(0, 1)] * (half - 1) + [(1, 2)] + [(2, 3)] * half)
    up = {0, 1, 2, 3}
    assert owners.sources([0, 1], {}, up, {}) == {0: [0, 1]}  # equals: the lowest position
    assert owners.sources([0, half - 1], {}, up, {}) == {1: [0, half - 1]}  # owns both
    assert owners.sources([0, half - 1, half], {}, up, {}) == {1: [0, half - 1], 2: [half]}
    assert owners.sources([0, RANGES - 1], {}, up, {1: 5, 3: 5}) == {1: [0], 3: [RANGES - 1]}
    assert owners.sources([0, RANGES - 1], {0: {1}}, up - {0}, {}) == {2: [RANGES - 1]}
    five = five_nodes()
    wanted = list(range(0, RANGES, 97))
    sources = five.sources(wanted, {}, range(5), {})
    assigned = [r for ranges in sources.values() for r in ranges]
    assert sorted(assigned) == wanted  # each range once
    assert all(p in five.owners[r] for p, ranges in sources.items() for r in ranges)
    assert len(sources) <= 3
