"""SCAN, KEYS and RANDOMKEY against the reference, byte for byte in RESP2 and RESP3: their
errors, empty results, and a few keys listed in one call (compared as sets: a hash table's
order is its own), deleted and expired keys left out, each database's own keys, and SCAN
inside MULTI."""

from __future__ import annotations

import re

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster
from tests.support.compat import Case, c, case, mismatches

pytestmark = pytest.mark.integration

_BULK = re.compile(rb"\$\d+\r\n[^\r]*\r\n")


def sorted_keys(reply: bytes) -> bytes:
    """A reply's key names in sorted order, the headers and cursor kept: the order of a
    replica's hash table is not the reference's (every name here is a short, plain string)."""
    tail = re.search(rb"\*\d+\r\n((?:\$\d+\r\n[^\r]*\r\n)*)$", reply)
    if tail is None:
        return reply
    keys = sorted(_BULK.findall(tail[1]))
    return reply[: tail.start(1)] + b"".join(keys)


def s(*args: str | int) -> object:
    return c(*args, normalise=sorted_keys)


ERRORS = [
    ("SCAN", "x"),
    ("SCAN", "-1"),
    ("SCAN", "18446744073709551616"),
    ("SCAN", "1.0"),
    ("SCAN", "5 "),
    ("SCAN", ""),
    ("SCAN", "x", "COUNT", 0),
    ("SCAN", 0, "COUNT", 0),
    ("SCAN", 0, "COUNT", -1),
    ("SCAN", 0, "COUNT", "x"),
    ("SCAN", 0, "COUNT", "99999999999999999999"),
    ("SCAN", 0, "COUNT", "1.5"),
    ("SCAN", 0, "COUNT"),
    ("SCAN", 0, "MATCH"),
    ("SCAN", 0, "TYPE"),
    ("SCAN", 0, "bogus", "x"),
    ("SCAN", 0, "NOVALUES"),
    ("SCAN", 0, "MATCH", "*", "NOVALUES"),
    ("SCAN", 0, "TYPE", "foo"),
    ("SCAN", 0, "TYPE", ""),
    ("SCAN", 0, "TYPE", "a\r\nb"),
    ("SCAN", 0, "TYPE", "a\x00b"),
    ("SCAN", 0, "COUNT", "x", "TYPE", "foo"),
    ("SCAN", 0, "TYPE", "foo", "COUNT", "x"),
    ("SCAN",),
    ("KEYS",),
    ("KEYS", "a", "b"),
    ("RANDOMKEY", "x"),
]

CASES: list[Case] = [
    case("errors", *(c(*args) for args in ERRORS)),
    case(
        "an empty database",
        c("SCAN", 0),
        c("SCAN", 0, "MATCH", "a*", "COUNT", 5),
        c("SCAN", 0, "TYPE", "string"),
        c("SCAN", 0, "TYPE", "hash"),
        c("SCAN", "18446744073709551615"),
        c("KEYS", "*"),
        c("RANDOMKEY"),
    ),
    case(
        "a few keys",
        c("SET", "apple", "1"),
        c("SET", "apricot", "2"),
        c("SET", "banana", "3"),
        c("SET", "a?c", "4"),
        s("SCAN", 0),
        s("SCAN", "00"),
        s("SCAN", " 0"),
        s("SCAN", 0, "MATCH", "ap*"),
        s("SCAN", 0, "match", "*an*", "count", 1000),
        s("SCAN", 0, "MATCH", "a\\?c"),
        s("SCAN", 0, "MATCH", "[ab]*", "TYPE", "STRING"),
        s("SCAN", 0, "TYPE", "string", "MATCH", "nothing*"),
        c("SCAN", 0, "TYPE", "list"),
        c("SCAN", 0, "TYPE", "Stream"),
        c("SCAN", 0, "TYPE", "zset", "COUNT", 3),
        s("KEYS", "*"),
        s("KEYS", "a*"),
        s("KEYS", "[b-z]*"),
        s("KEYS", "a[?]c"),
        c("KEYS", "nothing*"),
        c("KEYS", "__leaderless:*"),
        s("SCAN", 0, "MATCH", "__leaderless:*"),
    ),
    case(
        "deleted and expired keys are not listed",
        c("SET", "kept", "1"),
        c("SET", "deleted", "2"),
        c("DEL", "deleted"),
        c("SET", "expired", "3", "PXAT", 1),
        c("SET", "timed", "4", "EX", 1000),
        c("SET", "expires", "5"),
        c("PEXPIREAT", "expires", 1),
        s("SCAN", 0),
        s("KEYS", "*"),
        c("SCAN", 0, "MATCH", "ex*"),
        c("DBSIZE"),
    ),
    case(
        "RANDOMKEY of one key, and of none left",
        c("SET", "only", "1"),
        c("RANDOMKEY"),
        c("DEL", "only"),
        c("RANDOMKEY"),
        c("SET", "gone", "1", "PXAT", 1),
        c("RANDOMKEY"),
    ),
    case(
        "SCAN, KEYS and RANDOMKEY queued in MULTI",
        c("SET", "one", "1"),
        c("MULTI"),
        c("SCAN", 0),
        c("SCAN", 0, "TYPE", "foo"),
        c("SCAN", "x"),
        c("KEYS", "*"),
        c("RANDOMKEY"),
        c("DEL", "one"),
        c("SCAN", 0),
        c("EXEC"),
    ),
    case(
        "each database lists its own keys",
        c("SET", "zero", "0"),
        c("SELECT", 3),
        c("SET", "three", "3"),
        c("SCAN", 0),
        c("KEYS", "*"),
        c("RANDOMKEY"),
        c("SELECT", 4),
        c("SCAN", 0),
        c("RANDOMKEY"),
        c("SELECT", 0),
        c("SCAN", 0),
        c("KEYS", "t*"),
    ),
    case(
        "a syntax error in MULTI is an error at EXEC, not one that aborts",
        c("MULTI"),
        c("SCAN", 0, "COUNT", 0),
        c("KEYS"),
        c("EXEC"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_scan_keys_and_randomkey_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    found = mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, CASES)
    assert not found, found
