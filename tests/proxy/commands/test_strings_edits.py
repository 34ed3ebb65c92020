"""APPEND, STRLEN, GETRANGE/SUBSTR and SETRANGE as pure functions of the records read."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.args import (
    NOT_AN_INTEGER,
    OFFSET_OUT_OF_RANGE,
    PROTO_MAX_BULK_LEN,
    STRING_TOO_LONG,
)
from leaderless.proxy.commands.spec import Change, Read, ReadWrite
from leaderless.proxy.commands.string_edits import fits, substring
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.proxy.resp import ErrorReply
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record

NOW = 1_000_000
TTL = NOW + 5000


def record(value: bytes, expires_at_ms: int = 0) -> Record:
    return Record(Timestamp(NOW - 10, 0, 1), False, expires_at_ms, value)


def run(args: list[bytes], current: Record | None) -> object:
    spec = COMMAND_TABLE[args[0].decode()]
    command = args if spec.parse is None else spec.parse(args)
    if isinstance(command, ErrorReply):
        return command
    meaning = spec.meaning
    assert isinstance(meaning, Read | ReadWrite)
    if isinstance(meaning, Read):
        return meaning.reply(command, [current], NOW)
    return meaning.apply(command, [current], NOW)


@pytest.mark.parametrize(
    ("tail", "current", "expected"),
    [
        (b"ab", None, (2, (Change(b"k", b"ab"),))),
        (b"", None, (0, (Change(b"k", b""),))),  # creates the key, as Redis does
        (b"cd", record(b"ab", TTL), (4, (Change(b"k", b"abcd", TTL),))),  # keeps the expiry
        (b"", record(b"ab", TTL), (2, ())),
        (b"cd", record(b"ab", NOW), (2, (Change(b"k", b"cd"),))),  # expired: absent
    ],
)
def test_append(tail: bytes, current: Record | None, expected: object) -> None:
    assert run([b"append", b"k", tail], current) == expected


def test_strings_cannot_grow_past_proto_max_bulk_len() -> None:
    assert fits(PROTO_MAX_BULK_LEN - 1, 1)
    assert not fits(PROTO_MAX_BULK_LEN, 1)
    assert not fits(2**63 - 1, 1)


def test_strlen() -> None:
    assert run([b"strlen", b"k"], record(b"\x00ab")) == 3
    assert run([b"strlen", b"k"], None) == 0


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, -1, b"Hello World"),
        (-3, -1, b"rld"),
        (-1, -3, b""),
        (5, 3, b""),
        (-100, -50, b"H"),
        (-100, 100, b"Hello World"),
        (20, 30, b""),
        (10, 10, b"d"),
        (11, 11, b""),
        (3, -100, b""),
        (-5, 2, b""),
        (2**63 - 1, 2**63 - 1, b""),
        (-(2**63), 2**63 - 1, b"Hello World"),
    ],
)
def test_substring_follows_redis(start: int, end: int, expected: bytes) -> None:
    assert substring(b"Hello World", start, end) == expected


def test_getrange_and_substr() -> None:
    for name in (b"getrange", b"substr"):
        assert run([name, b"k", b"1", b"-2"], record(b"12345")) == b"234"
        assert run([name, b"k", b"0", b"-1"], None) == b""
        assert run([name, b"k", b"0", b"-1"], record(b"")) == b""
        assert run([name, b"k", b"a", b"1"], None) == NOT_AN_INTEGER
        assert run([name, b"k", b"0", b"9223372036854775808"], None) == NOT_AN_INTEGER


@pytest.mark.parametrize(
    ("offset", "value", "current", "expected"),
    [
        (b"6", b"Redis", record(b"Hello World"), (11, (Change(b"k", b"Hello Redis"),))),
        (b"3", b"x", None, (4, (Change(b"k", b"\x00\x00\x00x"),))),
        (b"4", b"!", record(b"ab", TTL), (5, (Change(b"k", b"ab\x00\x00!", TTL),))),
        (b"0", b"xyz", record(b"ab", TTL), (3, (Change(b"k", b"xyz", TTL),))),
        (b"5", b"", record(b"ab"), (2, ())),
        (b"5", b"", None, (0, ())),
        (b"536870912", b"", None, (0, ())),  # nothing to write: no size check
        (b"536870912", b"x", None, STRING_TOO_LONG),
        (b"536870911", b"xy", record(b"ab"), STRING_TOO_LONG),
        (b"9223372036854775807", b"x", None, STRING_TOO_LONG),
        (b"-1", b"x", None, OFFSET_OUT_OF_RANGE),
        (b"-1", b"", None, OFFSET_OUT_OF_RANGE),
        (b"abc", b"x", None, NOT_AN_INTEGER),
        (b"9223372036854775808", b"x", None, NOT_AN_INTEGER),
    ],
)
def test_setrange(offset: bytes, value: bytes, current: Record | None, expected: object) -> None:
    assert run([b"setrange", b"k", offset, value], current) == expected
