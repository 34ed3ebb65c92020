"""MOVE's and SWAPDB's parsers, and SWAPDB's answer, as Redis 7.2 reads their indexes."""

from __future__ import annotations

from typing import cast

import pytest
from leaderless.proxy.commands.args import DB_OUT_OF_RANGE, INT_OUT_OF_RANGE, NOT_AN_INTEGER
from leaderless.proxy.commands.databases import (
    SWAPDB_REFUSED,
    Move,
    _parse_move,
    _parse_swapdb,
    _swapdb,
)
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context

FIRST = ErrorReply("ERR invalid first DB index")
SECOND = ErrorReply("ERR invalid second DB index")


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (b"0", Move(b"k", 0)),
        (b"15", Move(b"k", 15)),
        (b"16", DB_OUT_OF_RANGE),
        (b"-1", DB_OUT_OF_RANGE),
        (b"01", NOT_AN_INTEGER),
        (b"x", NOT_AN_INTEGER),
        (b"2147483648", INT_OUT_OF_RANGE),
    ],
)
def test_move_reads_its_database(index: bytes, expected: object) -> None:
    assert _parse_move([b"MOVE", b"k", index]) == expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (b"1", b"2", (1, 2)),
        (b"x", b"2", FIRST),
        (b"99999999999", b"2", FIRST),
        (b"16", b"x", SECOND),
        (b"16", b"2", DB_OUT_OF_RANGE),
        (b"2", b"-1", DB_OUT_OF_RANGE),
    ],
)
def test_swapdb_reads_both_indexes_before_their_range(
    first: bytes, second: bytes, expected: object
) -> None:
    assert _parse_swapdb([b"SWAPDB", first, second]) == expected


def test_swapdb_of_a_database_with_itself_is_the_only_one_done() -> None:
    context = cast(Context, None)  # SWAPDB's answer does not look at the connection
    assert _swapdb(context, (3, 3)) is OK
    assert _swapdb(context, (0, 1)) is SWAPDB_REFUSED
