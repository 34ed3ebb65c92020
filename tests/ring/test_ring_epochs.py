"""A proxy meets a newer ring on the nodes: it adopts it, connects to members it did not know,
and routes by it; while keys move it writes to W old and W new owners and reads the old ones."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.ring_state import (
    INSTALL_RING,
    INSTALL_RING_KEYS,
    RingMember,
    RingState,
)
from leaderless.replication.scripts import WRITE_IF_NEWER

from tests.integration.conftest import ProxyProcess, start_proxy
from tests.ring.test_ring_serving import holders, placement_of
from tests.support.redis_servers import StartNodes

DEADLINE_S = 10.0


def install(nodes: list[LocalRedisNode], state: RingState) -> None:
    for node in nodes:
        with redis.Redis(port=node.port) as direct:
            held = direct.eval(
                INSTALL_RING.source.decode(),
                len(INSTALL_RING_KEYS),
                *INSTALL_RING_KEYS,
                state.epoch,
                state.encode(),
            )
            assert held == state.epoch


def members(nodes: list[LocalRedisNode]) -> tuple[RingMember, ...]:
    return tuple(RingMember(node.address.endpoint) for node in nodes)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_S} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def three(redis_nodes: StartNodes) -> list[LocalRedisNode]:
    return redis_nodes(3)


@pytest.fixture
def proxy(three: list[LocalRedisNode]) -> Iterator[ProxyProcess]:
    started = start_proxy(three)
    try:
        yield started
    finally:
        started.stop()


def test_writes_during_a_move_reach_w_old_and_w_new_owners_and_reads_see_the_old_ones(
    proxy: ProxyProcess, three: list[LocalRedisNode], redis_nodes: StartNodes
) -> None:
    five = [*three, *redis_nodes(2)]
    with proxy.client() as client:
        client.mset({b"before:%d" % i: b"old" for i in range(40)})
        install(five, RingState(1, 3, 128, members(five), previous=members(three)))
        client.mset({b"during:%d" % i: b"new" for i in range(40)})  # refused, then again
        assert client.mget([b"before:%d" % i for i in range(40)]) == [b"old"] * 40
        assert client.info("leaderless")["ring_moving"] == 1
    new = placement_of(five)
    for i in range(40):
        key = b"during:%d" % i
        assert holders(five, key) == {0, 1, 2} | set(new.owners_of(key)), key


def test_a_proxy_with_no_requests_adopts_a_newer_ring_and_routes_by_it(
    proxy: ProxyProcess, three: list[LocalRedisNode], redis_nodes: StartNodes
) -> None:
    five = [*three, *redis_nodes(2)]
    install(five, RingState(2, 3, 128, members(five)))
    with proxy.client() as client:
        wait_until(lambda: client.info("leaderless")["ring_epoch"] == 2, "ring epoch 2 adopted")
        client.mset({b"k%d" % i: b"v" for i in range(60)})
        assert client.mget([b"k%d" % i for i in range(60)]) == [b"v"] * 60
    placement = placement_of(five)
    for i in range(60):
        key = b"k%d" % i
        assert holders(five, key) == set(placement.owners_of(key)), key


def test_a_node_at_a_newer_ring_refuses_writes_of_an_older_one(
    three: list[LocalRedisNode],
) -> None:
    install(three, RingState(5, 3, 128, members(three)))
    with redis.Redis(port=three[0].port) as direct:
        with pytest.raises(redis.ResponseError, match="RINGEPOCH 5"):
            direct.eval(
                WRITE_IF_NEWER.source.decode(), 1, b"k", b"\x02" + b"\x00" * 19, b"0", b"0", b"4"
            )
        assert direct.exists(b"k") == 0


def test_writes_and_reads_in_another_database_meet_the_newer_ring_too(
    proxy: ProxyProcess, three: list[LocalRedisNode], redis_nodes: StartNodes
) -> None:
    five = [*three, *redis_nodes(2)]
    with proxy.client(db=3) as client:
        client.set(b"warm", b"up")  # the proxy's connections are up before the ring changes
        install(five, RingState(2, 3, 128, members(five)))
        client.mset({b"k%d" % i: b"v" for i in range(60)})
        assert client.mget([b"k%d" % i for i in range(60)]) == [b"v"] * 60
    placement = placement_of(five)
    for i in range(60):
        key = b"k%d" % i
        assert holders(five, key, db=3) == set(placement.owners_of(key)), key
