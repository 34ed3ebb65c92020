"""Which backends hold each key: the ring's preference lists as positions in the backend list.

The coordinator, the sidecar and a move all address backends by position, so a placement
turns the ring's node ids into those positions, for each of the 65,536 anti-entropy ranges
(every key of a range has the same owners, see ring.py). Owners are kept as a sorted tuple:
the replicas of a key form a set, and the rounds of one set of replicas share a coordinator,
so with M = N every range has the same owners and nothing differs from a single set.

During a move (`Moving`) a key has its owners under the old ring and under the new one; a
write must be acknowledged by W of each, and a read needs R of the old owners and takes in
whatever the new ones answered by then (README, Membership changes).

This module is pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from leaderless.replication.merkle import RANGES, range_of
from leaderless.replication.ring import Ring


class Placement:
    """The owners of every range under one ring, as positions in the backend list."""

    def __init__(self, ring: Ring | None, n: int, positions: Mapping[str, int]) -> None:
        """The placement of `ring`'s preference lists of n nodes; with no ring (a process with
        no backends), every range is owned by none."""
        self.n = n
        by_ids: dict[tuple[str, ...], tuple[int, ...]] = {}
        interned: dict[tuple[int, ...], tuple[int, ...]] = {}
        self.owners: list[tuple[int, ...]] = []
        for ids in [()] * RANGES if ring is None else ring.owners_by_range(n):
            owners = by_ids.get(ids)
            if owners is None:
                missing = [node for node in ids if node not in positions]
                if missing:
                    raise ValueError(f"the ring's node {missing[0]} has no backend")
                found = tuple(sorted(positions[node] for node in ids))
                owners = by_ids[ids] = interned.setdefault(found, found)
            self.owners.append(owners)
        self.replica_sets: tuple[tuple[int, ...], ...] = tuple(sorted(interned))
        """Every distinct set of owners, in a fixed order."""

    def owners_of(self, key: bytes) -> tuple[int, ...]:
        return self.owners[range_of(key)]

    def ranges_of(self, replicas: tuple[int, ...]) -> list[int]:
        """The ranges whose owners are exactly these replicas."""
        return [index for index, owners in enumerate(self.owners) if owners == replicas]

    def share(self) -> dict[int, float]:
        """Each backend's share of the ranges it holds a copy of (they sum to n)."""
        counts: dict[int, int] = {}
        for owners in self.owners:
            for position in owners:
                counts[position] = counts.get(position, 0) + 1
        return {position: count / RANGES for position, count in sorted(counts.items())}


@dataclass(frozen=True)
class Moving:
    """A move from one placement to another: both are in force until it completes."""

    old: Placement
    new: Placement

    def owners_of(self, key: bytes) -> tuple[tuple[int, ...], tuple[int, ...]]:
        index = range_of(key)
        return self.old.owners[index], self.new.owners[index]

    def changed_ranges(self) -> list[int]:
        """The ranges whose owners differ: the keys a move streams."""
        return [
            index
            for index, (old, new) in enumerate(zip(self.old.owners, self.new.owners, strict=True))
            if old != new
        ]
