"""The expiry and keyspace commands against the reference, byte for byte in RESP2 and RESP3:
EXPIRE and its kin with every condition, EXPIRETIME, PEXPIRETIME, PERSIST, TOUCH, TYPE, UNLINK,
COPY, RENAME and RENAMENX, their errors included. Absolute expiries (EXPIREAT, PXAT) use fixed
future times, so EXPIRETIME's replies compare exactly; relative ones go through the countdown
normaliser."""

from __future__ import annotations

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster
from tests.support.compat import FUTURE_MS, FUTURE_S, Case, c, case, mismatches, pttl, ttl

pytestmark = pytest.mark.integration

LATER_S = FUTURE_S + 500
SOONER_S = FUTURE_S - 500


def condition_matrix() -> list[Case]:
    """Every EXPIRE condition, on a key without an expiry and on one with, towards a later and
    a sooner time."""
    cases = []
    for condition in ["NX", "XX", "GT", "LT", "nx", "Gt"]:
        cases.append(
            case(
                f"EXPIREAT {condition} on keys with and without an expiry",
                c("SET", "plain", "v"),
                c("SET", "timed", "v", "EXAT", FUTURE_S),
                c("EXPIREAT", "plain", LATER_S, condition),
                c("EXPIRETIME", "plain"),
                c("EXPIREAT", "timed", LATER_S, condition),
                c("EXPIRETIME", "timed"),
                c("EXPIREAT", "timed", SOONER_S, condition),
                c("EXPIRETIME", "timed"),
                c("EXPIREAT", "missing", LATER_S, condition),
            )
        )
    return cases


CASES = [
    *condition_matrix(),
    case(
        "EXPIRE, PEXPIRE, then TTL and PTTL",
        c("SET", "k", "v"),
        c("EXPIRE", "k", 100),
        ttl("k"),
        c("PEXPIRE", "k", 500_000),
        pttl("k"),
        c("EXPIRE", "missing", 100),
        c("GET", "k"),
    ),
    case(
        "EXPIREAT and PEXPIREAT, then EXPIRETIME and PEXPIRETIME",
        c("SET", "k", "v"),
        c("EXPIRETIME", "k"),
        c("PEXPIRETIME", "k"),
        c("EXPIRETIME", "missing"),
        c("PEXPIRETIME", "missing"),
        c("EXPIREAT", "k", FUTURE_S),
        c("EXPIRETIME", "k"),
        c("PEXPIRETIME", "k"),
        c("PEXPIREAT", "k", FUTURE_MS + 1),
        c("PEXPIRETIME", "k"),
        c("EXPIRETIME", "k"),
    ),
    case(
        "an expiry in the past deletes the key",
        c("SET", "a", "v"),
        c("EXPIRE", "a", 0),
        c("EXISTS", "a"),
        c("SET", "b", "v"),
        c("PEXPIRE", "b", -5),
        c("GET", "b"),
        c("SET", "c", "v"),
        c("EXPIREAT", "c", 1),
        c("TYPE", "c"),
        c("SET", "d", "v"),
        c("PEXPIREAT", "d", -1000),
        c("DBSIZE"),
        c("SET", "e", "v", "EX", 100),
        c("EXPIRE", "e", -1, "LT"),
        c("EXISTS", "e"),
    ),
    case(
        "EXPIRE errors: options, conflicts, numbers, overflow",
        c("SET", "k", "v"),
        c("EXPIRE", "k", 10, "bogus"),
        c("EXPIRE", "k", "abc", "bogus"),
        c("EXPIRE", "k", 10, "NX", "XX"),
        c("EXPIRE", "k", 10, "NX", "GT"),
        c("EXPIRE", "k", 10, "lt", "nx"),
        c("EXPIRE", "k", 10, "GT", "LT"),
        c("EXPIRE", "k", 10, "GT", "GT"),
        c("EXPIRE", "k", "abc"),
        c("EXPIRE", "k", "1.5"),
        c("EXPIRE", "k", "9223372036854776"),
        c("EXPIRE", "k", "-9223372036854776"),
        c("EXPIRE", "k", "9223372036854775"),
        c("PEXPIRE", "k", "9223372036854775807"),
        c("PEXPIREAT", "k", "9223372036854775807"),
        c("EXPIREAT", "k", "9223372036854775"),
        c("EXPIRE", "k", "99999999999999999999"),
        c("EXPIRE", "k"),
        c("PEXPIRE"),
        c("EXPIRE", "missing", "abc"),
        c("EXPIRE", "missing", 10, "XX", "NX"),
        c("EXISTS", "k"),  # its TTL: expiries past the year 10889 are kept as that year
    ),
    case(
        "PERSIST",
        c("SET", "k", "v", "EX", 100),
        c("PERSIST", "k"),
        c("TTL", "k"),
        c("PERSIST", "k"),
        c("PERSIST", "missing"),
        c("GET", "k"),
        c("PERSIST"),
        c("PERSIST", "a", "b"),
    ),
    case(
        "TOUCH, TYPE, UNLINK",
        c("SET", "a", "1"),
        c("SET", "b", "2"),
        c("TOUCH", "a", "b", "missing", "a"),
        c("TYPE", "a"),
        c("TYPE", "missing"),
        c("UNLINK", "a", "missing", "a"),
        c("UNLINK", "missing"),
        c("TYPE", "a"),
        c("EXISTS", "b"),
        c("TOUCH"),
        c("TYPE"),
        c("TYPE", "a", "b"),
        c("UNLINK"),
    ),
    case(
        "RENAME",
        c("SET", "a", "1", "EXAT", FUTURE_S),
        c("SET", "b", "2"),
        c("RENAME", "a", "b"),
        c("GET", "a"),
        c("GET", "b"),
        c("EXPIRETIME", "b"),
        c("RENAME", "b", "b"),
        c("RENAME", "missing", "x"),
        c("RENAME", "missing", "missing"),
        c("RENAME", "b", "c"),
        c("GET", "c"),
        c("DBSIZE"),
        c("RENAME", "a"),
        c("RENAME", "a", "b", "c"),
    ),
    case(
        "RENAMENX",
        c("SET", "a", "1", "EX", 100),
        c("SET", "b", "2"),
        c("RENAMENX", "a", "b"),
        c("RENAMENX", "a", "a"),
        c("RENAMENX", "a", "c"),
        c("GET", "c"),
        ttl("c"),
        c("EXISTS", "a"),
        c("RENAMENX", "missing", "d"),
        c("RENAMENX", "missing", "missing"),
        c("RENAMENX", "a"),
    ),
    case(
        "COPY within a database",
        c("SET", "a", "1", "EXAT", FUTURE_S),
        c("COPY", "a", "b"),
        c("GET", "b"),
        c("EXPIRETIME", "b"),
        c("SET", "c", "3"),
        c("COPY", "a", "c"),
        c("GET", "c"),
        c("COPY", "a", "c", "REPLACE"),
        c("GET", "c"),
        c("EXPIRETIME", "c"),
        c("COPY", "missing", "d"),
        c("COPY", "missing", "d", "replace"),
        c("COPY", "a", "a"),
        c("COPY", "a", "a", "DB", 0),
        c("COPY", "missing", "missing"),
        c("EXISTS", "a", "b", "c", "d"),
    ),
    case(
        "COPY to another database",
        c("SET", "a", "1"),
        c("COPY", "a", "a", "DB", 3),
        c("COPY", "a", "a", "DB", 3),
        c("COPY", "a", "a", "db", 3, "REPLACE"),
        c("COPY", "a", "z", "DB", 0),
        c("SELECT", 3),
        c("GET", "a"),
        c("DBSIZE"),
        c("COPY", "a", "a", "DB", 3),
        c("SELECT", 0),
        c("GET", "z"),
    ),
    case(
        "COPY errors",
        c("SET", "a", "1"),
        c("COPY", "a", "b", "DB"),
        c("COPY", "a", "b", "DB", "x"),
        c("COPY", "a", "b", "DB", 16),
        c("COPY", "a", "b", "DB", -1),
        c("COPY", "a", "b", "DB", "99999999999"),
        c("COPY", "a", "b", "bogus"),
        c("COPY", "a", "b", "REPLACE", "bogus"),
        c("COPY", "a"),
        c("EXISTS", "b"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_expiry_and_keyspace_replies_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    found = mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, CASES)
    assert not found, found
