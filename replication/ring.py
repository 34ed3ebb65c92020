"""A consistent-hash ring: which N of M nodes hold a key.

Every node owns `vnodes * weight` virtual nodes (tokens), each the xxh3-64 hash of
f"{node}-{i}" moved to the last hash of its anti-entropy range (merkle.py: the top 16 bits of
the hash), so the same nodes give the same ring in every process and every range lies on one
arc: the keys of a range share their owners, and anti-entropy compares a range's digests
among exactly those owners. A key's hash falls on
the arc ending at the first token at or clockwise after it (wrapping past 2^64 - 1), and its
preference list is the first n distinct nodes met walking clockwise from there. Nodes carry an
optional zone: the walk first takes nodes of zones not yet in the list, then fills the list
with the remaining nodes in clockwise order, so a list spans as many zones as it can
(Cassandra's NetworkTopologyStrategy, Dynomite's racks).

Keys hash with xxh3-64, as the anti-entropy ranges do (merkle.range_of is the top 16 bits of
the same hash). Aligning tokens to ranges costs balance only once tokens crowd the 65,536
ranges: up to a few hundred nodes of 128 virtual nodes it is below what the simulation
resolves (bench/ring_simulation.py).

This module is pure: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import xxhash
from leaderless.replication.merkle import RANGE_BITS, RANGES

HASH_SPACE = 1 << 64
RANGE_SPAN = HASH_SPACE >> RANGE_BITS
DEFAULT_VNODES = 128


def key_hash(key: bytes) -> int:
    """A key's position on the ring."""
    return xxhash.xxh3_64_intdigest(key)


def token_of(node: str, index: int) -> int:
    """The last hash of the range that xxh3-64 of f"{node}-{index}" falls in."""
    return xxhash.xxh3_64_intdigest(f"{node}-{index}".encode()) | (RANGE_SPAN - 1)


@dataclass(frozen=True)
class RingNode:
    id: str
    weight: float = 1.0
    zone: str | None = None


@dataclass(frozen=True)
class Movement:
    """How much a membership change moves, as fractions of the hash space."""

    keys_changed: float
    """Keys whose set of owners changed."""
    placements_moved: float
    """Replica placements (key, owner) that moved: keys_changed weighted by owners replaced / n."""


class Ring:
    def __init__(self, nodes: Sequence[RingNode], vnodes: int = DEFAULT_VNODES) -> None:
        ids = [node.id for node in nodes]
        if not ids:
            raise ValueError("a ring needs at least one node")
        if len(set(ids)) != len(ids):
            raise ValueError("node ids must be distinct")
        if vnodes < 1:
            raise ValueError("vnodes must be at least 1")
        self.nodes = tuple(nodes)
        self.vnodes = vnodes
        placed: list[tuple[int, str]] = []
        for node in nodes:
            if node.weight <= 0:
                raise ValueError(f"node {node.id}: weight must be positive")
            count = max(1, round(vnodes * node.weight))
            placed.extend((token_of(node.id, i), node.id) for i in range(count))
        placed.sort()
        self.tokens = [token for token, _ in placed]
        self.owners = [owner for _, owner in placed]
        self._zone = {node.id: node.zone for node in nodes}
        self._zones = len({node.zone for node in nodes})

    def arc_of(self, hash_value: int) -> int:
        """The index of the token whose arc holds this hash."""
        index = bisect.bisect_left(self.tokens, hash_value)
        return 0 if index == len(self.tokens) else index

    def arc_length(self, arc: int) -> int:
        """Tokens two nodes share make empty arcs; a ring of one token is one whole arc."""
        if len(self.tokens) == 1:
            return HASH_SPACE
        return (self.tokens[arc] - self.tokens[arc - 1]) % HASH_SPACE

    def preference_list(self, hash_value: int, n: int) -> tuple[str, ...]:
        return self.preference_list_at(self.arc_of(hash_value), n)

    def preference_list_at(self, arc: int, n: int) -> tuple[str, ...]:
        """The first n distinct nodes clockwise from this arc, new zones first."""
        if not 1 <= n <= len(self.nodes):
            raise ValueError(f"n must be between 1 and {len(self.nodes)}")
        size = len(self.owners)
        chosen: list[str] = []
        zones_used: set[str | None] = set()
        step = 0
        while len(chosen) < n and len(zones_used) < self._zones and step < size:
            owner = self.owners[(arc + step) % size]
            if self._zone[owner] not in zones_used:
                chosen.append(owner)
                zones_used.add(self._zone[owner])
            step += 1
        step = 0
        while len(chosen) < n:
            owner = self.owners[(arc + step) % size]
            if owner not in chosen:
                chosen.append(owner)
            step += 1
        return tuple(chosen)

    def owners_by_range(self, n: int) -> list[tuple[str, ...]]:
        """The preference list of every anti-entropy range, by range: the keys of a range all
        have it (their hashes share the range's arc)."""
        owners: list[tuple[str, ...]] = []
        arc = 0
        size = len(self.tokens)
        lists: dict[int, tuple[str, ...]] = {}
        for range_id in range(RANGES):
            last = (range_id + 1) * RANGE_SPAN - 1
            while arc < size and self.tokens[arc] < last:
                arc += 1
            at = 0 if arc == size else arc
            found = lists.get(at)
            if found is None:
                found = lists[at] = self.preference_list_at(at, n)
            owners.append(found)
        return owners

    def owned_fraction(self, n: int = 1) -> dict[str, float]:
        """Each node's share of the hash space among the first n of the preference lists."""
        owned = dict.fromkeys((node.id for node in self.nodes), 0)
        for arc in range(len(self.tokens)):
            length = self.arc_length(arc)
            for owner in self.preference_list_at(arc, n):
                owned[owner] += length
        return {node: share / HASH_SPACE for node, share in owned.items()}


def movement(before: Ring, after: Ring, n: int) -> Movement:
    """What changes from one ring to the other, measured exactly over the hash space.

    Between two consecutive tokens of either ring, both rings give one preference list, so
    the hash space is walked segment by segment.
    """
    boundaries = sorted(set(before.tokens) | set(after.tokens))
    changed = 0
    placements = 0
    for index, upper in enumerate(boundaries):
        length = (upper - boundaries[index - 1]) % HASH_SPACE or HASH_SPACE
        old = set(before.preference_list(upper, n))
        new = set(after.preference_list(upper, n))
        if old != new:
            changed += length
            placements += length * len(old - new)
    return Movement(
        keys_changed=changed / HASH_SPACE, placements_moved=placements / (HASH_SPACE * n)
    )
