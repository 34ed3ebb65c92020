"""OBJECT's replies as pure functions of the record read, and the encoding rule measured
against the reference (tests/integration/test_compat_object.py compares the bytes)."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.object_info import LFU_NOT_SELECTED, string_encoding
from leaderless.proxy.commands.spec import Read
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record

NOW = 1_000_000_000


def reply(sub: str, record: Record | None, key: bytes = b"k") -> object:
    meaning = COMMAND_TABLE["object"].subcommands[sub].meaning
    assert isinstance(meaning, Read)
    return meaning.reply([b"OBJECT", sub.encode(), key], [record], NOW)


def written(ms_ago: int, value: bytes = b"v", expires_at_ms: int = 0) -> Record:
    return Record(Timestamp(NOW - ms_ago, 0, 1), False, expires_at_ms, value)


@pytest.mark.parametrize(
    "value",
    [b"0", b"-1", b"12345", b"9223372036854775807", b"-9223372036854775808"],
)
def test_a_decimal_integer_in_64_bits_is_int_whatever_the_key(value: bytes) -> None:
    assert string_encoding(b"k" * 80, value, has_expiry=True) == b"int"


@pytest.mark.parametrize(
    "value",
    [b"", b"007", b"-0", b" 1", b"+1", b"1.5", b"9223372036854775808", b"12345678901234567890"],
)
def test_other_short_values_are_embstr(value: bytes) -> None:
    assert string_encoding(b"k", value, has_expiry=False) == b"embstr"


@pytest.mark.parametrize(
    ("key_length", "has_expiry", "longest_embedded"),
    [
        (1, False, 40),
        (20, False, 21),
        (32, False, 9),
        (41, False, 0),
        (1, True, 40),
        (31, True, 10),
        (32, True, 7),
        (39, True, 0),
    ],
)
def test_key_and_value_share_41_bytes_or_39_for_a_long_key_with_an_expiry(
    key_length: int, has_expiry: bool, longest_embedded: int
) -> None:
    key = b"k" * key_length
    assert string_encoding(key, b"a" * longest_embedded, has_expiry) == b"embstr"
    assert string_encoding(key, b"a" * (longest_embedded + 1), has_expiry) == b"raw"


@pytest.mark.parametrize("key_length", [40, 42, 300])
def test_a_long_key_leaves_no_room(key_length: int) -> None:
    assert string_encoding(b"k" * key_length, b"", has_expiry=key_length == 40) == b"raw"


def test_encoding_looks_at_the_key_and_the_expiry_of_the_record() -> None:
    key = b"k" * 32
    assert reply("encoding", written(5, b"a" * 9), key) == b"embstr"
    assert reply("encoding", written(5, b"a" * 9, expires_at_ms=NOW + 1000), key) == b"raw"


def test_idletime_counts_whole_seconds_since_the_write() -> None:
    assert reply("idletime", written(2_999)) == 2
    assert reply("idletime", written(0)) == 0


def test_refcount_is_one_and_freq_is_refused() -> None:
    assert reply("refcount", written(5)) == 1
    assert reply("freq", written(5)) is LFU_NOT_SELECTED


@pytest.mark.parametrize("sub", ["encoding", "refcount", "idletime", "freq"])
def test_a_missing_expired_or_deleted_key_is_nil(sub: str) -> None:
    expired = written(5, expires_at_ms=NOW - 1)
    deleted = Record.deletion(Timestamp(NOW - 5, 0, 1))
    for record in (None, expired, deleted):
        assert reply(sub, record) is None
