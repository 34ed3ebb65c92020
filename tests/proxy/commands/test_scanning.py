"""SCAN's argument parsing, without a server: the cursor as Redis's string2ull reads it and the
options in Redis's order of checks (the replies themselves are compared with the reference in
tests/integration/test_compat_scanning.py)."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.args import NOT_AN_INTEGER, SYNTAX_ERROR
from leaderless.proxy.commands.scanning import (
    INVALID_CURSOR,
    NOVALUES_ONLY_IN_HSCAN,
    Scan,
    parse_cursor,
    parse_scan,
)
from leaderless.proxy.resp import ErrorReply


@pytest.mark.parametrize(
    ("text", "cursor"),
    [
        (b"0", 0),
        (b"17", 17),
        (b"18446744073709551615", 2**64 - 1),
        (b"00", 0),
        (b"+5", 5),
        (b" 5", 5),
        (b"\t5", 5),
        (b"-0", 0),
        (b" -1", 2**64 - 1),
        (b"5\x00junk", 5),
    ],
)
def test_cursors_redis_takes(text: bytes, cursor: int) -> None:
    assert parse_cursor(text) == cursor


@pytest.mark.parametrize(
    "text",
    [b"", b"-1", b"18446744073709551616", b"1.0", b"x", b"5 ", b" ", b"-", b"+", b"0x10", b"\x005"],
)
def test_cursors_redis_refuses(text: bytes) -> None:
    assert parse_cursor(text) is None


def scan(*args: bytes) -> Scan | ErrorReply:
    return parse_scan([b"SCAN", *args])


def test_options_any_case_and_the_last_of_each_counts() -> None:
    assert scan(b"0", b"match", b"a*", b"COUNT", b"5", b"Match", b"b*", b"count", b"7") == Scan(
        0, b"b*", 7, True
    )


def test_match_star_is_every_key() -> None:
    assert scan(b"0", b"MATCH", b"*") == Scan(0, None, None, True)


def test_type_other_than_string_matches_no_key() -> None:
    assert scan(b"0", b"TYPE", b"String") == Scan(0, None, None, True)
    assert scan(b"0", b"TYPE", b"zset") == Scan(0, None, None, False)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((b"x", b"COUNT", b"0"), INVALID_CURSOR),
        ((b"0", b"COUNT", b"0"), SYNTAX_ERROR),
        ((b"0", b"COUNT", b"-3"), SYNTAX_ERROR),
        ((b"0", b"COUNT", b"x"), NOT_AN_INTEGER),
        ((b"0", b"COUNT"), SYNTAX_ERROR),
        ((b"0", b"MATCH"), SYNTAX_ERROR),
        ((b"0", b"TYPE"), SYNTAX_ERROR),
        ((b"0", b"bogus", b"x"), SYNTAX_ERROR),
        ((b"0", b"NOVALUES"), NOVALUES_ONLY_IN_HSCAN),
        ((b"0", b"TYPE", b"foo"), ErrorReply("ERR unknown type name 'foo'")),
        ((b"0", b"TYPE", b"a\r\nb"), ErrorReply("ERR unknown type name 'a  b'")),
        ((b"0", b"TYPE", b"a\x00b"), ErrorReply("ERR unknown type name 'a'")),
        ((b"0", b"COUNT", b"x", b"TYPE", b"foo"), NOT_AN_INTEGER),
    ],
)
def test_errors_in_redis_order(args: tuple[bytes, ...], error: ErrorReply) -> None:
    assert scan(*args) == error
