"""LCS: its option parsing, and the bit-parallel table and walk back checked against a direct
port of Redis's dynamic-programming table and walk."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from leaderless.proxy.commands.args import NOT_AN_INTEGER, SYNTAX_ERROR
from leaderless.proxy.commands.lcs import (
    BOTH_LEN_AND_IDX,
    TABLE_TOO_LARGE,
    Lcs,
    Match,
    Table,
    walk_back,
)
from leaderless.proxy.commands.spec import Read
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record

NOW = 1_000_000
LCS = COMMAND_TABLE["lcs"]


def parse(line: str) -> object:
    assert LCS.parse is not None
    return LCS.parse([word.encode() for word in line.split(" ")])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("lcs a b", Lcs()),
        ("lcs a b len", Lcs(length_only=True)),
        ("lcs a b IDX withmatchlen", Lcs(indexes=True, with_match_len=True)),
        ("lcs a b minmatchlen 3 MINMATCHLEN -2", Lcs(min_match_len=-2)),
        ("lcs a b idx idx", Lcs(indexes=True)),
        ("lcs a b c", SYNTAX_ERROR),
        ("lcs a b minmatchlen", SYNTAX_ERROR),
        ("lcs a b minmatchlen x", NOT_AN_INTEGER),
        ("lcs a b bogus minmatchlen x", SYNTAX_ERROR),
        ("lcs a b minmatchlen x bogus", NOT_AN_INTEGER),
        ("lcs a b idx len", BOTH_LEN_AND_IDX),
        ("lcs a b len idx bogus", SYNTAX_ERROR),
    ],
)
def test_lcs_parses(line: str, expected: object) -> None:
    assert parse(line) == expected


def redis_lcs(a: bytes, b: bytes) -> tuple[list[list[int]], bytes, list[Match]]:
    """Redis's lcsCommand, line for line: the full table, the subsequence, the runs."""
    alen, blen = len(a), len(b)
    table = [[0] * (blen + 1) for _ in range(alen + 1)]
    for i in range(1, alen + 1):
        for j in range(1, blen + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    result = bytearray(table[alen][blen])
    idx = len(result)
    a_start, a_end, b_start, b_end = alen, 0, 0, 0
    runs: list[Match] = []
    i, j = alen, blen
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[idx - 1] = a[i - 1]
            if a_start == alen:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start, b_start = a_start - 1, b_start - 1
            else:
                emit = True
            emit = emit or a_start == 0 or b_start == 0
            idx, i, j = idx - 1, i - 1, j - 1
        else:
            if table[i - 1][j] > table[i][j - 1]:
                i -= 1
            else:
                j -= 1
            emit = a_start != alen
        if emit:
            runs.append((a_start, a_end, b_start, b_end))
            a_start = alen
    return table, bytes(result), runs


SMALL_ALPHABET = st.binary(max_size=14).map(lambda data: bytes(byte % 3 for byte in data))


LONGER_WIDER = st.binary(max_size=40).map(lambda data: bytes(byte % 5 for byte in data))
"""Long stretches of `b` with nothing of `a` in them: the walk skips those."""


@given(SMALL_ALPHABET, SMALL_ALPHABET | LONGER_WIDER)
def test_the_table_and_walk_are_redis_s(a: bytes, b: bytes) -> None:
    table, common, runs = redis_lcs(a, b)
    ours = Table(a, b)
    assert [[ours.length(i, j) for j in range(len(b) + 1)] for i in range(len(a) + 1)] == table
    assert walk_back(ours) == (common, runs)


def record(value: bytes) -> Record:
    return Record(Timestamp(NOW - 10, 0, 1), False, 0, value)


def reply(line: str, a: bytes | None, b: bytes | None) -> object:
    command = parse(line)
    assert isinstance(LCS.meaning, Read)
    records = [None if value is None else record(value) for value in (a, b)]
    return LCS.meaning.reply(command, records, NOW)


def test_lcs_replies() -> None:
    a, b = b"ohmytext", b"mynewtext"
    assert reply("lcs a b", a, b) == b"mytext"
    assert reply("lcs a b len", a, b) == 6
    assert reply("lcs a b idx", a, b) == {
        b"matches": [[[4, 7], [5, 8]], [[2, 3], [0, 1]]],
        b"len": 6,
    }
    assert reply("lcs a b idx minmatchlen 4 withmatchlen", a, b) == {
        b"matches": [[[4, 7], [5, 8], 4]],
        b"len": 6,
    }
    assert reply("lcs a b", a, None) == b""
    assert reply("lcs a b idx", None, None) == {b"matches": [], b"len": 0}


def test_lcs_refuses_a_table_redis_could_not_allocate() -> None:
    assert reply("lcs a b len", b"x" * 8191, b"x" * 16383) == 8191
    assert reply("lcs a b len", b"x" * 8191, b"x" * 16384) == TABLE_TOO_LARGE
