"""The stored ring: its encoding, the newest among nodes' replies, and the placement it gives."""

from __future__ import annotations

import pytest
from leaderless.config.settings import NodeAddress
from leaderless.replication.placement import Moving, Placement
from leaderless.replication.ring_state import (
    RingMember,
    RingState,
    RingStateError,
    configured,
    newest,
)

MEMBERS = (RingMember("h:1", "a"), RingMember("h:2", "b", 2.0), RingMember("h:3"))
POSITIONS = {"h:1": 0, "h:2": 1, "h:3": 2, "h:4": 3}


def test_a_state_decodes_to_itself() -> None:
    moving = RingState(7, 3, 64, (*MEMBERS, RingMember("h:4")), previous=MEMBERS)
    assert RingState.decode(7, moving.encode()) == moving
    stable = RingState(8, 3, 64, MEMBERS)
    assert RingState.decode(8, stable.encode()) == stable


def test_the_newest_epoch_wins_and_missing_rings_are_skipped() -> None:
    old, new = RingState(1, 3, 128, MEMBERS), RingState(2, 2, 128, MEMBERS)
    replies = [[None, None], [b"2", new.encode()], [b"1", old.encode()], "ERR"]
    assert newest(replies) == new
    assert newest([[None, None]]) is None


def test_a_malformed_ring_says_which_epoch() -> None:
    with pytest.raises(RingStateError, match="epoch 3 is malformed"):
        RingState.decode(3, b'{"n": 3}')
    with pytest.raises(RingStateError, match="epoch b'x' is not a number"):
        newest([[b"x", b"{}"]])


def test_a_moving_state_places_keys_under_both_rings() -> None:
    moving = RingState(2, 3, 128, (*MEMBERS, RingMember("h:4")), previous=MEMBERS)
    placement = moving.placement(POSITIONS)
    assert isinstance(placement, Moving)
    assert placement.old.replica_sets == ((0, 1, 2),)
    assert moving.endpoints() == ["h:1", "h:2", "h:3", "h:4"]
    assert isinstance(RingState(3, 3, 128, MEMBERS).placement(POSITIONS), Placement)


def test_the_config_gives_epoch_zero_with_zones_and_weights() -> None:
    nodes = [NodeAddress.parse("redis://h:1?zone=a"), NodeAddress.parse("redis://h:2?weight=2")]
    state = configured(nodes, 2, 128)
    assert state.epoch == 0
    assert state.members == (RingMember("h:1", "a"), RingMember("h:2", None, 2.0))
