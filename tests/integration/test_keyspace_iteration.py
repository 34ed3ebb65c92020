"""Keyspace iteration through the proxy with redis-py, sync and asyncio: every visible key is
listed, tombstones, expired records and internal keys never are, an iteration survives the
replica it is scanning going down, and KEYS and RANDOMKEY answer from visible keys only."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster, start_proxy
from tests.support.processes import wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration

REPLICA_BITS = 4
"""The low bits of a cursor name the replica it scans (replication/scan_cursor.py)."""


def fill(client: redis.Redis, count: int, prefix: str = "user:") -> set[bytes]:
    pipe = client.pipeline(transaction=False)
    for index in range(count):
        pipe.set(f"{prefix}{index}", index)
    pipe.execute()
    return {f"{prefix}{index}".encode() for index in range(count)}


def replica_keys(cluster: Cluster, index: int) -> set[bytes]:
    return set(cluster.nodes[index].client().scan_iter(count=1000))


@pytest.mark.parametrize("protocol", [2, 3])
def test_scan_iter_lists_every_key_with_match_count_and_type(
    cluster: Cluster, protocol: int
) -> None:
    client = cluster.client(protocol)
    users = fill(client, 300)
    others = fill(client, 40, "other:")
    assert set(client.scan_iter(count=17)) == users | others
    assert set(client.scan_iter(match="user:*", count=25)) == users
    assert set(client.scan_iter(match="user:1?", _type="string")) == {
        b"user:%d" % i for i in range(10, 20)
    }
    assert set(client.scan_iter(match="other:*", _type="STRING", count=1000)) == others
    assert list(client.scan_iter(_type="hash")) == []
    cursor, page = client.scan(0, count=5)
    assert cursor != 0 and len(page) == len(set(page))


def test_redis_asyncio_scan_iter(cluster: Cluster) -> None:
    users = fill(cluster.client(), 250)

    async def iterate() -> tuple[set[bytes], set[bytes], list[bytes]]:
        client = redis.asyncio.Redis(port=cluster.proxy.port)
        try:
            every = {key async for key in client.scan_iter(count=30)}
            matched = {key async for key in client.scan_iter(match="user:2*", _type="string")}
            lists = [key async for key in client.scan_iter(_type="list")]
            return every, matched, lists
        finally:
            await client.aclose()

    every, matched, lists = asyncio.run(iterate())
    assert every == users
    assert matched == {key for key in users if key.startswith(b"user:2")}
    assert lists == []


def test_deleted_expired_and_internal_keys_never_show(cluster: Cluster) -> None:
    client = cluster.client()
    kept = fill(client, 100)
    deleted = fill(client, 50, "deleted:")
    client.delete(*deleted)
    expiring = fill(client, 50, "expiring:")
    for key in expiring:
        client.pexpire(key, 50)
    assert wait_for(lambda: client.exists(*expiring) == 0)
    held = replica_keys(cluster, 0)
    assert deleted <= held and expiring <= held  # tombstones, and expired records in their grace
    assert any(key.startswith(b"__leaderless:") for key in held)
    assert set(client.scan_iter(count=7)) == kept
    assert set(client.scan_iter(match="__leaderless:*")) == set()
    assert set(client.keys("*")) == kept
    assert client.keys("deleted:*") == [] and client.keys("expiring:*") == []
    assert client.dbsize() == len(kept)


def test_an_iteration_completes_when_the_replica_it_scans_goes_down(cluster: Cluster) -> None:
    client = cluster.client()
    users = fill(client, 2000)
    seen: set[bytes] = set()
    cursor, page = client.scan(0, count=100)
    seen.update(page)
    cursor, page = client.scan(cursor, count=100)
    seen.update(page)
    assert cursor != 0
    scanned = cursor & ((1 << REPLICA_BITS) - 1)
    cluster.nodes[scanned].stop()
    while cursor != 0:
        cursor, page = client.scan(cursor, count=100)
        seen.update(page)
        assert cursor & ((1 << REPLICA_BITS) - 1) != scanned or cursor == 0
    assert seen == users


def test_scan_iter_completes_when_a_replica_goes_down_between_pages(cluster: Cluster) -> None:
    """redis-py's scan_iter, with a replica stopped after each of the first pages: whichever
    replica the iteration is on, it still lists every key."""
    client = cluster.client()
    users = fill(client, 1500)
    seen = set()
    for count, key in enumerate(client.scan_iter(count=200)):
        seen.add(key)
        if count == 300:
            cluster.nodes[2].stop()
    assert seen == users


def test_keys_lists_visible_matching_keys_once(cluster: Cluster) -> None:
    client = cluster.client()
    users = fill(client, 1200)
    client.delete("user:7")
    keys = client.keys("*")
    assert len(keys) == len(set(keys)) == len(users) - 1
    assert set(keys) == users - {b"user:7"}
    assert set(client.keys("user:1[0-2]")) == {b"user:10", b"user:11", b"user:12"}
    assert client.keys("user:7") == []


def test_randomkey_answers_only_visible_keys(cluster: Cluster) -> None:
    client = cluster.client()
    assert client.randomkey() is None
    deleted = fill(client, 300, "deleted:")
    client.delete(*deleted)
    assert client.randomkey() is None
    client.set("alive", "1")
    assert {client.randomkey() for _ in range(5)} == {b"alive"}
    live = fill(client, 20)
    assert {client.randomkey() for _ in range(20)} <= live | {b"alive"}


def test_scan_in_a_transaction(cluster: Cluster) -> None:
    client = cluster.client()
    client.set("a", "1")
    with client.pipeline(transaction=True) as pipe:
        pipe.set("b", "2").scan(0).keys("*").delete("a").scan(0, _type="string")
        replies = pipe.execute()
    assert replies[0] is True
    assert replies[1][0] == 0 and set(replies[1][1]) == {b"a", b"b"}
    assert set(replies[2]) == {b"a", b"b"}
    assert replies[4] == (0, [b"b"])


def test_pipelined_writes_behind_a_scan_do_not_overtake_it(cluster: Cluster) -> None:
    """A SCAN reads a page's keys at quorum after the replica listed them: a DEL pipelined
    behind it waits, as it would behind Redis's SCAN."""
    client = cluster.client()
    assert wait_for(lambda: all_in_sync(client), 10), "a SCAN needs N - W + 1 in-sync replicas"
    for index in range(30):
        key = f"k{index}"
        pipe = client.pipeline(transaction=False)
        pipe.set(key, 1).scan(0, match=key, count=1000).keys(key).randomkey().delete(key)
        pipe.keys(key).scan(0, match=key, count=1000)
        assert pipe.execute() == [
            True,
            (0, [key.encode()]),
            [key.encode()],
            key.encode(),
            1,
            [],
            (0, []),
        ]


def all_in_sync(client: redis.Redis) -> bool:
    """Whether the proxy counts every replica as holding its data (a fresh proxy checks each
    one's membership first)."""
    info = client.info("leaderless")
    nodes = [value for name, value in info.items() if name.startswith("node")]
    return bool(nodes) and all(node["health"] == "in_sync" for node in nodes)


def scanned_replicas(client: redis.Redis) -> tuple[set[int], set[bytes]]:
    """The replicas a whole iteration scanned (from its cursors), and the keys it listed."""
    replicas, keys = set(), set()
    cursor, page = client.scan(0, count=20)
    while cursor != 0:
        replicas.add(cursor & ((1 << REPLICA_BITS) - 1))
        keys.update(page)
        cursor, page = client.scan(cursor, count=20)
    return replicas, keys | set(page)


def test_a_call_fails_when_too_few_replicas_can_be_scanned(cluster: Cluster) -> None:
    """Past its first replica, an iteration whose other two replicas go down cannot go on:
    the call fails with NOQUORUM rather than end the iteration short."""
    client = cluster.client()
    fill(client, 500)
    cursor, _ = client.scan(0, count=50)
    while cursor & ((1 << REPLICA_BITS) - 1) == 0:
        cursor, _ = client.scan(cursor, count=50)
        assert cursor != 0
    for node in cluster.nodes[1:]:
        node.stop()
    with pytest.raises(redis.ResponseError, match=r"^NOQUORUM keyspace iteration needs 2 "):
        client.scan(cursor, count=50)


def test_with_a_sloppy_quorum_every_replica_that_can_be_is_scanned(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(3)
    proxy = start_proxy(nodes, "--sloppy-quorum", "yes")
    try:
        client = proxy.client()
        users = fill(client, 400)
        assert scanned_replicas(client) == ({0, 1, 2}, users)
        nodes[0].stop()
        assert scanned_replicas(client) == ({1, 2}, users)
    finally:
        proxy.stop()


def test_info_keyspace_counts_what_clients_see_as_the_reference_does(
    cluster: Cluster, shared_reference: LocalRedisNode
) -> None:
    """Tombstones and expired records kept for their grace are keys on the replicas, not in
    INFO keyspace's keys= or expires= (avg_ttl is always 0 through the proxy)."""
    reference = shared_reference.client()
    reference.flushall()
    for client in (cluster.client(), reference):
        fill(client, 20)
        client.set("timed", "1", ex=1000)
        client.set("deleted", "1", ex=1000)
        client.delete("deleted")
        client.set("expired", "1", px=50)
        assert wait_for(lambda client=client: client.exists("expired") == 0)
    held = replica_keys(cluster, 0)
    assert {b"deleted", b"expired"} <= held
    ours, theirs = cluster.client().info("keyspace")["db0"], reference.info("keyspace")["db0"]
    assert (ours["keys"], ours["expires"]) == (theirs["keys"], theirs["expires"]) == (21, 1)
