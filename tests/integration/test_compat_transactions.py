"""MULTI, EXEC and DISCARD against the reference, byte for byte in RESP2 and RESP3: queueing,
the errors that abort EXEC, runtime errors that do not, and what runs at once inside a
transaction; then redis-py's transactional pipeline."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster
from tests.support.compat import c, case, mismatches, raw, request, ttl
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

CASES = [
    case(
        "a transaction runs its commands in order",
        c("MULTI"),
        c("SET", "k", "1"),
        c("GET", "k"),
        c("SET", "k", "2", "GET"),
        c("APPEND", "k", "3"),
        c("EXPIRE", "k", 100),
        c("MGET", "k", "missing"),
        c("DEL", "k", "missing"),
        c("EXEC"),
        c("EXISTS", "k"),
    ),
    case(
        "pipelined, with plain GETs and SETs inside",
        raw(
            request("MULTI")
            + request("SET", "a", "1")
            + request("SET", "b", "2")
            + request("GET", "a")
            + request("GET", "b")
            + request("EXEC")
            + request("GET", "a"),
            replies=7,
        ),
    ),
    case(
        "an empty transaction, DISCARD, and errors outside one",
        c("EXEC"),
        c("DISCARD"),
        c("MULTI"),
        c("EXEC"),
        c("MULTI"),
        c("SET", "k", "v"),
        c("DISCARD"),
        c("GET", "k"),
        c("EXEC"),
        c("multi"),
        c("exec"),
        c("EXEC", "extra"),
        c("MULTI"),
        c("SET", "k", "v"),
        c("EXEC", "extra"),
        c("EXEC"),
        c("GET", "k"),
    ),
    case(
        "a request that cannot be queued aborts EXEC",
        c("MULTI"),
        c("SET", "k", "v"),
        c("SET", "k"),
        c("NOSUCH", "x"),
        c("MULTI"),
        c("EXEC"),
        c("GET", "k"),
        c("MULTI"),
        c("SET", "k", "v"),
        c("MULTI"),
        c("EXEC"),
        c("GET", "k"),
    ),
    case(
        "a runtime error is one entry and the rest applies",
        c("SET", "s", "text"),
        c("MULTI"),
        c("SET", "k", "v", "NX", "XX"),
        c("SET", "k", "v"),
        c("EXPIRE", "k", "abc"),
        c("SETRANGE", "k", -1, "x"),
        c("GET", "k"),
        c("EXEC"),
        c("GET", "k"),
    ),
    case(
        "reads inside a transaction see its own writes, deletions and expiries",
        c("SET", "b", "old"),
        c("SET", "c", "kept"),
        c("MULTI"),
        c("SET", "a", "1"),
        c("APPEND", "a", "x"),
        c("GET", "a"),
        c("DEL", "b"),
        c("GET", "b"),
        c("EXISTS", "a", "b", "c"),
        c("MGET", "a", "b", "c", "missing"),
        c("SET", "b", "new", "NX"),
        c("SETRANGE", "b", 0, "N"),
        c("STRLEN", "b"),
        c("SET", "a", "2", "GET"),
        c("GETDEL", "a"),
        c("GET", "a"),
        c("SET", "e", "v", "EX", 100),
        c("TTL", "e"),
        c("PERSIST", "e"),
        c("TTL", "e"),
        c("RENAME", "c", "d"),
        c("MGET", "c", "d"),
        c("EXEC"),
        c("MGET", "a", "b", "c", "d", "e"),
        ttl("e"),
    ),
    case(
        "keyspace commands inside a transaction see the writes before them",
        c("SET", "old", "1"),
        c("MULTI"),
        c("SET", "a", "1"),
        c("DBSIZE"),
        c("COPY", "a", "b"),
        c("GET", "b"),
        c("MOVE", "a", 3),
        c("EXISTS", "a"),
        c("FLUSHDB"),
        c("SET", "after", "1"),
        c("DBSIZE"),
        c("SELECT", 3),
        c("GET", "a"),
        c("SELECT", 0),
        c("EXEC"),
        c("MGET", "old", "a", "b", "after"),
        c("SELECT", 3),
        c("GET", "a"),
    ),
    case(
        "SELECT inside a transaction applies to what follows it",
        c("MULTI"),
        c("SELECT", 2),
        c("SET", "k", "two"),
        c("SELECT", 0),
        c("SET", "k", "zero"),
        c("EXEC"),
        c("GET", "k"),
        c("SELECT", 2),
        c("GET", "k"),
    ),
    case(
        "pipelined: the database a transaction runs in, and the one after it",
        raw(
            request("MULTI")
            + request("SET", "k", "zero")
            + request("EXEC")
            + request("SELECT", 1)
            + request("GET", "k")
            + request("MULTI")
            + request("SET", "k", "one")
            + request("SELECT", 2)
            + request("SET", "k", "two")
            + request("EXEC")
            + request("GET", "k")
            + request("SELECT", 0)
            + request("GET", "k")
            + request("SELECT", 1)
            + request("GET", "k"),
            replies=15,
        ),
    ),
    case(
        "WATCH: a key this client changes, sets or deletes aborts EXEC",
        c("SET", "a", "1"),
        c("WATCH", "a", "missing"),
        c("SET", "a", "2"),
        c("MULTI"),
        c("GET", "a"),
        c("EXEC"),
        c("WATCH", "missing"),
        c("SET", "missing", "now"),
        c("MULTI"),
        c("GET", "missing"),
        c("EXEC"),
        c("WATCH", "a"),
        c("DEL", "a"),
        c("MULTI"),
        c("EXEC"),
    ),
    case(
        "WATCH: a transaction that runs nothing selects nothing",
        c("SET", "a", "1"),
        c("WATCH", "a"),
        c("SET", "a", "2"),
        c("MULTI"),
        c("SELECT", 3),
        c("SET", "k", "three"),
        c("EXEC"),
        c("SET", "k", "zero"),
        c("SELECT", 3),
        c("GET", "k"),
    ),
    case(
        "WATCH: unchanged keys run the transaction; EXEC, DISCARD and UNWATCH forget them",
        c("SET", "a", "1"),
        c("WATCH", "a", "b"),
        c("GET", "a"),
        c("MULTI"),
        c("GET"),
        c("DISCARD"),
        c("SET", "a", "2"),
        c("MULTI"),
        c("SET", "b", "x"),
        c("EXEC"),
        c("WATCH", "a"),
        c("UNWATCH"),
        c("SET", "a", "3"),
        c("MULTI"),
        c("GET", "a"),
        c("EXEC"),
        c("MULTI"),
        c("WATCH", "a"),
        c("EXEC"),
        c("WATCH"),
        c("UNWATCH", "x"),
    ),
    case(
        "RESET ends a transaction; commands behind EXEC wait for it",
        c("MULTI"),
        c("SET", "k", "v"),
        c("RESET"),
        c("EXEC"),
        c("GET", "k"),
        raw(
            request("MULTI")
            + request("SET", "k", "1", "EX", 100)
            + request("EXEC")
            + request("SET", "k", "2", "KEEPTTL")
            + request("GET", "k"),
            replies=5,
        ),
        ttl("k"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_transaction_replies_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    found = mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, CASES)
    assert not found, found


def test_exec_runs_nothing_when_a_watched_key_changed_through_another_proxy(
    shared_cluster: Cluster,
) -> None:
    """Two clients stand for two proxies: the watch is of the replicas, not of a connection."""
    with shared_cluster.client() as watcher, shared_cluster.client() as other:
        watcher.flushall()
        watcher.set("balance", "10")
        with watcher.pipeline() as pipe:
            pipe.watch("balance")
            other.set("balance", "20")
            pipe.multi()
            pipe.set("balance", "0")
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert watcher.get("balance") == b"20"
        with watcher.pipeline() as pipe:
            pipe.watch("balance")
            pipe.multi()
            pipe.set("balance", "0")
            assert pipe.execute() == [True]
        assert watcher.get("balance") == b"0"


def test_exec_runs_nothing_when_a_watched_key_expired_since(shared_cluster: Cluster) -> None:
    with shared_cluster.client() as client:
        client.flushall()
        client.set("session", "v", px=1000)
        with client.pipeline() as pipe:
            pipe.watch("session")
            assert wait_for(lambda: client.exists("session") == 0)
            pipe.multi()
            pipe.set("other", "x")
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert client.exists("other") == 0


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_transactional_pipeline(shared_cluster: Cluster, protocol: int) -> None:
    with shared_cluster.client(protocol) as client:
        client.flushall()
        with client.pipeline() as pipe:
            pipe.set("counter", "1").append("counter", "0").get("counter").expire("counter", 60)
            assert pipe.execute() == [True, 2, b"10", True]
        with client.pipeline() as pipe:
            pipe.set("k", "v").execute_command("SET", "k")
            with pytest.raises(redis.ResponseError):
                pipe.execute()
        assert client.get("k") is None


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_asyncio_transactional_pipeline(shared_cluster: Cluster, protocol: int) -> None:
    async def transact() -> list[object]:
        client = redis.asyncio.Redis(port=shared_cluster.proxy.port, protocol=protocol)
        try:
            await client.flushall()
            async with client.pipeline(transaction=True) as pipe:
                pipe.set("k", "1").append("k", "2").getdel("k").exists("k")
                return await pipe.execute()
        finally:
            await client.aclose()

    assert asyncio.run(transact()) == [True, 2, b"12", 0]
