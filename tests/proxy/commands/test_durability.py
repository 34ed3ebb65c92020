"""WAIT's and WAITAOF's arguments, checked in Redis's order with its error texts
(tests/integration/test_compat_object.py compares the bytes with the reference)."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.args import LLONG_MAX, NOT_AN_INTEGER
from leaderless.proxy.commands.durability import (
    AOF_OF_REPLICAS,
    NO_APPENDONLY,
    NOT_POSITIVE,
    NUMLOCAL_OUT_OF_RANGE,
    TIMEOUT_NEGATIVE,
    TIMEOUT_NOT_AN_INTEGER,
    TIMEOUT_OUT_OF_RANGE,
    Wait,
    parse_wait,
    parse_waitaof,
)
from leaderless.proxy.resp import ErrorReply

NOW = 1_700_000_000_000


def args(line: str) -> list[bytes]:
    return [word.encode() for word in line.split(" ")]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("WAIT 2 100", Wait(2, 100)),
        ("WAIT -1 0", Wait(-1, 0)),
        ("WAIT a -1", NOT_AN_INTEGER),
        ("WAIT 1.5 0", NOT_AN_INTEGER),
        ("WAIT 0 a", TIMEOUT_NOT_AN_INTEGER),
        ("WAIT 0 1.5", TIMEOUT_NOT_AN_INTEGER),
        ("WAIT 0 -1", TIMEOUT_NEGATIVE),
        (f"WAIT 0 {LLONG_MAX - NOW}", Wait(0, LLONG_MAX - NOW)),
        (f"WAIT 0 {LLONG_MAX - NOW + 1}", TIMEOUT_OUT_OF_RANGE),
        ("WAIT 0 99999999999999999999", TIMEOUT_NOT_AN_INTEGER),
    ],
)
def test_wait_reads_numreplicas_then_the_timeout(line: str, expected: Wait | ErrorReply) -> None:
    assert parse_wait(args(line), NOW) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("WAITAOF 0 0 0", [0, 0]),
        ("WAITAOF a a a", NOT_AN_INTEGER),
        ("WAITAOF 2 a a", NUMLOCAL_OUT_OF_RANGE),
        ("WAITAOF 0 -1 a", NOT_POSITIVE),
        ("WAITAOF 1 a 0", NOT_POSITIVE),
        ("WAITAOF 1 0 a", TIMEOUT_NOT_AN_INTEGER),
        ("WAITAOF 0 0 -1", TIMEOUT_NEGATIVE),
        ("WAITAOF 1 0 0", NO_APPENDONLY),
        ("WAITAOF 1 1 0", NO_APPENDONLY),
        ("WAITAOF 0 1 0", AOF_OF_REPLICAS),
    ],
)
def test_waitaof_checks_its_arguments_then_refuses_what_it_cannot_count(
    line: str, expected: object
) -> None:
    assert parse_waitaof(args(line), NOW) == expected
