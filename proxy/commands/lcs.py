"""LCS: the longest common subsequence of two keys' values, as Redis 7.2 finds it.

Redis fills the whole dynamic-programming table LCS(i, j) (the answer for the first i bytes
of one value and the first j of the other) and walks it back from the corner, which decides
which of several equally long answers it gives and which ranges IDX reports. We walk the
same path, but keep the table as one bit-parallel row per byte of the first value (Allison
and Dix): in row i, bit j-1 is clear exactly where LCS(i, j) = LCS(i, j-1) + 1, so a row is
a few big-integer operations to build and any LCS(i, j) is a count of bits. The table Redis
would allocate still decides its memory error, so the errors are Redis's too.
"""

from __future__ import annotations

from dataclasses import dataclass

from leaderless.proxy.commands.args import (
    NOT_AN_INTEGER,
    PROTO_MAX_BULK_LEN,
    SYNTAX_ERROR,
    parse_long_long,
    token,
)
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, KeySpec, Read, Records, key
from leaderless.proxy.commands.values import value_of
from leaderless.proxy.resp import ErrorReply

BOTH_LEN_AND_IDX = ErrorReply("ERR If you want both the length and indexes, please just use IDX.")
TABLE_TOO_LARGE = ErrorReply(
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
)
_CELL_BYTES = 4  # Redis's table holds one uint32_t per cell


@dataclass(frozen=True, slots=True)
class Lcs:
    length_only: bool = False
    indexes: bool = False
    min_match_len: int = 0
    with_match_len: bool = False


def _parse_lcs(args: list[bytes]) -> Lcs | ErrorReply:
    """Options in any order, each may repeat (the last MINMATCHLEN wins); the first bad one
    decides the error."""
    length_only = indexes = with_match_len = False
    min_match_len = 0
    j = 3
    while j < len(args):
        opt = token(args[j])
        if opt == b"IDX":
            indexes = True
        elif opt == b"LEN":
            length_only = True
        elif opt == b"WITHMATCHLEN":
            with_match_len = True
        elif opt == b"MINMATCHLEN" and j + 1 < len(args):
            number = parse_long_long(args[j + 1])
            if number is None:
                return NOT_AN_INTEGER
            min_match_len = number
            j += 1
        else:
            return SYNTAX_ERROR
        j += 1
    if indexes and length_only:
        return BOTH_LEN_AND_IDX
    return Lcs(length_only, indexes, min_match_len, with_match_len)


def _positions(b: bytes, byte: int) -> int:
    """Bit j set where b[j] is `byte`: the bytes spelled as binary digits, all in C."""
    digits = bytearray(b"0" * 256)
    digits[byte] = ord("1")
    return int(b.translate(digits)[::-1], 2)


class Table:
    """LCS(i, j) for two byte strings, one bit-parallel row per byte of `a`."""

    def __init__(self, a: bytes, b: bytes) -> None:
        self.a, self.b = a, b
        full = (1 << len(b)) - 1
        positions = {byte: _positions(b, byte) for byte in set(a) & set(b)}
        row = full
        self.rows = [row]
        for byte in a:
            matches = row & positions.get(byte, 0)
            row = ((row + matches) | (row - matches)) & full
            self.rows.append(row)

    def length(self, i: int, j: int) -> int:
        """LCS of the first i bytes of `a` and the first j of `b`."""
        return j - (self.rows[i] & ((1 << j) - 1)).bit_count()

    def bits(self, i: int) -> bytes:
        """Row i as bytes, so that `grows` reads one of its bits without a big-integer shift."""
        return self.rows[i].to_bytes((len(self.b) + 7) // 8, "little")


def grows(bits: bytes, j: int) -> int:
    """LCS(i, j) - LCS(i, j - 1), from row i's `bits`."""
    return 1 - ((bits[(j - 1) >> 3] >> ((j - 1) & 7)) & 1)


Match = tuple[int, int, int, int]
"""A run of bytes common to both: its first and last index in `a`, then in `b`."""


def walk_back(table: Table) -> tuple[bytes, list[Match]]:
    """Redis's walk from the table's corner: the common subsequence, and the runs it is made
    of, last run first. On a tie Redis steps back along `b`.

    The walk keeps LCS(i, j) and LCS(i - 1, j) as it goes: a step along `b` updates them from
    one bit of each row, a step to a new row counts them afresh, so a step costs O(1) and a
    row O(len(b) / 64). A stretch of `b` where row i neither grows nor matches can only be
    stepped through, so it is skipped in one go; once nothing is left in common, the walk
    stops."""
    a, b = table.a, table.b
    i, j = len(a), len(b)
    common = bytearray()
    runs: list[Match] = []
    run: Match | None = None
    row, here, up, length_here, length_up = -1, b"", b"", 0, 0
    match_at = 0  # in row i: the last index of a[i - 1] in b[:j], once looked for
    while i > 0 and j > 0:
        if row != i:
            here, up = (up if row == i + 1 else table.bits(i)), table.bits(i - 1)
            length_here, length_up = table.length(i, j), table.length(i - 1, j)
            row, match_at = i, j
        if length_here == 0:
            break  # nothing left in common: the rest of Redis's walk only ends the run
        if a[i - 1] == b[j - 1]:
            common.append(a[i - 1])
            run = (i - 1, i - 1, j - 1, j - 1) if run is None else (i - 1, run[1], j - 1, run[3])
            ends = i == 1 or j == 1
            i, j = i - 1, j - 1
        else:
            left = length_here - grows(here, j)
            if length_up > left:
                i -= 1
            else:
                length_here, length_up = left, length_up - grows(up, j)
                j -= 1
                if j > 0 and a[i - 1] != b[j - 1] and not grows(here, j):
                    if match_at >= j:
                        match_at = b.rfind(a[i - 1 : i], 0, j)
                    growth = (~table.rows[i] & ((1 << j) - 1)).bit_length()
                    j = max(match_at + 1, growth)
                    length_up = table.length(i - 1, j)
            ends = True  # a mismatch ends the run in progress, if any
        if ends and run is not None:
            runs.append(run)
            run = None
    if run is not None:
        runs.append(run)
    common.reverse()
    return bytes(common), runs


def _lcs(command: Lcs, records: Records, now_ms: int) -> object:
    a = value_of(records[0], now_ms) or b""
    b = value_of(records[1], now_ms) or b""
    if (len(a) + 1) * (len(b) + 1) * _CELL_BYTES > PROTO_MAX_BULK_LEN:
        return TABLE_TOO_LARGE
    table = Table(a, b)
    length = table.length(len(a), len(b))
    if command.length_only:
        return length
    common, runs = walk_back(table)
    if not command.indexes:
        return common
    matches = [
        [
            [a_start, a_end],
            [b_start, b_end],
            *([a_end - a_start + 1] if command.with_match_len else []),
        ]
        for a_start, a_end, b_start, b_end in runs
        if a_end - a_start + 1 >= command.min_match_len
    ]
    return {b"matches": matches, b"len": length}


SPECS = (
    CommandSpec(
        "lcs",
        -3,
        "readonly",
        "@read @string @slow",
        Doc(
            "Finds the longest sequence of bytes two values share, in order.",
            "7.0.0",
            "string",
            "O(N*M) where N and M are the lengths of s1 and s2, respectively",
            (
                key("key1"),
                key("key2"),
                Arg("len", "pure-token", token="LEN", optional=True),
                Arg("idx", "pure-token", token="IDX", optional=True),
                Arg("min-match-len", "integer", token="MINMATCHLEN", optional=True),
                Arg("withmatchlen", "pure-token", token="WITHMATCHLEN", optional=True),
            ),
        ),
        Read(_lcs),
        parse=_parse_lcs,
        key_specs=(KeySpec("RO access", last=1),),
    ),
)
