"""A proxy over a ring of five nodes with N=3: every key on exactly its owners, and every
command over keys of different owners as over one set of replicas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.placement import Placement
from leaderless.replication.ring import Ring, RingNode

from tests.integration.conftest import ProxyProcess, start_proxy
from tests.support.redis_servers import StartNodes

KEYS = [b"key:%d" % index for index in range(120)]


@pytest.fixture
def ring_nodes(redis_nodes: StartNodes) -> list[LocalRedisNode]:
    return redis_nodes(5)


@pytest.fixture
def proxy(ring_nodes: list[LocalRedisNode]) -> Iterator[ProxyProcess]:
    started = start_proxy(ring_nodes, "--n", "3")
    try:
        yield started
    finally:
        started.stop()


def placement_of(nodes: list[LocalRedisNode], n: int = 3) -> Placement:
    endpoints = [node.address.endpoint for node in nodes]
    ring = Ring([RingNode(endpoint) for endpoint in endpoints])
    return Placement(ring, n, {endpoint: index for index, endpoint in enumerate(endpoints)})


def holders(nodes: list[LocalRedisNode], key: bytes, db: int = 0) -> set[int]:
    found = set()
    for index, node in enumerate(nodes):
        with redis.Redis(port=node.port, db=db) as direct:
            if direct.exists(key):
                found.add(index)
    return found


def test_each_key_is_on_exactly_its_owners(
    proxy: ProxyProcess, ring_nodes: list[LocalRedisNode]
) -> None:
    placement = placement_of(ring_nodes)
    assert len(placement.replica_sets) > 1
    with proxy.client() as client:
        client.mset({key: b"v-" + key for key in KEYS[:60]})
        for key in KEYS[60:]:
            client.set(key, b"v-" + key)
        client.incr(b"counter")
        assert client.mget(KEYS) == [b"v-" + key for key in KEYS]
    for key in [*KEYS, b"counter"]:
        assert holders(ring_nodes, key) == set(placement.owners_of(key)), key


def test_multi_key_commands_span_every_owner_set(proxy: ProxyProcess) -> None:
    with proxy.client() as client:
        client.mset({key: b"x" for key in KEYS})
        assert client.execute_command("WAIT", 3, 5000) == 3  # every owner of every key
        assert client.dbsize() == len(KEYS)
        for key in KEYS[:30]:
            client.expire(key, 1000)
        assert client.info("keyspace")["db0"] == {"keys": len(KEYS), "expires": 30, "avg_ttl": 0}
        assert sorted(client.keys("key:*")) == sorted(KEYS)
        assert {key for key in client.scan_iter(match="key:*", count=7)} == set(KEYS)
        assert client.exists(*KEYS) == len(KEYS)
        assert client.delete(*KEYS[:50]) == 50
        assert client.exists(*KEYS) == len(KEYS) - 50
        assert client.dbsize() == len(KEYS) - 50
        client.flushall()
        assert client.dbsize() == 0
        assert client.exists(*KEYS) == 0


def test_transactions_and_scripts_over_keys_of_several_owner_sets(proxy: ProxyProcess) -> None:
    spread = KEYS[:10]
    with proxy.client() as client:
        pipe = client.pipeline(transaction=True)
        for key in spread:
            pipe.set(key, b"1")
            pipe.incr(key)
        pipe.mget(spread)
        assert pipe.execute()[-1] == [b"2"] * len(spread)
        script = (
            "for _, k in ipairs(KEYS) do redis.call('INCR', k) end "
            "return redis.call('MGET', unpack(KEYS))"
        )
        assert client.eval(script, len(spread), *spread) == [b"3"] * len(spread)


def test_each_key_s_copies_span_the_zones_and_a_heavier_node_holds_more(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(6)
    zones = "aabbcc"
    args = ["--listen", "127.0.0.1:0", "--n", "3", "--w", "2", "--r", "2"]
    for node, zone in zip(nodes, zones, strict=True):
        weight = "&weight=2" if node is nodes[0] else ""
        args += ["--node", f"{node.url}?zone={zone}{weight}"]
    proxy = ProxyProcess(args)
    proxy.start()
    try:
        with proxy.client() as client:
            client.mset({key: b"z" for key in KEYS})
            shares = {
                key: value["ring_share"]
                for key, value in client.info("leaderless").items()
                if key.startswith("node")
            }
    finally:
        proxy.stop()
    for key in KEYS:
        assert {zones[index] for index in holders(nodes, key)} == {"a", "b", "c"}, key
    assert shares["node0"] > shares["node1"]  # weight 2 against 1, in the same zone
