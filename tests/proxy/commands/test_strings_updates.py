"""SETNX, MSETNX, GETDEL and GETEX as pure functions of the records read."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.args import NOT_AN_INTEGER, SYNTAX_ERROR
from leaderless.proxy.commands.spec import Change, ReadWrite
from leaderless.proxy.commands.string_updates import GetEx
from leaderless.proxy.commands.strings import ExpiryUnit
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.proxy.resp import ErrorReply
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record

NOW = 1_000_000
INVALID = ErrorReply("ERR invalid expire time in 'getex' command")


def record(value: bytes, expires_at_ms: int = 0) -> Record:
    return Record(Timestamp(NOW - 10, 0, 1), False, expires_at_ms, value)


def args_of(line: str) -> list[bytes]:
    return [word.encode() for word in line.split(" ")]


def run(line: str, *records: Record | None) -> object:
    """Parse `line` as its spec does, then apply its meaning to `records`."""
    args = args_of(line)
    spec = COMMAND_TABLE[line.split(" ")[0]]
    command = args if spec.parse is None else spec.parse(args)
    if isinstance(command, ErrorReply):
        return command
    assert isinstance(spec.meaning, ReadWrite)
    return spec.meaning.apply(command, list(records), NOW)


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ((None,), (1, (Change(b"k", b"v"),))),
        ((record(b"old"),), (0, ())),
        ((record(b"old", NOW),), (1, (Change(b"k", b"v"),))),  # expired: absent
    ],
)
def test_setnx(records: tuple[Record | None, ...], expected: object) -> None:
    assert run("setnx k v", *records) == expected


def test_msetnx_writes_all_or_none() -> None:
    both = [Change(b"a", b"1"), Change(b"b", b"2")]
    assert run("msetnx a 1 b 2", None, None) == (1, both)
    assert run("msetnx a 1 b 2", None, record(b"x")) == (0, ())
    assert run("msetnx a 1 b 2", record(b"x", NOW - 1), None) == (1, both)
    assert run("msetnx a 1 a 2", None, None) == (1, [Change(b"a", b"1"), Change(b"a", b"2")])
    assert run("msetnx a 1 b") == ErrorReply("ERR wrong number of arguments for 'msetnx' command")


def test_getdel() -> None:
    assert run("getdel k", record(b"v", NOW + 5)) == (b"v", (Change(b"k", None),))
    assert run("getdel k", None) == (None, ())
    assert run("getdel k", record(b"v", NOW)) == (None, ())


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("getex k", GetEx(b"k")),
        ("getex k EX 10", GetEx(b"k", ExpiryUnit.EX, b"10")),
        ("getex k ex 10 EX 20", GetEx(b"k", ExpiryUnit.EX, b"20")),
        ("getex k pxat abc", GetEx(b"k", ExpiryUnit.PXAT, b"abc")),
        ("getex k persist PERSIST", GetEx(b"k", persist=True)),
        ("getex k EX 10 PX 10", SYNTAX_ERROR),
        ("getex k EX 10 PERSIST", SYNTAX_ERROR),
        ("getex k PERSIST EX 10", SYNTAX_ERROR),
        ("getex k EX", SYNTAX_ERROR),
        ("getex k KEEPTTL", SYNTAX_ERROR),
        ("getex k NX", SYNTAX_ERROR),
        ("getex k GET", SYNTAX_ERROR),
    ],
)
def test_getex_parses(line: str, expected: object) -> None:
    parse = COMMAND_TABLE["getex"].parse
    assert parse is not None and parse(args_of(line)) == expected


@pytest.mark.parametrize(
    ("line", "current", "expected"),
    [
        ("getex k", record(b"v", NOW + 5), (b"v", ())),
        ("getex k EX 10", record(b"v"), (b"v", (Change(b"k", b"v", NOW + 10_000),))),
        ("getex k PX 10", record(b"v", NOW + 5), (b"v", (Change(b"k", b"v", NOW + 10),))),
        ("getex k EXAT 2000", record(b"v"), (b"v", (Change(b"k", b"v", 2_000_000),))),
        ("getex k PXAT 2000000", record(b"v"), (b"v", (Change(b"k", b"v", 2_000_000),))),
        ("getex k PXAT 1", record(b"v"), (b"v", (Change(b"k", None),))),
        ("getex k EXAT 1000", record(b"v"), (b"v", (Change(b"k", None),))),  # exactly now
        ("getex k PERSIST", record(b"v", NOW + 5), (b"v", (Change(b"k", b"v"),))),
        ("getex k PERSIST", record(b"v"), (b"v", ())),
        ("getex k EX 0", record(b"v"), INVALID),
        ("getex k EX abc", record(b"v"), NOT_AN_INTEGER),
        ("getex k EX 9223372036854776", record(b"v"), INVALID),
        ("getex k PX 9223372036854775807", record(b"v"), INVALID),
        ("getex k EX 0", None, (None, ())),  # the number is checked only for a key found
        ("getex k EX abc", record(b"v", NOW), (None, ())),
        ("getex k PERSIST", None, (None, ())),
    ],
)
def test_getex_applies(line: str, current: Record | None, expected: object) -> None:
    assert run(line, current) == expected
