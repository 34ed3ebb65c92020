"""SET's parsing and the string commands' meanings, as pure functions of the records read."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.args import LLONG_MAX, SYNTAX_ERROR
from leaderless.proxy.commands.spec import Change, ReadWrite
from leaderless.proxy.commands.strings import OK, Expiry, ExpiryUnit, Set
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.proxy.resp import ErrorReply
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record

NOW = 1_000_000
SET = COMMAND_TABLE["set"]


def parse(line: str) -> object:
    assert SET.parse is not None
    return SET.parse([word.encode() for word in line.split(" ")])


def record(value: bytes, expires_at_ms: int = 0) -> Record:
    return Record(Timestamp(NOW - 10, 0, 1), False, expires_at_ms, value)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("set k v", Set(b"k", b"v")),
        ("set k v nx nx", Set(b"k", b"v", condition=b"NX")),
        ("set k v nx get", Set(b"k", b"v", condition=b"NX", get=True)),
        ("set k v get xx", Set(b"k", b"v", condition=b"XX", get=True)),
        ("set k v ifeq old", Set(b"k", b"v", condition=b"IFEQ", compare_to=b"old")),
        ("set k v ex 10 ex 20", Set(b"k", b"v", expiry=Expiry(ExpiryUnit.EX, 20))),
        ("set k v keepttl", Set(b"k", b"v", keepttl=True)),
        ("set k v nx xx", SYNTAX_ERROR),
        ("set k v ifeq a nx", SYNTAX_ERROR),
        ("set k v keepttl ex 1", SYNTAX_ERROR),
        ("set k v ex 0", ErrorReply("ERR invalid expire time in 'set' command")),
        ("set k v ex abc", ErrorReply("ERR value is not an integer or out of range")),
    ],
)
def test_set_parses(line: str, expected: object) -> None:
    assert parse(line) == expected


def apply(command: Set, current: Record | None) -> object:
    meaning = SET.meaning
    assert isinstance(meaning, ReadWrite)
    return meaning.apply(command, [current] if meaning.reads(command) else [], NOW)


def test_plain_set_is_a_blind_write() -> None:
    command = Set(b"k", b"v", expiry=Expiry(ExpiryUnit.PX, 5))
    assert isinstance(SET.meaning, ReadWrite) and not SET.meaning.reads(command)
    assert apply(command, None) == (OK, (Change(b"k", b"v", NOW + 5),))


@pytest.mark.parametrize(
    ("command", "current", "expected"),
    [
        (Set(b"k", b"v", condition=b"NX"), None, (OK, (Change(b"k", b"v"),))),
        (Set(b"k", b"v", condition=b"NX"), record(b"old"), (None, ())),
        (Set(b"k", b"v", condition=b"NX", get=True), record(b"old"), (b"old", ())),
        (Set(b"k", b"v", condition=b"XX"), None, (None, ())),
        (Set(b"k", b"v", condition=b"XX", get=True), record(b"o"), (b"o", (Change(b"k", b"v"),))),
        (
            Set(b"k", b"v", condition=b"IFEQ", compare_to=b"o"),
            record(b"o"),
            (OK, (Change(b"k", b"v"),)),
        ),
        (Set(b"k", b"v", condition=b"IFEQ", compare_to=b"x"), record(b"o"), (None, ())),
        (
            Set(b"k", b"v", keepttl=True),
            record(b"o", NOW + 50),
            (OK, (Change(b"k", b"v", NOW + 50),)),
        ),
        (Set(b"k", b"v", condition=b"XX"), record(b"o", NOW), (None, ())),  # expired: absent
    ],
)
def test_set_after_reading(command: Set, current: Record | None, expected: object) -> None:
    assert apply(command, current) == expected


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        (Expiry(ExpiryUnit.EX, 10), NOW + 10_000),
        (Expiry(ExpiryUnit.PX, 10), NOW + 10),
        (Expiry(ExpiryUnit.EXAT, 10), 10_000),
        (Expiry(ExpiryUnit.PXAT, 10), 10),
        (Expiry(ExpiryUnit.PX, LLONG_MAX - NOW + 1), None),
    ],
)
def test_expiry_is_absolute(expiry: Expiry, expected: int | None) -> None:
    at = expiry.at_ms(NOW)
    assert at == expected or (expected is not None and at is not None and at < expected)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("setex k 10 v", Set(b"k", b"v", expiry=Expiry(ExpiryUnit.EX, 10), name="setex")),
        ("psetex k 10 v", Set(b"k", b"v", expiry=Expiry(ExpiryUnit.PX, 10), name="psetex")),
        ("setex k 0 v", ErrorReply("ERR invalid expire time in 'setex' command")),
        ("psetex k -1 v", ErrorReply("ERR invalid expire time in 'psetex' command")),
        ("setex k 9223372036854776 v", ErrorReply("ERR invalid expire time in 'setex' command")),
        ("setex k 1.5 v", ErrorReply("ERR value is not an integer or out of range")),
        ("getset k v", Set(b"k", b"v", get=True)),
    ],
)
def test_set_variants_parse_as_sets(line: str, expected: object) -> None:
    name = line.split(" ")[0]
    spec = COMMAND_TABLE[name]
    assert spec.parse is not None and spec.meaning is SET.meaning
    assert spec.parse([word.encode() for word in line.split(" ")]) == expected


def test_setex_is_a_blind_write_that_names_itself_when_the_expiry_overflows() -> None:
    command = Set(b"k", b"v", expiry=Expiry(ExpiryUnit.PX, LLONG_MAX - NOW + 1), name="psetex")
    assert apply(command, None) == ErrorReply("ERR invalid expire time in 'psetex' command")
    assert apply(Set(b"k", b"v", expiry=Expiry(ExpiryUnit.EX, 5), name="setex"), None) == (
        OK,
        (Change(b"k", b"v", NOW + 5000),),
    )


def test_getset_answers_the_old_value_and_drops_its_expiry() -> None:
    assert apply(Set(b"k", b"v", get=True), record(b"old", NOW + 50)) == (
        b"old",
        (Change(b"k", b"v"),),
    )
    assert apply(Set(b"k", b"v", get=True), None) == (None, (Change(b"k", b"v"),))
