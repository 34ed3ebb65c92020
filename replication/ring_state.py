"""The ring in force, as every node stores it: its epoch, its members, and the ring it replaces.

The config names the nodes a proxy starts from; the ring the nodes store decides. Each node
keeps a hash RING_KEY with the epoch (an integer, 0 when the key is missing) and the ring as
JSON, and the epoch alone in EPOCH_KEY, which the write script and the reads look at. A
membership change installs a new ring at the next epoch on every node of the old and the new
ring (INSTALL_RING: only over an older epoch, so two changes cannot both win), with
`previous` naming the ring it replaces: while `previous` is set the keys are moving, and both
rings are in force. Once the moved keys are on their new owners, the same ring is
installed again at the next epoch without `previous`.

The write and read paths carry the proxy's epoch to the nodes (scripts.py), and a node that
holds a newer one refuses the write and says so on the read: the proxy then loads the newer
ring and goes again (README, Membership changes). Nothing acknowledged under an old ring can
be missed by the new one, because the new ring is on every node before any key moves.

This module is pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leaderless.config.settings import NodeAddress
from leaderless.replication.placement import Moving, Placement
from leaderless.replication.ring import Ring, RingNode
from leaderless.replication.scripts import EPOCH_KEY, RING_KEY, Script

EPOCH_FIELD = b"epoch"
RING_FIELD = b"ring"


class RingStateError(ValueError):
    """A stored ring that cannot be read."""


@dataclass(frozen=True)
class RingMember:
    """A node as the ring names it: its endpoint (its id on the ring), zone and weight."""

    endpoint: str
    zone: str | None = None
    weight: float = 1.0

    @classmethod
    def of(cls, address: NodeAddress) -> RingMember:
        return cls(address.endpoint, address.zone, address.weight)

    def ring_node(self) -> RingNode:
        return RingNode(self.endpoint, self.weight, self.zone)


@dataclass(frozen=True)
class RingState:
    epoch: int
    n: int
    vnodes: int
    members: tuple[RingMember, ...]
    previous: tuple[RingMember, ...] | None = None
    """The ring being replaced while keys move; None once the move is complete."""

    @property
    def moving(self) -> bool:
        return self.previous is not None

    def endpoints(self) -> list[str]:
        """Every node this state involves: the members, then the previous ring's others."""
        seen = [member.endpoint for member in self.members]
        for member in self.previous or ():
            if member.endpoint not in seen:
                seen.append(member.endpoint)
        return seen

    def placement(self, positions: Mapping[str, int]) -> Placement | Moving:
        new = _placement(self.members, self.n, self.vnodes, positions)
        if self.previous is None:
            return new
        return Moving(_placement(self.previous, self.n, self.vnodes, positions), new)

    def encode(self) -> bytes:
        document: dict[str, object] = {
            "n": self.n,
            "vnodes": self.vnodes,
            "members": [_member_json(member) for member in self.members],
        }
        if self.previous is not None:
            document["previous"] = [_member_json(member) for member in self.previous]
        return json.dumps(document, sort_keys=True).encode()

    @classmethod
    def decode(cls, epoch: int, encoded: bytes) -> RingState:
        try:
            document = json.loads(encoded)
            previous = document.get("previous")
            return cls(
                epoch=epoch,
                n=int(document["n"]),
                vnodes=int(document["vnodes"]),
                members=tuple(_member(item) for item in document["members"]),
                previous=None if previous is None else tuple(_member(item) for item in previous),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RingStateError(f"stored ring at epoch {epoch} is malformed: {error}") from None


def configured(nodes: Sequence[NodeAddress], n: int, vnodes: int) -> RingState:
    """The ring a config describes, at epoch 0: what a proxy uses while no node stores one."""
    return RingState(0, n, vnodes, tuple(RingMember.of(node) for node in nodes))


def newest(replies: Sequence[object]) -> RingState | None:
    """The newest ring among nodes' replies to HMGET RING_KEY epoch ring (None if none)."""
    best: RingState | None = None
    for reply in replies:
        if not isinstance(reply, list) or len(reply) != 2 or reply[0] is None:
            continue
        epoch_text, encoded = reply
        if not isinstance(epoch_text, bytes) or not isinstance(encoded, bytes):
            continue
        if not epoch_text.isdigit():
            raise RingStateError(f"stored ring epoch {epoch_text!r} is not a number")
        epoch = int(epoch_text)
        if best is None or epoch > best.epoch:
            best = RingState.decode(epoch, encoded)
    return best


READ_RING = (b"HMGET", RING_KEY, EPOCH_FIELD, RING_FIELD)


# KEYS = RING_KEY, EPOCH_KEY; ARGV[1] = the epoch, ARGV[2] = the ring as JSON. Installs it
# only over an older epoch (none counts as 0); returns the epoch the node holds afterwards.
INSTALL_RING = Script(
    "install_ring",
    b"""
local held = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
local epoch = tonumber(ARGV[1])
if epoch > held then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'ring', ARGV[2])
  redis.call('SET', KEYS[2], ARGV[1])
  return epoch
end
return held
""",
)
INSTALL_RING_KEYS = (RING_KEY, EPOCH_KEY)


def _placement(
    members: Sequence[RingMember], n: int, vnodes: int, positions: Mapping[str, int]
) -> Placement:
    return Placement(Ring([member.ring_node() for member in members], vnodes), n, positions)


def _member_json(member: RingMember) -> dict[str, object]:
    document: dict[str, object] = {"endpoint": member.endpoint}
    if member.zone is not None:
        document["zone"] = member.zone
    if member.weight != 1.0:
        document["weight"] = member.weight
    return document


def _member(item: object) -> RingMember:
    if not isinstance(item, dict):
        raise TypeError("a member is an object")
    zone = item.get("zone")
    return RingMember(
        str(item["endpoint"]),
        None if zone is None else str(zone),
        float(item.get("weight", 1.0)),
    )


class RingInForce:
    """The ring a process routes by, shared by its coordinators, and the newest epoch a node
    has shown it. `only` is the owners of every key when there is one replica set and no move:
    the coordinator then routes nothing."""

    def __init__(self, state: RingState, positions: Mapping[str, int]) -> None:
        self.seen = state.epoch
        self.adopt(state, positions)

    def adopt(self, state: RingState, positions: Mapping[str, int]) -> None:
        placement = state.placement(positions) if state.members else Placement(None, 0, {})
        self.state = state
        self.placement = placement
        self.epoch = state.epoch
        self.seen = max(self.seen, state.epoch)
        self.only = (
            placement.replica_sets[0]
            if isinstance(placement, Placement) and len(placement.replica_sets) == 1
            else None
        )

    def saw(self, epoch: int) -> bool:
        """A node holds ring `epoch`; whether it is newer than the one in force."""
        if epoch > self.seen:
            self.seen = epoch
        return epoch > self.epoch

    def owners_of(self, key: bytes) -> tuple[int, ...] | tuple[tuple[int, ...], tuple[int, ...]]:
        """A key's owners, or during a move its old and its new owners."""
        return self.placement.owners_of(key)
