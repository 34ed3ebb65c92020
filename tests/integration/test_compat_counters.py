"""INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT against the reference Valkey (Redis 7.2), byte
for byte in RESP2 and RESP3: every error in Redis's order, overflow at both ends, the long double
digits INCRBYFLOAT shows, and what GET, STRLEN, APPEND, TYPE and the expiry commands see of a
counter."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
import redis.asyncio
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import range_of
from leaderless.replication.record import Record, encode_record

from tests.integration.conftest import Cluster
from tests.support.compat import FUTURE_MS, Case, c, case, mismatches, pttl, ttl

pytestmark = pytest.mark.integration

LLONG_MAX = "9223372036854775807"
LLONG_MIN = "-9223372036854775808"

CASES: list[Case] = [
    case(
        "INCR and DECR",
        c("INCR", "n"),
        c("INCR", "n"),
        c("DECR", "n"),
        c("DECR", "m"),
        c("GET", "n"),
        c("GET", "m"),
        c("STRLEN", "m"),
        c("TYPE", "n"),
        c("APPEND", "n", "0"),
        c("INCR", "n"),
        c("GET", "n"),
        c("INCR", "n", "x"),
        c("DECR"),
    ),
    case(
        "INCRBY and DECRBY",
        c("INCRBY", "n", 10),
        c("INCRBY", "n", -25),
        c("DECRBY", "n", 5),
        c("DECRBY", "n", -100),
        c("INCRBY", "n", 0),
        c("INCRBY", "z", 0),
        c("GET", "z"),
        c("INCRBY", "n", "1.5"),
        c("INCRBY", "n", " 1"),
        c("INCRBY", "n", "+1"),
        c("INCRBY", "n", "01"),
        c("INCRBY", "n", ""),
        c("INCRBY", "n", "99999999999999999999"),
        c("DECRBY", "n", LLONG_MIN),
        c("DECRBY", "d", LLONG_MIN),
        c("INCRBY", "d", LLONG_MIN),
        c("GET", "n"),
    ),
    case(
        "overflow",
        c("SET", "n", LLONG_MAX),
        c("INCR", "n"),
        c("INCRBY", "n", 0),
        c("DECR", "n"),
        c("INCRBY", "n", 1),
        c("SET", "m", LLONG_MIN),
        c("DECR", "m"),
        c("INCR", "m"),
        c("DECRBY", "m", 1),
        c("INCRBY", "m", LLONG_MAX),
        c("GET", "m"),
    ),
    case(
        "values that are not integers",
        c("SET", "s", "abc"),
        c("INCR", "s"),
        c("SET", "s", " 5"),
        c("INCR", "s"),
        c("SET", "s", "5 "),
        c("DECR", "s"),
        c("SET", "s", "-0"),
        c("INCR", "s"),
        c("SET", "s", "007"),
        c("INCRBY", "s", 1),
        c("SET", "s", "+5"),
        c("INCR", "s"),
        c("SET", "s", "1.5"),
        c("INCR", "s"),
        c("SET", "s", "99999999999999999999"),
        c("INCR", "s"),
        c("SET", "s", ""),
        c("INCR", "s"),
        c("SET", "s", "-10"),
        c("INCR", "s"),
        c("GET", "s"),
    ),
    case(
        "INCRBYFLOAT",
        c("INCRBYFLOAT", "f", "0.1"),
        c("INCRBYFLOAT", "f", "0.1"),
        c("INCRBYFLOAT", "f", "10"),
        c("GET", "f"),
        c("INCRBYFLOAT", "g", "1000.1"),
        c("INCRBYFLOAT", "g", "5.0e3"),
        c("INCRBYFLOAT", "h", "12345678.123456789012"),
        c("INCRBYFLOAT", "h", "-12345678.123456789012"),
        c("INCRBYFLOAT", "i", "1e300"),
        c("INCRBYFLOAT", "i", "1e300"),
        c("INCRBYFLOAT", "j", "-0.0"),
        c("INCRBYFLOAT", "j", "1.0000000000000000001"),
        c("INCRBYFLOAT", "j", "3.0e3"),
        c("INCRBYFLOAT", "j", "-3001"),
        c("INCRBYFLOAT", "j", "0x10"),
        c("INCRBYFLOAT", "j", ".5"),
        c("INCRBYFLOAT", "j", "5."),
        c("INCRBYFLOAT", "j", "1E2"),
        c("GET", "j"),
        c("INCR", "j"),
        c("INCRBYFLOAT", "j", "0.5"),
        c("INCR", "j"),
        c("GET", "j"),
    ),
    case(
        "INCRBYFLOAT errors",
        c("INCRBYFLOAT", "f", "abc"),
        c("INCRBYFLOAT", "f", ""),
        c("INCRBYFLOAT", "f", " 1"),
        c("INCRBYFLOAT", "f", "1 "),
        c("INCRBYFLOAT", "f", "nan"),
        c("INCRBYFLOAT", "f", "inf"),
        c("INCRBYFLOAT", "f", "-infinity"),
        c("INCRBYFLOAT", "f", "1e5000"),
        c("INCRBYFLOAT", "f", "1e-5000"),
        c("INCRBYFLOAT", "f", "1e308"),
        c("INCRBYFLOAT", "f", "1e308"),
        c("SET", "s", "abc"),
        c("INCRBYFLOAT", "s", "abc"),
        c("INCRBYFLOAT", "s", "1"),
        c("SET", "s", "inf"),
        c("INCRBYFLOAT", "s", "1"),
        c("SET", "s", "10.0"),
        c("INCRBYFLOAT", "s", "0"),
        c("SET", "s", "0x10"),
        c("INCRBYFLOAT", "s", "1"),
        c("INCRBYFLOAT", "s", "1"),
        c("INCRBYFLOAT", "s"),
        c("GET", "f"),
    ),
    case(
        "a counter's expiry",
        c("SET", "n", 10, "EX", 100),
        c("INCR", "n"),
        ttl("n"),
        c("INCRBYFLOAT", "n", "1.5"),
        ttl("n"),
        c("PERSIST", "n"),
        c("INCR", "n"),
        ttl("n"),
        c("INCR", "m"),
        c("EXPIRE", "m", 100),
        c("INCR", "m"),
        ttl("m"),
        c("PEXPIREAT", "m", FUTURE_MS),
        c("DECR", "m"),
        pttl("m"),
        c("GETEX", "m", "PERSIST"),
        ttl("m"),
        c("GETEX", "m", "EX", 50),
        c("INCR", "m"),
        ttl("m"),
        c("EXPIRE", "m", 0),
        c("INCR", "m"),
        c("GET", "m"),
    ),
    case(
        "a counter reset and copied",
        c("INCR", "n"),
        c("INCR", "n"),
        c("SET", "n", 100),
        c("INCR", "n"),
        c("DEL", "n"),
        c("INCR", "n"),
        c("GETSET", "n", 5),
        c("INCRBY", "n", 5),
        c("COPY", "n", "copy"),
        c("INCR", "copy"),
        c("RENAME", "n", "renamed"),
        c("INCR", "renamed"),
        c("GETDEL", "renamed"),
        c("INCR", "renamed"),
        c("SETRANGE", "copy", 0, "9"),
        c("INCR", "copy"),
        c("MGET", "n", "copy", "renamed"),
        c("EXISTS", "n", "copy", "renamed"),
        c("OBJECT", "ENCODING", "copy"),
        c("INCRBYFLOAT", "float", "1.5"),
        c("OBJECT", "ENCODING", "float"),
        c("TYPE", "float"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_counter_replies_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    assert not (
        found := mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, CASES)
    ), found


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_counter_methods(shared_cluster: Cluster, protocol: int) -> None:
    client = shared_cluster.client(protocol)
    client.flushall()
    assert client.incr("n") == 1
    assert client.incr("n", 5) == 6
    assert client.incrby("n", 4) == 10
    assert client.decr("n") == 9
    assert client.decrby("n", 9) == 0
    assert client.incrbyfloat("f", 2.5) == 2.5
    assert client.incrbyfloat("f", -0.5) == 2.0
    assert client.get("f") == b"2"
    assert client.get("n") == b"0"


def test_concurrent_increments_of_one_key_through_one_proxy_answer_distinct_values(
    shared_cluster: Cluster,
) -> None:
    """Many connections increment one key at once: none waits for another, none is lost, and
    each answers its own value, as in Redis."""

    async def run() -> tuple[list[int], bytes | None]:
        clients = [
            redis.asyncio.Redis(host="127.0.0.1", port=shared_cluster.proxy.port) for _ in range(20)
        ]
        try:
            await clients[0].delete("hot")
            replies = await asyncio.gather(
                *(client.incr("hot") for client in clients for _ in range(25))
            )
            return list(replies), await clients[0].get("hot")
        finally:
            for client in clients:
                await client.aclose()

    replies, final = asyncio.run(run())
    assert sorted(replies) == list(range(1, 501))
    assert final == b"500"


def test_increments_in_a_transaction_count_and_see_each_other(shared_cluster: Cluster) -> None:
    client = shared_cluster.client()
    client.delete("t")
    with client.pipeline(transaction=True) as pipe:
        pipe.incr("t").incrby("t", 5).get("t").expire("t", 100).decr("t")
        assert pipe.execute() == [1, 6, b"6", True, 5]
    assert client.incr("t") == 6
    assert 0 < client.ttl("t") <= 100


def test_a_counter_state_the_proxy_cannot_read_fails_only_its_request(
    shared_cluster: Cluster,
) -> None:
    """Foreign bytes flagged as a counter on every replica: GET answers an error and the
    connection goes on serving."""
    written = Record(Timestamp(int(time.time() * 1000), 0, 1), False, 0, b"", counter=True)
    header = encode_record(written, range_of(b"garbled"))
    for node in shared_cluster.nodes:
        with node.client() as replica:
            replica.set("garbled", header + b"not a counter state")
    client = shared_cluster.client()
    with pytest.raises(redis.ResponseError, match="internal error"):
        client.get("garbled")
    assert client.ping() is True
    assert client.set("garbled", "fine") is True
    assert client.get("garbled") == b"fine"
