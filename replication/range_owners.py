"""Which replicas an anti-entropy round compares for each range, and the parts it leases.

A range's digests are compared among its owners only (placement.py): a copy of one of its keys
on another backend (a stray a move has not removed yet) is in none of the owners' digests, is
never scanned for that range and never repaired, so it can neither make the owners look
different nor spread. A backend therefore reads only the digests of the ranges it owns, and a
round where nothing differs costs each backend O(ranges it owns), whatever the keys.

The unit of a round's work is a `SegmentPart`: the ranges of one segment that one replica set
owns. Its lease is taken on a majority of that set, because those are the only replicas the
part's comparisons and repairs touch: any two sidecars working on the same part both ask that
set, and two majorities of it meet in a replica that granted at most one of them. A majority
of all backends would make a part's lease depend on backends that hold none of its keys (and
fail whenever most of them are down), and a lease per segment alone would serialise the
disjoint replica sets that share a segment. With every backend owning every range there is
one replica set, a part is a whole segment and its lease is the segment's, as without a ring.

This module is pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from leaderless.replication.merkle import RANGES, segment_field, segment_of, segment_ranges
from leaderless.replication.placement import Placement


@dataclass(frozen=True)
class SegmentPart:
    """The ranges of `segment` whose owners are exactly `replicas` (backend positions)."""

    segment: int
    replicas: tuple[int, ...]
    ranges: tuple[int, ...]

    @property
    def lease_field(self) -> bytes:
        """The part's lease: the segment's own when the part starts the segment (always so
        when every backend owns every range), else the segment's and the part's first range,
        the same name in every sidecar that shares the ring."""
        field = segment_field(self.segment)
        if self.ranges[0] == segment_ranges(self.segment).start:
            return field
        return b"%s.%d" % (field, self.ranges[0])

    @property
    def majority(self) -> int:
        return len(self.replicas) // 2 + 1


class RangeOwners:
    """The owners of every range, and what follows from them for a round."""

    def __init__(self, owners: Sequence[tuple[int, ...]]) -> None:
        if len(owners) != RANGES:
            raise ValueError(f"owners are needed for all {RANGES} ranges")
        self.owners = owners
        grouped: dict[tuple[int, tuple[int, ...]], list[int]] = {}
        owned: dict[int, list[int]] = {}
        for range_id, replicas in enumerate(owners):
            grouped.setdefault((segment_of(range_id), replicas), []).append(range_id)
            for position in replicas:
                owned.setdefault(position, []).append(range_id)
        self._parts = {
            key: SegmentPart(key[0], key[1], tuple(ranges)) for key, ranges in grouped.items()
        }
        self.owned = {position: tuple(ranges) for position, ranges in owned.items()}
        """The ranges each backend owns, in order."""
        self._owned_sets = {position: frozenset(ranges) for position, ranges in owned.items()}
        replica_sets = set(owners)
        self.peers = {
            position: frozenset(
                p for replicas in replica_sets if position in replicas for p in replicas
            )
            for position in owned
        }
        """Each backend and every backend it shares a range with."""

    @classmethod
    def everywhere(cls, backends: int) -> RangeOwners:
        """Every backend owns every range: one replica set, as without a ring."""
        return cls([tuple(range(backends))] * RANGES)

    @classmethod
    def of(cls, placement: Placement | None, backends: int) -> RangeOwners:
        return cls.everywhere(backends) if placement is None else cls(placement.owners)

    def part_of(self, range_id: int) -> SegmentPart:
        return self._parts[segment_of(range_id), self.owners[range_id]]

    def parts_of(self, ranges: Iterable[int]) -> list[SegmentPart]:
        """The parts these ranges are in, each once, by segment then replica set."""
        parts = {self.part_of(range_id) for range_id in ranges}
        return sorted(parts, key=lambda part: (part.segment, part.replicas))

    def owned_among(self, position: int, ranges: Iterable[int]) -> list[int]:
        """Those of `ranges` that this backend owns."""
        owned = self._owned_sets.get(position, frozenset())
        return [range_id for range_id in ranges if range_id in owned]

    def differing(
        self, digests: Mapping[int, Mapping[int, int]], ranges: Iterable[int]
    ) -> list[int]:
        """The ranges whose digests are not the same on all of their owners that answered
        (`digests`: backend position -> range -> digest, absent = 0); a range with fewer
        than two owners answering has nothing to be compared with."""
        result = []
        for range_id in ranges:
            seen = [digests[p].get(range_id, 0) for p in self.owners[range_id] if p in digests]
            if len(seen) > 1 and seen.count(seen[0]) != len(seen):
                result.append(range_id)
        return result

    def sources(
        self,
        wanted: Iterable[int],
        tried: Mapping[int, Collection[int]],
        up: Collection[int],
        sizes: Mapping[int, int],
    ) -> dict[int, list[int]]:
        """Which replica to scan for which of the `wanted` ranges, each range given to one of
        its owners that are up and were not scanned for it yet (`tried`: range -> positions).
        Each scan costs a replica's whole keyspace, so few are chosen, greedily: the owner of
        the most ranges first, the one with the most keys among equals (it is the likeliest to
        hold every key). The scans can run at once, each on its own replica. A range left out
        has been looked for on every owner: what still differs there is on none of them."""
        left = list(wanted)
        chosen: dict[int, list[int]] = {}
        while left:
            counts = Counter(
                p
                for r in left
                for p in self.owners[r]
                if p in up and p not in chosen and p not in tried.get(r, ())
            )
            if not counts:
                break
            best = max(counts, key=lambda p: (counts[p], sizes.get(p, 0), -p))
            mine = [r for r in left if best in self.owners[r] and best not in tried.get(r, ())]
            chosen[best] = mine
            taken = set(mine)
            left = [r for r in left if r not in taken]
        return chosen

    def covered(self, up: Iterable[int], left: Iterable[SegmentPart]) -> list[int]:
        """The backends a pass has fully covered: every backend they share a range with was
        up, and none of their parts was left to another sidecar. A backend that was emptied
        holds again every version its ranges' other owners held once it is covered."""
        answering = frozenset(up)
        unfinished = {position for part in left for position in part.replicas}
        return sorted(
            position
            for position in answering
            if self.peers.get(position, frozenset()) <= answering and position not in unfinished
        )


def by_owners(
    ranges_of_keys: Mapping[bytes, int], owners: Sequence[tuple[int, ...]]
) -> dict[tuple[int, ...], list[bytes]]:
    """Keys (key -> its range) grouped by the owners of their range, in the keys' order."""
    groups: dict[tuple[int, ...], list[bytes]] = {}
    for key, range_id in ranges_of_keys.items():
        groups.setdefault(owners[range_id], []).append(key)
    return groups
