"""The placement: the ring's preference lists as backend positions, per range."""

from __future__ import annotations

import pytest
from leaderless.replication.merkle import RANGES, range_of
from leaderless.replication.placement import Moving, Placement
from leaderless.replication.ring import Ring, RingNode, key_hash

POSITIONS = {name: index for index, name in enumerate("abcdef")}


def _placement(names: str, n: int = 3) -> Placement:
    return Placement(Ring([RingNode(name) for name in names]), n, POSITIONS)


def test_with_as_many_nodes_as_copies_every_range_has_every_node() -> None:
    placement = _placement("abc")
    assert placement.replica_sets == ((0, 1, 2),)
    assert set(placement.owners) == {(0, 1, 2)}


def test_a_key_s_owners_are_its_preference_list_as_positions() -> None:
    ring = Ring([RingNode(name) for name in "abcdef"])
    placement = Placement(ring, 3, POSITIONS)
    for index in range(500):
        key = b"k%d" % index
        nodes = ring.preference_list(key_hash(key), 3)
        assert placement.owners_of(key) == tuple(sorted("abcdef".index(node) for node in nodes))


def test_ranges_of_a_replica_set_are_exactly_those_it_owns() -> None:
    placement = _placement("abcde")
    total = 0
    for replicas in placement.replica_sets:
        ranges = placement.ranges_of(replicas)
        assert all(placement.owners[index] == replicas for index in ranges)
        total += len(ranges)
    assert total == RANGES


def test_shares_add_up_to_the_copies() -> None:
    share = _placement("abcdef").share()
    assert sum(share.values()) == pytest.approx(3)
    assert max(share.values()) < 1.1 * 0.5


def test_without_a_ring_no_range_has_an_owner() -> None:
    placement = Placement(None, 0, {})
    assert placement.replica_sets == ((),)
    assert placement.owners_of(b"any key") == ()


def test_a_node_of_the_ring_without_a_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="node z has no backend"):
        Placement(Ring([RingNode("a"), RingNode("z")]), 1, {"a": 0})


def test_a_move_changes_only_the_ranges_that_gain_the_new_node() -> None:
    move = Moving(_placement("abc"), _placement("abcd"))
    changed = move.changed_ranges()
    assert 0 < len(changed) < RANGES
    for index in changed:
        old, new = move.old.owners[index], move.new.owners[index]
        assert 3 in new and 3 not in old
    key = b"some key"
    assert move.owners_of(key) == (move.old.owners[range_of(key)], move.new.owners[range_of(key)])
