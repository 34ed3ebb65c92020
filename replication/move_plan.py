"""The decisions of a membership change, with no I/O: what to install, scan, copy and drop.

A move (ring_move.py carries it out) takes the ring the nodes store from its members to new
ones in five steps: read the stored ring, install the moving state (the new members with
`previous` the old) on every node, stream the keys of the ranges whose owners change to their
new owners, install the stable state, then drop from every node the records of ranges it no
longer owns. This module decides:

- `next_state`: which state a move works from, given what is stored: a new moving state, the
  stored one resumed (a move to the same members), or nothing to do; a move to other members
  while one is in progress is refused.
- `stream_plan`: which old owners to scan for which changed ranges. A write acknowledged under
  the old ring is on W of a range's N old owners, so scanning N - W + 1 of them finds every
  such key; the plan needs that many old owners up and W new owners up for every changed
  range, or it says which nodes are missing.
- `copies`: which versions of one key go to which of its new owners (reconcile.plan's rule,
  keeping only the targets that are new owners).
- `drop_ranges`: the ranges a node holds no copy of under the new ring.

This module is pure: the time comes in as an argument.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from leaderless.replication.merkle import RANGES
from leaderless.replication.placement import Moving, Placement
from leaderless.replication.reconcile import KeyRepair, plan
from leaderless.replication.ring_state import RingMember, RingState


class MoveError(Exception):
    """A move that cannot go on; the message says why and what to do."""


class MoveRefused(MoveError):
    """The move asked for conflicts with the stored ring, or cannot start."""


class MoveIncomplete(MoveError):
    """A step could not finish (a node is down or failed); running the move again resumes."""


def same_members(a: Sequence[RingMember], b: Sequence[RingMember]) -> bool:
    """Whether two member lists make the same ring (the ring does not depend on their order)."""
    return sorted(a, key=_order) == sorted(b, key=_order)


def _order(member: RingMember) -> tuple[str, str, float]:
    return (member.endpoint, member.zone or "", member.weight)


def next_state(
    stored: RingState | None,
    pending: PendingDrop | None,
    current: Sequence[RingMember] | None,
    target: Sequence[RingMember],
    n: int,
    vnodes: int,
) -> RingState:
    """The state a move to `target` works from. Moving: a new move over the stored ring (or
    over `current` at epoch 0 when no node stores one), or the stored move to the same
    members, resumed. Stable: the stored ring already has these members (its drop, if
    `pending`, is what is left to do); a new move waits for a pending drop to finish, as the
    nodes it drops from are named only there."""
    endpoints = [member.endpoint for member in target]
    if len(set(endpoints)) != len(endpoints):
        raise MoveRefused("the new ring names a node twice")
    if len(target) < n:
        raise MoveRefused(f"the new ring has {len(target)} nodes; it needs at least n = {n}")
    if stored is None:
        if current is None:
            raise MoveRefused(
                "no node stores a ring yet: name the nodes that hold the keys now "
                "(--from-config OLD.toml or --from-node URL for each)"
            )
        stored = RingState(0, n, vnodes, tuple(current))
    if (stored.n, stored.vnodes) != (n, vnodes):
        raise MoveRefused(
            f"the stored ring has n = {stored.n} and vnodes = {stored.vnodes}, the config "
            f"n = {n} and vnodes = {vnodes}: a move changes the members only"
        )
    if stored.moving:
        if same_members(stored.members, target):
            return stored
        raise MoveRefused(
            f"a move to {', '.join(m.endpoint for m in stored.members)} is in progress "
            f"(epoch {stored.epoch}): finish it first (leaderless ring move to those members)"
        )
    if same_members(stored.members, target):
        return stored
    if pending is not None:
        raise MoveRefused(
            f"the move to epoch {stored.epoch} still drops records from "
            f"{', '.join(pending.nodes) or 'its members'}: finish it first (leaderless ring "
            "move to its members)"
        )
    return RingState(stored.epoch + 1, n, vnodes, tuple(target), previous=stored.members)


def stable(state: RingState) -> RingState:
    """The state that ends a move: its members at the next epoch, nothing moving."""
    return RingState(state.epoch + 1, state.n, state.vnodes, state.members)


@dataclass(frozen=True)
class StreamPlan:
    changed: tuple[int, ...]
    """The ranges whose owners change."""
    scans: dict[int, tuple[int, ...]]
    """Backend position -> the changed ranges scanned on it."""

    def scans_of(self) -> dict[int, int]:
        """Range -> how many scans it is in (it is done when they all are)."""
        counts: dict[int, int] = {}
        for ranges in self.scans.values():
            for range_id in ranges:
                counts[range_id] = counts.get(range_id, 0) + 1
        return counts


def stream_plan(moving: Moving, up: Collection[int], w: int, names: Sequence[str]) -> StreamPlan:
    """The scans that find every key acknowledged under the old ring in the changed ranges:
    N - W + 1 up old owners each (preferring those that keep no copy, whose copies are
    dropped after), or MoveIncomplete naming the nodes that are down where too few are up."""
    need = moving.old.n - w + 1
    changed = moving.changed_ranges()
    scans: dict[int, list[int]] = {}
    missing: set[int] = set()
    for range_id in changed:
        old, new = moving.old.owners[range_id], moving.new.owners[range_id]
        old_up = [p for p in old if p in up]
        if len(old_up) < need or sum(1 for p in new if p in up) < w:
            missing.update(p for p in (*old, *new) if p not in up)
            continue
        for position in sorted(old_up, key=lambda p: (p in new, p))[:need]:
            scans.setdefault(position, []).append(range_id)
    if missing:
        down = ", ".join(names[p] for p in sorted(missing))
        raise MoveIncomplete(
            f"too few owners are up to move some ranges (down: {down}); "
            f"the move needs {need} old and {w} new owners of each range: "
            "bring them back and run the move again"
        )
    return StreamPlan(tuple(changed), {p: tuple(r) for p, r in sorted(scans.items())})


def copies(
    key: bytes,
    held: Sequence[tuple[int, bytes | None]],
    to: Collection[int],
    *,
    now_ms: int,
    purge_cutoff_ms: int,
) -> list[KeyRepair]:
    """The copies that bring the backends `to` (a key's new owners) the newest version of
    `key`, given the header each backend in `held` (position, header or None) holds; sources
    and targets are positions. Dead versions are not copied where there is nothing to beat
    (reconcile.py)."""
    first = held[0][1]
    if first and all(header == first for _, header in held[1:]):
        return []  # the same version everywhere: the common case once copied
    repairs = plan(
        [{key: header} if header else {} for _, header in held],
        now_ms=now_ms,
        purge_cutoff_ms=purge_cutoff_ms,
    )
    out = []
    for repair in repairs:
        targets = tuple(held[i][0] for i in repair.targets if held[i][0] in to)
        if targets:
            out.append(KeyRepair(key, held[repair.source][0], targets))
    return out


def drop_ranges(new: Placement, position: int) -> list[int]:
    """The ranges whose records backend `position` no longer keeps."""
    return [r for r in range(RANGES) if position not in new.owners[r]]


@dataclass(frozen=True)
class PendingDrop:
    """The nodes a finished move still drops records from, stored beside the ring (field
    DROPPING_FIELD) before the stable state is installed, so that a rerun finds the nodes
    the stable ring no longer names."""

    epoch: int
    """The stable state's epoch: a pending drop of an older epoch is over."""
    nodes: tuple[str, ...]

    def encode(self) -> bytes:
        return json.dumps({"epoch": self.epoch, "nodes": list(self.nodes)}).encode()

    @classmethod
    def decode(cls, raw: object) -> PendingDrop | None:
        if not isinstance(raw, bytes):
            return None
        try:
            document = json.loads(raw)
            return cls(int(document["epoch"]), tuple(str(node) for node in document["nodes"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class MoveProgress:
    """Where a step stands; `line()` is the progress line the command prints."""

    step: str
    """stream or drop."""
    epoch: int
    keys: int
    """Keys of the ranges moving (stream) or left (drop) looked at so far."""
    changes: int
    """Copies written (stream) or records deleted (drop) so far."""
    done: int
    total: int
    unit: str
    """What `done` counts: ranges (stream) or nodes (drop)."""
    seconds: float
    scans_done: int = 0
    scans_total: int = 0
    """The stream's node scans: a range is done once all its scans are, each a whole keyspace."""

    def line(self) -> str:
        rate = f", {self.keys / self.seconds:.0f} keys/s" if self.seconds > 0 else ""
        verb = "copies written" if self.step == "stream" else "records dropped"
        scans = f" ({self.scans_done}/{self.scans_total} node scans)" if self.scans_total else ""
        return (
            f"ring move (epoch {self.epoch}) {self.step}: {self.keys} keys, {self.changes} {verb}, "
            f"{self.done}/{self.total} {self.unit} done{scans}, {self.seconds:.1f} s{rate}"
        )
