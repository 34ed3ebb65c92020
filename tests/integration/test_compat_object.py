"""OBJECT, WAIT, WAITAOF and CLIENT MAINT_NOTIFICATIONS against the reference, byte for byte
in RESP2 and RESP3, for what is deterministic: OBJECT ENCODING of strings of many shapes
written by SET on fresh keys (integers, key and value lengths about the embedded limit, with
and without an expiry), OBJECT's nil for a missing key and its errors, WAIT's and WAITAOF's
argument errors, and the unknown subcommand MAINT_NOTIFICATIONS is in Valkey 8.1."""

from __future__ import annotations

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster
from tests.support.compat import Step, c, case, mismatches

pytestmark = pytest.mark.integration


def encodings(key_length: int, value_lengths: range, *expiry: str) -> list[Step]:
    """SET then OBJECT ENCODING of one key for each value length (DEL first: the key is new)."""
    key = "k" * key_length
    steps = []
    for length in value_lengths:
        steps += [c("DEL", key), c("SET", key, "a" * length, *expiry), c("OBJECT", "ENCODING", key)]
    return steps


CASES = [
    case(
        "integers and strings that look like them",
        *[
            step
            for value in (
                "0",
                "-1",
                "12345",
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775808",
                "12345678901234567890",
                "007",
                "-0",
                "+1",
                " 1",
                "1.5",
                "",
            )
            for step in (c("SET", "n", value), c("OBJECT", "ENCODING", "n"))
        ],
        c("SET", "k" * 80, "1"),
        c("OBJECT", "ENCODING", "k" * 80),
    ),
    *[
        case(f"a key of {length} bytes, no expiry", *encodings(length, range(0, 46, 1)))
        for length in (1, 3, 16, 31, 32, 33, 40, 41, 42, 44, 300)
    ],
    *[
        case(
            f"a key of {length} bytes with an expiry",
            *encodings(length, range(0, 46, 1), "EX", "1000"),
        )
        for length in (1, 3, 16, 31, 32, 33, 38, 39, 40, 300)
    ],
    case(
        "PX, and SET with KEEPTTL on a fresh key",
        *encodings(32, range(5, 11), "PX", "1000000"),
        *encodings(32, range(5, 11), "KEEPTTL"),
    ),
    case(
        "OBJECT of a missing key, and its errors",
        c("OBJECT", "ENCODING", "missing"),
        c("OBJECT", "REFCOUNT", "missing"),
        c("OBJECT", "IDLETIME", "missing"),
        c("OBJECT", "FREQ", "missing"),
        c("SET", "k", "v"),
        c("OBJECT", "REFCOUNT", "k"),
        c("OBJECT", "FREQ", "k"),
        c("object", "freq", "k"),
        c("OBJECT", "IDLETIME", "k"),
        c("SET", "n", "5"),
        c("OBJECT", "REFCOUNT", "n"),
        c("OBJECT"),
        c("OBJECT", "ENCODING"),
        c("OBJECT", "ENCODING", "a", "b"),
        c("OBJECT", "HELP", "x"),
        c("OBJECT", "NOSUCH", "k"),
        c("object", "nosuch"),
    ),
    case(
        "WAIT's and WAITAOF's argument errors",
        c("WAIT"),
        c("WAIT", 1),
        c("WAIT", 0, 0, 0),
        c("WAIT", "a", 0),
        c("WAIT", "a", "a"),
        c("WAIT", "1.5", 0),
        c("WAIT", "99999999999999999999", 0),
        c("WAIT", 0, "a"),
        c("WAIT", 0, "1.5"),
        c("WAIT", 0, -1),
        c("WAIT", 1, -1),
        c("WAIT", 0, "99999999999999999999"),
        c("WAIT", 0, "9223372036854775807"),
        c("WAITAOF", 0, 0),
        c("WAITAOF", "a", "a", "a"),
        c("WAITAOF", -1, 0, 0),
        c("WAITAOF", 2, 0, 0),
        c("WAITAOF", 0, "a", 0),
        c("WAITAOF", 0, -1, "a"),
        c("WAITAOF", 1, "a", 0),
        c("WAITAOF", 0, 0, "a"),
        c("WAITAOF", 0, 0, -1),
        c("WAITAOF", 0, 0, "9223372036854775807"),
        c("WAITAOF", 1, 0, 0),
        c("WAITAOF", 0, 0, 0),
    ),
    case(
        "CLIENT MAINT_NOTIFICATIONS is an unknown subcommand, and the connection stays open",
        c("CLIENT", "MAINT_NOTIFICATIONS"),
        c("CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "internal-ip"),
        c("client", "maint_notifications", "off"),
        c("PING"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_object_and_wait_replies_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    found = mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, CASES)
    assert not found, found
