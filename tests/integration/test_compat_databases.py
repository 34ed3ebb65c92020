"""Databases against the reference, byte for byte: SELECT, each database its own keyspace
(DBSIZE, FLUSHDB, FLUSHALL), MOVE, SWAPDB's errors, RESET back to database 0; then what a
table cannot say: SWAPDB refused, CLIENT INFO's db=, and redis-py's `db=` and URL."""

from __future__ import annotations

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.proxy.commands.databases import SWAPDB_REFUSED

from tests.integration.conftest import Cluster
from tests.support.compat import any_hello_id, c, case, connect, mismatches, raw, request, ttl

pytestmark = pytest.mark.integration

CASES = [
    case("SELECT each database", *(c("SELECT", db) for db in range(16)), c("PING")),
    case(
        "SELECT out of range or not a number",
        c("SELECT", 16),
        c("SELECT", -1),
        c("SELECT", "abc"),
        c("SELECT", ""),
        c("SELECT", " 1"),
        c("SELECT", "1.0"),
        c("SELECT", 2147483648),
        c("SELECT"),
        c("SELECT", 1, 2),
    ),
    case(
        "a key in database 1 is not in database 0",
        c("SELECT", 1),
        c("SET", "k", "one"),
        c("GET", "k"),
        c("DBSIZE"),
        c("SELECT", 0),
        c("GET", "k"),
        c("EXISTS", "k"),
        c("DBSIZE"),
        c("SET", "k", "zero"),
        c("SELECT", 1),
        c("GET", "k"),
        c("DEL", "k"),
        c("SELECT", 0),
        c("GET", "k"),
    ),
    case(
        "DBSIZE and FLUSHDB per database, FLUSHALL for all",
        c("MSET", "a", "1", "b", "2"),
        c("SELECT", 2),
        c("SET", "a", "x"),
        c("SELECT", 15),
        c("MSET", "p", "1", "q", "2", "r", "3"),
        c("DBSIZE"),
        c("FLUSHDB"),
        c("DBSIZE"),
        c("SELECT", 2),
        c("DBSIZE"),
        c("SELECT", 0),
        c("DBSIZE"),
        c("FLUSHALL"),
        c("DBSIZE"),
        c("SELECT", 2),
        c("DBSIZE"),
        c("GET", "a"),
    ),
    case(
        "a SET right after FLUSHDB in a pipeline survives it",
        c("SELECT", 4),
        raw(request("FLUSHDB") + request("SET", "k", "v") + request("GET", "k"), 3),
    ),
    case(
        "a SET right after FLUSHALL in a pipeline survives it",
        c("SELECT", 9),
        raw(request("SET", "k", "old") + request("FLUSHALL") + request("SET", "k", "v"), 3),
        raw(request("GET", "k") + request("DBSIZE") + request("SELECT", 0) + request("DBSIZE"), 4),
    ),
    case(
        "a SELECT in a pipeline leaves the commands before it in their database",
        c("SELECT", 1),
        c("SET", "k", "one"),
        c("SELECT", 0),
        raw(
            request("SET", "k", "zero", "NX")
            + request("GET", "k")
            + request("DBSIZE")
            + request("SELECT", 1)
            + request("GET", "k")
            + request("MOVE", "k", 2)
            + request("DBSIZE")
            + request("SELECT", 2)
            + request("GET", "k"),
            9,
        ),
    ),
    case(
        "a RESET in a pipeline leaves the commands before it in their database",
        c("SELECT", 3),
        c("SET", "k", "three"),
        raw(
            request("SET", "k", "x", "NX")
            + request("GET", "k")
            + request("RESET")
            + request("GET", "k")
            + request("DBSIZE"),
            5,
        ),
    ),
    case(
        "a pipeline across databases",
        raw(
            request("SELECT", 1)
            + request("SET", "k", "one")
            + request("SELECT", 2)
            + request("SET", "k", "two")
            + request("SELECT", 1)
            + request("GET", "k")
            + request("SELECT", 2)
            + request("GET", "k")
            + request("SELECT", 0)
            + request("GET", "k"),
            10,
        ),
    ),
    case(
        "MOVE",
        c("SET", "k", "v"),
        c("MOVE", "k", 1),
        c("GET", "k"),
        c("MOVE", "k", 1),
        c("SELECT", 1),
        c("GET", "k"),
        c("SET", "other", "in one"),
        c("SELECT", 0),
        c("SET", "other", "in zero"),
        c("MOVE", "other", 1),
        c("GET", "other"),
        c("SELECT", 1),
        c("GET", "other"),
        c("MOVE", "missing", 0),
        c("MOVE", "k", 1),
    ),
    case(
        "MOVE keeps the expiry",
        c("SET", "k", "v", "EX", 1000),
        c("MOVE", "k", 3),
        c("SELECT", 3),
        ttl("k"),
        c("GET", "k"),
    ),
    case(
        "MOVE errors",
        c("MOVE", "k", "abc"),
        c("MOVE", "k", 99999999999),
        c("MOVE", "k", 16),
        c("MOVE", "k", -1),
        c("MOVE", "k", 0),
        c("MOVE", "k"),
        c("MOVE", "k", 1, 2),
    ),
    case(
        "SWAPDB errors, and a database swapped with itself",
        c("SWAPDB", "a", 1),
        c("SWAPDB", 0, "b"),
        c("SWAPDB", 99999999999, 1),
        c("SWAPDB", 16, "b"),
        c("SWAPDB", 0, 16),
        c("SWAPDB", -1, 1),
        c("SWAPDB", 3, 3),
        c("SWAPDB", 1),
    ),
    case(
        "RESET goes back to database 0",
        c("SET", "k", "zero"),
        c("SELECT", 5),
        c("SET", "k", "five"),
        c("RESET"),
        c("GET", "k"),
    ),
    case(
        "HELLO keeps the database",
        c("SELECT", 6),
        c("SET", "k", "six"),
        c("HELLO", 2, normalise=any_hello_id),
        c("GET", "k"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_databases_replies_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    assert not (
        found := mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, CASES)
    ), found


# -- deliberate divergences, checked against their documented replies -----------------------


def test_swapdb_of_two_databases_is_refused_with_the_documented_error(
    shared_cluster: Cluster,
) -> None:
    with connect(shared_cluster.proxy.port) as connection:
        connection.send(request("SWAPDB", 0, 1))
        assert connection.read_reply() == b"-%s\r\n" % SWAPDB_REFUSED.encode()


def test_client_info_shows_the_selected_database(shared_cluster: Cluster) -> None:
    with shared_cluster.client() as client:
        client.select(7)
        assert client.client_info()["db"] == 7
        client.execute_command("RESET")
        assert client.client_info()["db"] == 0


# -- the client's view ----------------------------------------------------------------------


def test_redis_py_db_option_and_url_select_the_database(shared_cluster: Cluster) -> None:
    port = shared_cluster.proxy.port
    with (
        redis.Redis(port=port, db=3) as three,
        redis.Redis.from_url(f"redis://127.0.0.1:{port}/1") as one,
        redis.Redis(port=port) as zero,
    ):
        zero.flushall()
        three.set("k", "three")
        one.set("k", "one")
        assert (three.get("k"), one.get("k"), zero.get("k")) == (b"three", b"one", None)
        assert (three.dbsize(), one.dbsize(), zero.dbsize()) == (1, 1, 0)
        one.flushdb()
        assert (three.get("k"), one.get("k")) == (b"three", None)
        pipe = three.pipeline(transaction=False)
        pipe.set("p", "1").get("p").move("p", 0).get("p")
        assert pipe.execute() == [True, b"1", True, None]
        assert zero.get("p") == b"1"
