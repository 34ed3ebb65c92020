"""The string commands beyond GET/SET/MGET/MSET against the reference Valkey (Redis 7.2), byte
for byte in RESP2 and RESP3: every option, every error, edge values, keys with expiries; then
each command through redis-py's own method."""

from __future__ import annotations

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster
from tests.support.compat import FUTURE_MS, FUTURE_S, Case, c, case, mismatches, pttl, ttl

pytestmark = pytest.mark.integration

BINARY = b"\x00\xff\r\n\x80bin"
LLONG_MAX = "9223372036854775807"
LLONG_MIN = "-9223372036854775808"

CASES: list[Case] = [
    case(
        "SETEX and PSETEX",
        c("SETEX", "k", 100, "v"),
        c("GET", "k"),
        ttl("k"),
        c("PSETEX", "k", 100_000, "w"),
        c("GET", "k"),
        pttl("k"),
        c("SET", "k", "x"),
        c("SETEX", "k", 500, BINARY),
        c("GET", "k"),
        ttl("k"),
        c("SETEX", "k", 0, "v"),
        c("SETEX", "k", -1, "v"),
        c("PSETEX", "k", 0, "v"),
        c("SETEX", "k", "abc", "v"),
        c("SETEX", "k", "010", "v"),
        c("SETEX", "k", "1.5", "v"),
        c("PSETEX", "k", "", "v"),
        c("SETEX", "k", 9223372036854775, "v"),
        c("SETEX", "k", 9223372036854776, "v"),
        c("PSETEX", "k", LLONG_MAX, "v"),
        c("SETEX", "k", 99999999999999999999, "v"),
        c("GET", "k"),
        ttl("k"),
        c("SETEX", "k", 10),
        c("PSETEX", "k", 10, "v", "x"),
        c("setex", "m", "100", ""),
        c("GET", "m"),
        ttl("m"),
    ),
    case(
        "SETNX",
        c("SETNX", "k", "v"),
        c("SETNX", "k", "w"),
        c("GET", "k"),
        c("SET", "e", "v", "PX", 1),
        c("PSETEX", "p", 1, "v"),
        c("SET", "t", "v", "EX", 100),
        c("SETNX", "t", "w"),
        ttl("t"),
        c("SETNX", "b", BINARY),
        c("GET", "b"),
        c("SETNX", "k"),
        c("SETNX", "k", "v", "x"),
    ),
    case(
        "SETNX on a key whose expiry has passed",
        c("SET", "k", "old", "PXAT", 1),
        c("SETNX", "k", "new"),
        c("GET", "k"),
        ttl("k"),
    ),
    case(
        "GETSET",
        c("GETSET", "k", "v"),
        c("GETSET", "k", "w"),
        c("GET", "k"),
        c("SET", "k", "x", "EX", 100),
        c("GETSET", "k", "y"),
        ttl("k"),
        c("GETSET", "k", ""),
        c("GETSET", "k", BINARY),
        c("GET", "k"),
        c("GETSET", "k"),
        c("GETSET", "k", "v", "x"),
    ),
    case(
        "GETDEL",
        c("GETDEL", "k"),
        c("SET", "k", "v", "EX", 100),
        c("GETDEL", "k"),
        c("EXISTS", "k"),
        c("GETDEL", "k"),
        c("SET", "e", ""),
        c("GETDEL", "e"),
        c("SET", "g", "v", "PXAT", 1),
        c("GETDEL", "g"),
        c("DBSIZE"),
        c("GETDEL"),
        c("GETDEL", "a", "b"),
    ),
    case(
        "GETEX options",
        c("SET", "k", "v"),
        c("GETEX", "k"),
        ttl("k"),
        c("GETEX", "k", "EX", 100),
        ttl("k"),
        c("GETEX", "k", "PX", 500_000),
        pttl("k"),
        c("GETEX", "k", "EXAT", FUTURE_S),
        ttl("k"),
        c("GETEX", "k", "PXAT", FUTURE_MS),
        pttl("k"),
        c("GETEX", "k"),
        pttl("k"),
        c("GETEX", "k", "PERSIST"),
        ttl("k"),
        c("GETEX", "k", "PERSIST"),
        ttl("k"),
        c("GETEX", "k", "ex", 10, "ex", 1000),
        ttl("k"),
        c("GETEX", "k", "persist", "PERSIST"),
        ttl("k"),
        c("GETEX", "k", b"PX\x00junk", 100),
        pttl("k"),
        c("GET", "k"),
    ),
    case(
        "GETEX with a time already past deletes the key",
        c("SET", "k", "v"),
        c("GETEX", "k", "EXAT", 1),
        c("EXISTS", "k"),
        c("SET", "k", "v", "EX", 100),
        c("GETEX", "k", "PXAT", 1),
        c("GET", "k"),
        c("GETEX", "k", "PXAT", 1),
    ),
    case(
        "GETEX errors",
        c("SET", "k", "v", "EX", 100),
        c("GETEX", "k", "EX", 0),
        c("GETEX", "k", "EX", -1),
        c("GETEX", "k", "PX", 0),
        c("GETEX", "k", "EXAT", 0),
        c("GETEX", "k", "PXAT", -5),
        c("GETEX", "k", "EX", "abc"),
        c("GETEX", "k", "EX", "010"),
        c("GETEX", "k", "EX", " 5"),
        c("GETEX", "k", "EX", 9223372036854775),
        c("GETEX", "k", "EX", 9223372036854776),
        c("GETEX", "k", "PX", LLONG_MAX),
        c("GETEX", "k", "PX", 99999999999999999999),
        c("GETEX", "k", "EX", 10, "PX", 10),
        c("GETEX", "k", "EX", 10, "PERSIST"),
        c("GETEX", "k", "PERSIST", "EX", 10),
        c("GETEX", "k", "EX"),
        c("GETEX", "k", "PXAT"),
        c("GETEX", "k", "KEEPTTL"),
        c("GETEX", "k", "NX"),
        c("GETEX", "k", "GET"),
        c("GETEX", "k", "bogus"),
        c("GETEX", "k", "EX", "abc", "bogus"),
        ttl("k"),
        c("GETEX"),
    ),
    case(
        "GETEX on a missing key answers nil before it checks the expiry",
        c("GETEX", "k", "EX", 0),
        c("GETEX", "k", "EX", "abc"),
        c("GETEX", "k", "PX", LLONG_MAX),
        c("GETEX", "k", "PERSIST"),
        c("GETEX", "k", "FOO"),
        c("GETEX", "k", "EX", 1, "PX", 1),
        c("EXISTS", "k"),
    ),
    case(
        "APPEND and STRLEN",
        c("STRLEN", "k"),
        c("APPEND", "k", "Hello"),
        c("APPEND", "k", " World"),
        c("GET", "k"),
        c("STRLEN", "k"),
        c("APPEND", "k", ""),
        c("APPEND", "e", ""),
        c("EXISTS", "e"),
        c("STRLEN", "e"),
        c("APPEND", "b", BINARY),
        c("APPEND", "b", BINARY),
        c("GET", "b"),
        c("STRLEN", "b"),
        c("SET", "n", 12),
        c("APPEND", "n", 34),
        c("GET", "n"),
        c("APPEND", "k"),
        c("APPEND", "k", "a", "b"),
        c("STRLEN"),
        c("STRLEN", "a", "b"),
    ),
    case(
        "APPEND keeps the expiry, a missing or expired key gets none",
        c("SET", "k", "v", "EX", 100),
        c("APPEND", "k", "w"),
        ttl("k"),
        c("APPEND", "k", ""),
        ttl("k"),
        c("GET", "k"),
        c("SET", "g", "old", "PXAT", 1),
        c("APPEND", "g", "new"),
        c("GET", "g"),
        ttl("g"),
    ),
    case(
        "GETRANGE and SUBSTR",
        c("SET", "k", "Hello World"),
        *[
            c(name, "k", *pair)
            for name in ("GETRANGE", "SUBSTR")
            for pair in [
                (0, -1),
                (0, 4),
                (-3, -1),
                (-1, -3),
                (5, 3),
                (-100, -50),
                (-100, 100),
                (0, 100),
                (20, 30),
                (10, 10),
                (11, 11),
                (-1, -1),
                (3, -100),
                (-5, 2),
                (0, 0),
                (LLONG_MAX, LLONG_MAX),
                (LLONG_MIN, -1),
                (LLONG_MIN, LLONG_MAX),
                (-9223372036854775807, LLONG_MIN),
            ]
        ],
        c("GETRANGE", "missing", 0, -1),
        c("GETRANGE", "missing", 5, 1),
        c("SET", "e", ""),
        c("GETRANGE", "e", 0, -1),
        c("GETRANGE", "e", -1, 0),
        c("SET", "b", BINARY),
        c("GETRANGE", "b", 1, 3),
        c("SET", "n", 12345),
        c("GETRANGE", "n", 1, -2),
        c("GETRANGE", "k", "a", 1),
        c("GETRANGE", "missing", 1, "a"),
        c("GETRANGE", "k", "1.0", 2),
        c("SUBSTR", "k", 0, 9223372036854775808),
        c("GETRANGE", "k", 0),
        c("SUBSTR", "k", 0, 1, 2),
    ),
    case(
        "SETRANGE",
        c("SETRANGE", "k", 0, "Hello World"),
        c("SETRANGE", "k", 6, "Redis"),
        c("GET", "k"),
        c("SETRANGE", "k", 15, "!"),
        c("GET", "k"),
        c("STRLEN", "k"),
        c("SETRANGE", "k", 3, ""),
        c("SETRANGE", "k", 100, ""),
        c("STRLEN", "k"),
        c("SETRANGE", "p", 5, "x"),
        c("GET", "p"),
        c("SETRANGE", "e", 0, ""),
        c("SETRANGE", "e", 10, ""),
        c("EXISTS", "e"),
        c("SETRANGE", "b", 2, BINARY),
        c("GET", "b"),
        c("SET", "n", 12345),
        c("SETRANGE", "n", 1, "x"),
        c("GET", "n"),
    ),
    case(
        "SETRANGE keeps the expiry",
        c("SET", "k", "value", "EX", 100),
        c("SETRANGE", "k", 1, "A"),
        ttl("k"),
        c("GET", "k"),
        c("SET", "g", "old", "PXAT", 1),
        c("SETRANGE", "g", 1, "x"),
        c("GET", "g"),
        ttl("g"),
    ),
    case(
        "SETRANGE errors",
        c("SET", "k", "v"),
        c("SETRANGE", "k", -1, "x"),
        c("SETRANGE", "k", LLONG_MIN, "x"),
        c("SETRANGE", "k", "abc", "x"),
        c("SETRANGE", "k", "1.5", "x"),
        c("SETRANGE", "k", "", "x"),
        c("SETRANGE", "k", 9223372036854775808, "x"),
        c("SETRANGE", "k", 536870912, "x"),
        c("SETRANGE", "k", 536870911, "xy"),
        c("SETRANGE", "k", LLONG_MAX, "x"),
        c("SETRANGE", "k", 536870912, ""),
        c("SETRANGE", "m", 536870912, "x"),
        c("SETRANGE", "m", 536870912, ""),
        c("SETRANGE", "m", -1, ""),
        c("EXISTS", "m"),
        c("GET", "k"),
        c("SETRANGE", "k", 1),
        c("SETRANGE", "k", 1, "x", "y"),
    ),
    case(
        "LCS",
        c("MSET", "a", "ohmytext", "b", "mynewtext"),
        c("LCS", "a", "b"),
        c("LCS", "a", "b", "LEN"),
        c("LCS", "a", "b", "IDX"),
        c("LCS", "a", "b", "IDX", "WITHMATCHLEN"),
        c("LCS", "a", "b", "IDX", "MINMATCHLEN", 4),
        c("LCS", "a", "b", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN"),
        c("LCS", "a", "b", "idx", "minmatchlen", -5, "withmatchlen"),
        c("LCS", "a", "b", "IDX", "MINMATCHLEN", LLONG_MAX),
        c("LCS", "a", "b", "MINMATCHLEN", 2),
        c("LCS", "a", "b", "WITHMATCHLEN"),
        c("LCS", "a", "b", "LEN", "WITHMATCHLEN", "LEN"),
        c("LCS", "a", "b", "IDX", "IDX"),
        c("LCS", "b", "a", "IDX", "WITHMATCHLEN"),
        c("LCS", "a", "a", "IDX", "WITHMATCHLEN"),
        c("LCS", "a", "missing"),
        c("LCS", "missing", "a", "LEN"),
        c("LCS", "missing", "other", "IDX"),
        c("MSET", "x", "abcabcabcabc", "y", "cbacbacba"),
        c("LCS", "x", "y"),
        c("LCS", "x", "y", "IDX", "WITHMATCHLEN"),
        c("LCS", "y", "x", "IDX", "WITHMATCHLEN"),
        c("MSET", "p", BINARY, "q", b"\x00\r\nbin\xff"),
        c("LCS", "p", "q"),
        c("LCS", "p", "q", "IDX"),
        c("SET", "t", "ohmy", "PXAT", 1),
        c("LCS", "a", "t"),
    ),
    case(
        "LCS errors",
        c("MSET", "a", "ohmytext", "b", "mynewtext"),
        c("LCS", "a", "b", "c"),
        c("LCS", "a", "b", "IDX", "LEN"),
        c("LCS", "a", "b", "LEN", "IDX", "bogus"),
        c("LCS", "a", "b", "MINMATCHLEN"),
        c("LCS", "a", "b", "MINMATCHLEN", "x"),
        c("LCS", "a", "b", "MINMATCHLEN", "1.5", "bogus"),
        c("LCS", "a", "b", "bogus", "MINMATCHLEN", "x"),
        c("LCS", "a", "b", "MINMATCHLEN", 99999999999999999999),
        c("LCS", "a"),
        c("LCS"),
    ),
    case(
        "LCS whose table would pass proto-max-bulk-len",
        c("SET", "a", "x" * 8191),
        c("SET", "b", "xy" * 8191 + "x"),
        c("LCS", "a", "b", "LEN"),
        c("SET", "b", "xy" * 8192),
        c("LCS", "a", "b", "LEN"),
        c("LCS", "a", "b", "IDX", "LEN"),
        c("LCS", "a", "b", "bogus"),
        c("SET", "c", "xyz" * 5000),
        c("LCS", "a", "c", "IDX", "MINMATCHLEN", 3),
    ),
    case(
        "MSETNX",
        c("MSETNX", "a", 1, "b", 2),
        c("MGET", "a", "b"),
        c("MSETNX", "a", 3, "c", 4),
        c("MGET", "a", "b", "c"),
        c("MSETNX", "c", 5, "c", 6),
        c("GET", "c"),
        c("SET", "t", "v", "EX", 100),
        c("MSETNX", "t", "w", "u", "x"),
        ttl("t"),
        c("EXISTS", "u"),
        c("SET", "g", "old", "PXAT", 1),
        c("MSETNX", "g", "new", "h", BINARY),
        c("MGET", "g", "h"),
        ttl("g"),
        c("MSETNX", "z", ""),
        c("GET", "z"),
        c("MSETNX", "a"),
        c("MSETNX", "a", 1, "b"),
        c("MSETNX"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_strings_replies_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    assert not (
        found := mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, CASES)
    ), found


@pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")
@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_string_methods(shared_cluster: Cluster, protocol: int) -> None:
    """Each command through redis-py's method for it, which parses the reply its own way."""
    client = shared_cluster.client(protocol)
    client.flushall()
    assert client.setex("k", 100, "v") is True
    assert 0 < client.ttl("k") <= 100
    assert client.psetex("p", 100_000, "v") is True
    assert 0 < client.pttl("p") <= 100_000
    assert client.setnx("n", "1") is True
    assert client.setnx("n", "2") is False
    assert client.getset("n", "3") == b"1"
    assert client.getdel("n") == b"3"
    assert client.getdel("n") is None
    assert client.getex("k") == b"v"
    assert client.getex("k", persist=True) == b"v" and client.ttl("k") == -1
    assert client.getex("k", px=500_000) == b"v" and 0 < client.pttl("k") <= 500_000
    assert client.getex("k", exat=FUTURE_S) == b"v" and 0 < client.ttl("k") <= 1000
    assert client.getex("missing", ex=10) is None
    assert client.append("a", "Hello") == 5
    assert client.append("a", " World") == 11
    assert client.strlen("a") == 11
    assert client.getrange("a", -5, -1) == b"World"
    assert client.substr("a", 0, 4) == b"Hello"
    assert client.setrange("a", 13, "!") == 14
    assert client.get("a") == b"Hello World\x00\x00!"
    assert client.msetnx({"x": "ohmytext", "y": "mynewtext"}) is True
    assert client.msetnx({"x": "1", "z": "2"}) is False
    assert client.lcs("x", "y") == b"mytext"
    assert client.lcs("x", "y", len=True) == 6
    idx = client.lcs("x", "y", idx=True, minmatchlen=4, withmatchlen=True)
    matches = idx[b"matches"] if isinstance(idx, dict) else idx[1]
    assert matches == [[[4, 7], [5, 8], 4]]
