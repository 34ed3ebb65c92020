"""The expiry commands' parsing and meanings, as pure functions of the records read; the
renames' too. The replies' bytes are compared with the reference in
tests/integration/test_compat_keyspace.py."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.copies import NO_SUCH_KEY
from leaderless.proxy.commands.expiry import GT_WITH_LT, NX_WITH_OTHERS, Condition, Expire
from leaderless.proxy.commands.spec import Change, Read, ReadWrite
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.proxy.resp import ErrorReply
from leaderless.replication.hlc import MAX_PHYSICAL_MS, Timestamp
from leaderless.replication.record import Record

NOW = 1_000_000_000
LATER = NOW + 50_000


def record(value: bytes = b"v", expires_at_ms: int = 0) -> Record:
    return Record(Timestamp(NOW - 10, 0, 1), False, expires_at_ms, value)


def args(line: str) -> list[bytes]:
    return [word.encode() for word in line.split(" ")]


def parse(line: str) -> object:
    spec = COMMAND_TABLE[line.split(" ")[0].lower()]
    assert spec.parse is not None
    return spec.parse(args(line))


def apply(line: str, *records: Record | None) -> object:
    spec = COMMAND_TABLE[line.split(" ")[0].lower()]
    meaning = spec.meaning
    assert isinstance(meaning, ReadWrite)
    command = args(line) if spec.parse is None else spec.parse(args(line))
    return meaning.apply(command, list(records), NOW)


def replied(line: str, *records: Record | None) -> object:
    """The reply of a read-then-write, without the records it writes."""
    outcome = apply(line, *records)
    assert isinstance(outcome, tuple)
    return outcome[0]


def reply(line: str, *records: Record | None) -> object:
    meaning = COMMAND_TABLE[line.split(" ")[0].lower()].meaning
    assert isinstance(meaning, Read)
    return meaning.reply(args(line), list(records), NOW)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("expire k 10", Expire("expire", b"k", 10, Condition.NONE)),
        ("EXPIRE k -10 nx", Expire("expire", b"k", -10, Condition.NX)),
        ("pexpireat k 5 GT gt", Expire("pexpireat", b"k", 5, Condition.GT)),
        ("expire k 10 xx gt", Expire("expire", b"k", 10, Condition.XX | Condition.GT)),
        ("expire k 10 nx xx", NX_WITH_OTHERS),
        ("expire k 10 lt nx", NX_WITH_OTHERS),
        ("expire k 10 gt lt", GT_WITH_LT),
        ("expire k 10 none", ErrorReply("ERR Unsupported option none")),
        ("expire k abc bogus", ErrorReply("ERR Unsupported option bogus")),
        ("expire k abc", ErrorReply("ERR value is not an integer or out of range")),
    ],
)
def test_expire_parses_options_before_the_number(line: str, expected: object) -> None:
    assert parse(line) == expected


def test_expire_writes_the_value_again_with_its_absolute_expiry() -> None:
    assert apply("expire k 50", record()) == (1, (Change(b"k", b"v", LATER),))
    assert apply("pexpire k 50000", record()) == (1, (Change(b"k", b"v", LATER),))
    assert apply(f"expireat k {LATER // 1000}", record()) == (1, (Change(b"k", b"v", LATER),))
    assert apply(f"pexpireat k {LATER}", record()) == (1, (Change(b"k", b"v", LATER),))


def test_expire_of_a_missing_key_writes_nothing() -> None:
    assert apply("expire k 50", None) == (0, ())
    assert apply("expire k 50", record(expires_at_ms=NOW - 1)) == (0, ())


def test_a_time_already_past_deletes_the_key() -> None:
    assert apply("expire k 0", record()) == (1, (Change(b"k", None),))
    assert apply("pexpireat k 1", record()) == (1, (Change(b"k", None),))


@pytest.mark.parametrize(
    ("condition", "without_expiry", "towards_later", "towards_sooner"),
    [
        ("nx", 1, 0, 0),
        ("xx", 0, 1, 1),
        ("gt", 0, 1, 0),
        ("lt", 1, 0, 1),
    ],
)
def test_conditions_compare_with_the_current_expiry_an_absent_one_infinite(
    condition: str, without_expiry: int, towards_later: int, towards_sooner: int
) -> None:
    held = record(expires_at_ms=LATER)
    assert replied(f"pexpireat k {LATER} {condition}", record()) == without_expiry
    assert replied(f"pexpireat k {LATER + 1} {condition}", held) == towards_later
    assert replied(f"pexpireat k {LATER - 1} {condition}", held) == towards_sooner


def test_expire_overflow_is_an_invalid_expire_time() -> None:
    invalid = ErrorReply("ERR invalid expire time in 'expire' command")
    assert apply("expire k 9223372036854776", record()) == invalid
    assert apply("expire k -9223372036854776", record()) == invalid
    assert apply("pexpire k 9223372036854775807", record()) == ErrorReply(
        "ERR invalid expire time in 'pexpire' command"
    )


def test_an_expiry_past_what_a_record_holds_is_kept_as_the_latest_it_can() -> None:
    assert apply("pexpireat k 9223372036854775807", record()) == (
        1,
        (Change(b"k", b"v", MAX_PHYSICAL_MS),),
    )


def test_persist_removes_an_expiry_and_only_an_expiry() -> None:
    assert apply("persist k", record(expires_at_ms=LATER)) == (1, (Change(b"k", b"v"),))
    assert apply("persist k", record()) == (0, ())
    assert apply("persist k", None) == (0, ())


def test_expiretime_and_ttl_round_seconds_as_redis_does() -> None:
    held = record(expires_at_ms=LATER + 499)
    assert reply("expiretime k", held) == (LATER + 499 + 500) // 1000
    assert reply("pexpiretime k", held) == LATER + 499
    assert reply("ttl k", held) == 50
    assert reply("pttl k", held) == 50_499
    for name in ("ttl", "pttl", "expiretime", "pexpiretime"):
        assert reply(f"{name} k", None) == -2
        assert reply(f"{name} k", record()) == -1


def test_rename_moves_the_value_with_its_expiry_and_deletes_the_source() -> None:
    source = record(b"1", expires_at_ms=LATER)
    assert apply("rename a b", source, record(b"2")) == (
        OK,
        (Change(b"b", b"1", LATER), Change(b"a", None)),
    )
    assert apply("renamenx a b", source, None) == (
        1,
        (Change(b"b", b"1", LATER), Change(b"a", None)),
    )
    assert apply("renamenx a b", source, record(b"2")) == (0, ())


def test_rename_onto_itself_changes_nothing_and_a_missing_source_is_an_error() -> None:
    assert apply("rename a a", record(), record()) == (OK, ())
    assert apply("renamenx a a", record(), record()) == (0, ())
    assert apply("rename a b", None, record()) == NO_SUCH_KEY
    assert apply("renamenx a a", None, None) == NO_SUCH_KEY
