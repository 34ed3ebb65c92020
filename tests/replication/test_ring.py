"""The consistent-hash ring: preference lists, zones, weights, balance and movement."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from leaderless.replication.merkle import RANGES, range_of
from leaderless.replication.ring import (
    HASH_SPACE,
    RANGE_SPAN,
    Ring,
    RingNode,
    key_hash,
    movement,
    token_of,
)

hashes = st.integers(0, HASH_SPACE - 1)


def ring_of(count: int, vnodes: int = 128, zones: int = 0) -> Ring:
    return Ring(
        [RingNode(f"node-{i}", zone=f"zone-{i % zones}" if zones else None) for i in range(count)],
        vnodes,
    )


RINGS = {count: ring_of(count, vnodes=16) for count in (1, 3, 5, 8)}


@settings(max_examples=200)
@given(hashes, st.sampled_from(sorted(RINGS)), st.integers(1, 8))
def test_a_preference_list_holds_n_distinct_nodes(hash_value: int, count: int, n: int) -> None:
    n = min(n, count)
    chosen = RINGS[count].preference_list(hash_value, n)
    assert len(chosen) == n
    assert len(set(chosen)) == n


@given(hashes)
def test_the_primary_is_the_owner_of_the_first_token_at_or_after_the_hash(hash_value: int) -> None:
    ring = RINGS[5]
    later = [token for token in ring.tokens if token >= hash_value]
    first = min(later) if later else ring.tokens[0]
    assert ring.preference_list(hash_value, 1) == (ring.owners[ring.tokens.index(first)],)


@given(hashes)
def test_a_longer_list_extends_a_shorter_one_without_zones(hash_value: int) -> None:
    ring = RINGS[8]
    assert ring.preference_list(hash_value, 5)[:3] == ring.preference_list(hash_value, 3)


def test_the_same_nodes_give_the_same_ring_whatever_their_order() -> None:
    nodes = [RingNode(f"node-{i}", weight=1 + i % 2) for i in range(6)]
    one, other = Ring(nodes), Ring(list(reversed(nodes)))
    assert one.tokens == other.tokens
    assert one.owners == other.owners
    assert one.preference_list(key_hash(b"user:1"), 3) == other.preference_list(
        key_hash(b"user:1"), 3
    )


def test_tokens_and_key_hashes_are_fixed_values_not_per_process_ones() -> None:
    assert token_of("a", 0) == 0xBAB6FFFFFFFFFFFF
    assert key_hash(b"user:1") == 0x3B577AFD7FED9501
    ring = Ring([RingNode("a"), RingNode("b"), RingNode("c")], vnodes=4)
    assert ring.preference_list(key_hash(b"user:1"), 2) == ("a", "b")


@settings(max_examples=100)
@given(hashes)
def test_lists_span_every_zone_when_there_are_at_least_n(hash_value: int) -> None:
    ring = ring_of(9, vnodes=16, zones=3)
    chosen = ring.preference_list(hash_value, 3)
    assert {int(node.split("-")[1]) % 3 for node in chosen} == {0, 1, 2}


@settings(max_examples=100)
@given(hashes)
def test_with_fewer_zones_than_n_every_zone_is_used_and_the_list_is_filled(hash_value: int) -> None:
    ring = ring_of(6, vnodes=16, zones=2)
    chosen = ring.preference_list(hash_value, 3)
    assert len(set(chosen)) == 3
    assert {int(node.split("-")[1]) % 2 for node in chosen[:2]} == {0, 1}


def test_zones_spread_where_the_plain_walk_would_not() -> None:
    plain = ring_of(9, vnodes=16)
    zoned = ring_of(9, vnodes=16, zones=3)
    rng = random.Random(7)
    samples = [rng.getrandbits(64) for _ in range(2000)]

    def spread(ring: Ring, hash_value: int) -> int:
        return len({int(node.split("-")[1]) % 3 for node in ring.preference_list(hash_value, 3)})

    assert any(spread(plain, sample) < 3 for sample in samples)
    assert all(spread(zoned, sample) == 3 for sample in samples)


def test_weight_shifts_ownership_in_proportion() -> None:
    nodes = [RingNode("heavy", weight=2.0)] + [RingNode(f"node-{i}") for i in range(4)]
    owned = Ring(nodes, vnodes=256).owned_fraction()
    assert sum(owned.values()) == pytest.approx(1.0)
    light = sum(owned[f"node-{i}"] for i in range(4)) / 4
    assert 1.6 < owned["heavy"] / light < 2.4
    assert 0.25 < owned["heavy"] < 0.42


@pytest.mark.parametrize("count", [3, 6, 12])
def test_adding_a_node_moves_about_one_share_of_the_placements(count: int) -> None:
    before, after = ring_of(count), ring_of(count + 1)
    share = 1 / (count + 1)
    primaries = movement(before, after, 1)
    assert 0.5 * share <= primaries.placements_moved <= 2 * share
    assert primaries.keys_changed == primaries.placements_moved
    replicas = movement(before, after, 3)
    assert 0.5 * share <= replicas.placements_moved <= 2 * share
    assert 0.5 * 3 * share <= replicas.keys_changed <= 2 * 3 * share


def test_moving_to_the_same_ring_moves_nothing() -> None:
    assert movement(ring_of(5), ring_of(5), 3).keys_changed == 0


def test_only_the_added_node_gains_keys() -> None:
    before, after = ring_of(6), ring_of(7)
    rng = random.Random(3)
    for _ in range(2000):
        hash_value = rng.getrandbits(64)
        gained = set(after.preference_list(hash_value, 3)) - set(
            before.preference_list(hash_value, 3)
        )
        assert gained <= {"node-6"}


def keys_per_node(ring: Ring, n: int, keys: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    held: Counter[str] = Counter()
    for _ in range(keys):
        held.update(ring.preference_list(rng.getrandbits(64), n))
    return held


@pytest.mark.parametrize("count", [3, 6, 12])
def test_with_128_vnodes_the_fullest_node_holds_at_most_1_1_times_the_mean_of_replicas(
    count: int,
) -> None:
    held = keys_per_node(ring_of(count), 3, 100_000, seed=count)
    assert len(held) == count
    assert max(held.values()) <= 1.1 * (sum(held.values()) / count)


@pytest.mark.parametrize(("count", "bound"), [(3, 1.1), (6, 1.2), (12, 1.15)])
def test_with_128_vnodes_primary_ownership_is_within_the_measured_bound(
    count: int, bound: float
) -> None:
    held = keys_per_node(ring_of(count), 1, 100_000, seed=count)
    assert max(held.values()) <= bound * (100_000 / count)


def test_a_ring_refuses_a_list_longer_than_its_nodes() -> None:
    with pytest.raises(ValueError, match="between 1 and 3"):
        ring_of(3).preference_list(0, 4)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([], "at least one node"),
        ([RingNode("a"), RingNode("a")], "distinct"),
        ([RingNode("a", weight=0)], "positive"),
    ],
)
def test_a_bad_ring_is_refused(nodes: list[RingNode], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Ring(nodes)


def test_removing_a_node_takes_keys_from_that_node_only() -> None:
    before, after = ring_of(7), ring_of(6)
    rng = random.Random(5)
    for _ in range(2000):
        hash_value = rng.getrandbits(64)
        lost = set(before.preference_list(hash_value, 3)) - set(
            after.preference_list(hash_value, 3)
        )
        assert lost <= {"node-6"}


@pytest.mark.parametrize("n", [1, 2, 3])
def test_owned_fractions_add_up_to_n_copies_of_the_hash_space(n: int) -> None:
    owned = ring_of(5, vnodes=32, zones=2).owned_fraction(n)
    assert sum(owned.values()) == pytest.approx(n)
    assert all(0 < share <= 1 for share in owned.values())


def test_every_key_of_a_range_has_its_range_s_owners() -> None:
    ring = Ring([RingNode(name, zone=name[0]) for name in ("a1", "a2", "b1", "b2", "c1")])
    owners = ring.owners_by_range(3)
    assert len(owners) == RANGES
    for index in range(2000):
        key = b"key:%d" % index
        assert ring.preference_list(key_hash(key), 3) == owners[range_of(key)]


def test_a_range_lies_on_one_arc() -> None:
    ring = Ring([RingNode(name) for name in "abcdef"])
    for token in ring.tokens:
        assert (token + 1) % RANGE_SPAN == 0
