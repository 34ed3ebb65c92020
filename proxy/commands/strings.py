"""String commands: GET, SET with its older spellings (SETEX, PSETEX, GETSET), and MGET/MSET,
each an operation on one key's last-write-wins record (MGET and MSET on each of their keys).

Commands that look at the current value (SET NX/XX/IFEQ/GET/KEEPTTL, GETSET) read a quorum and
then write with a newer timestamp: two such commands racing through different proxies both
succeed and the later timestamp wins, as in other Dynamo-style stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from leaderless.proxy.commands.args import (
    LLONG_MAX,
    NOT_AN_INTEGER,
    SYNTAX_ERROR,
    arity_error,
    invalid_expire_error,
    parse_long_long,
    token,
)
from leaderless.proxy.commands.spec import (
    Arg,
    Change,
    CommandSpec,
    Doc,
    KeySpec,
    Outcome,
    Read,
    ReadWrite,
    Records,
    Write,
    key,
)
from leaderless.proxy.commands.values import stored_expiry, value_of, visible
from leaderless.proxy.resp import ErrorReply, SimpleString

OK = SimpleString("OK")


class ExpiryUnit(StrEnum):
    """EX/PX are relative (seconds/ms from now); EXAT/PXAT absolute unix seconds/ms."""

    EX = "EX"
    PX = "PX"
    EXAT = "EXAT"
    PXAT = "PXAT"


@dataclass(slots=True)
class Expiry:
    """An expire option as given: `amount` is positive and, in seconds, at most
    LLONG_MAX // 1000 (Redis checks both before looking at the clock)."""

    unit: ExpiryUnit
    amount: int

    def at_ms(self, now_ms: int) -> int | None:
        """The absolute unix-ms expiry, or None if it overflows (Redis's invalid expire)."""
        seconds = self.unit in (ExpiryUnit.EX, ExpiryUnit.EXAT)
        when = self.amount * 1000 if seconds else self.amount
        if self.unit in (ExpiryUnit.EX, ExpiryUnit.PX):
            when += now_ms
        return stored_expiry(when)


def parse_expiry(unit: ExpiryUnit, amount: bytes, command: str) -> Expiry | ErrorReply:
    """An expire option's number, checked as Redis's getExpireMillisecondsOrReply does."""
    value = parse_long_long(amount)
    if value is None:
        return NOT_AN_INTEGER
    seconds = unit in (ExpiryUnit.EX, ExpiryUnit.EXAT)
    if value <= 0 or (seconds and value > LLONG_MAX // 1000):
        return invalid_expire_error(command)
    return Expiry(unit, value)


# -- GET, MGET ---------------------------------------------------------------------------


def _get(args: list[bytes], records: Records, now_ms: int) -> object:
    return value_of(records[0], now_ms)


def values(args: list[bytes], records: Records, now_ms: int) -> list[bytes | None]:
    """MGET's reply, and that of a run of pipelined GETs read as one."""
    return [value_of(record, now_ms) for record in records]


# -- SET ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Set:
    key: bytes
    value: bytes
    condition: bytes | None = None  # b"NX", b"XX" or b"IFEQ"
    compare_to: bytes = b""
    get: bool = False
    expiry: Expiry | None = None
    keepttl: bool = False
    name: str = "set"
    """The command as its errors name it: SETEX and PSETEX are SETs with an expiry."""

    @property
    def reads(self) -> bool:
        """Whether the reply or the stored expiry depends on the key's current value."""
        return self.condition is not None or self.get or self.keepttl


def _parse_set(args: list[bytes]) -> Set | ErrorReply:
    """Redis's parseExtendedStringArgumentsOrReply, then the expire number checks. An option
    may repeat (the last expire wins); conflicting ones are a syntax error."""
    command = Set(args[1], args[2])
    unit: ExpiryUnit | None = None
    amount = b""
    j = 3
    while j < len(args):
        opt = token(args[j])
        has_next = j + 1 < len(args)
        if opt in (b"NX", b"XX") or (opt == b"IFEQ" and has_next):
            if command.condition not in (None, opt) or (opt == b"IFEQ" and command.condition):
                return SYNTAX_ERROR
            command.condition = opt
            if opt == b"IFEQ":
                j += 1
                command.compare_to = args[j]
        elif opt == b"GET":
            command.get = True
        elif opt == b"KEEPTTL":
            if unit is not None:
                return SYNTAX_ERROR
            command.keepttl = True
        elif opt in (b"EX", b"PX", b"EXAT", b"PXAT") and has_next:
            wanted = ExpiryUnit(opt.decode())
            if command.keepttl or unit not in (None, wanted):
                return SYNTAX_ERROR
            unit = wanted
            j += 1
            amount = args[j]
        else:
            return SYNTAX_ERROR
        j += 1
    if unit is not None:
        expiry = parse_expiry(unit, amount, "set")
        if isinstance(expiry, ErrorReply):
            return expiry
        command.expiry = expiry
    return command


def _set(command: Set, records: Records, now_ms: int) -> Outcome | ErrorReply:
    expires_at = 0
    if command.expiry is not None:
        when = command.expiry.at_ms(now_ms)
        if when is None:
            return invalid_expire_error(command.name)
        expires_at = when
    if not command.reads:
        return OK, (Change(command.key, command.value, expires_at),)
    current = visible(records[0], now_ms)
    old = current.value if current is not None else None
    held = (
        (command.condition == b"NX" and current is not None)
        or (command.condition == b"XX" and current is None)
        or (command.condition == b"IFEQ" and old != command.compare_to)
    )
    reply: object = old if command.get else (None if held else OK)
    if held:
        return reply, ()
    if command.keepttl and current is not None:
        expires_at = current.expires_at_ms
    return reply, (Change(command.key, command.value, expires_at),)


def _set_reads(command: Set) -> bool:
    return command.reads


_SET = ReadWrite(_set, reads=_set_reads)


def _parse_set_with_expiry(unit: ExpiryUnit, name: str, args: list[bytes]) -> Set | ErrorReply:
    """SETEX and PSETEX: `key amount value`, SET with EX or PX."""
    expiry = parse_expiry(unit, args[2], name)
    if isinstance(expiry, ErrorReply):
        return expiry
    return Set(args[1], args[3], expiry=expiry, name=name)


def _parse_getset(args: list[bytes]) -> Set:
    """GETSET is SET ... GET: the old value back, the new one without an expiry."""
    return Set(args[1], args[2], get=True)


# -- MSET --------------------------------------------------------------------------------


def parse_pairs(args: list[bytes], name: str = "mset") -> list[bytes] | ErrorReply:
    """MSET's and MSETNX's arguments: key value pairs after the name."""
    return arity_error(name) if len(args) % 2 == 0 else args


def pair_changes(args: list[bytes]) -> list[Change]:
    """MSET's and MSETNX's writes: each key to its value, without an expiry."""
    return [Change(k, v) for k, v in zip(args[1::2], args[2::2], strict=True)]


def _mset(args: list[bytes], now_ms: int) -> Outcome:
    return OK, pair_changes(args)


_EXPIRATION = (
    Arg("seconds", "integer", token="EX", since="2.6.12"),
    Arg("milliseconds", "integer", token="PX", since="2.6.12"),
    Arg("unix-time-seconds", "unix-time", token="EXAT", since="6.2.0"),
    Arg("unix-time-milliseconds", "unix-time", token="PXAT", since="6.2.0"),
)

SPECS = (
    CommandSpec(
        "get",
        2,
        "readonly fast",
        "@read @string @fast",
        Doc("Reads the value of a key.", "1.0.0", "string", "O(1)", (key(),)),
        Read(_get),
        key_specs=(KeySpec("RO access"),),
    ),
    CommandSpec(
        "set",
        -3,
        "write denyoom",
        "@write @string @slow",
        Doc(
            "Stores a value at a key, with conditions and an expiry as options.",
            "1.0.0",
            "string",
            "O(1)",
            (
                key(),
                Arg("value", "string"),
                Arg(
                    "condition",
                    "oneof",
                    optional=True,
                    arguments=(
                        Arg("nx", "pure-token", token="NX", since="2.6.12"),
                        Arg("xx", "pure-token", token="XX", since="2.6.12"),
                        Arg("comparison-value", "string", token="IFEQ", since="8.1.0"),
                    ),
                ),
                Arg("get", "pure-token", token="GET", since="6.2.0", optional=True),
                Arg(
                    "expiration",
                    "oneof",
                    optional=True,
                    arguments=(
                        *_EXPIRATION,
                        Arg("keepttl", "pure-token", token="KEEPTTL", since="6.0.0"),
                    ),
                ),
            ),
        ),
        _SET,
        parse=_parse_set,
        key_specs=(
            KeySpec(
                "RW access update variable_flags",
                notes="RW and ACCESS due to the optional `GET` argument",
            ),
        ),
    ),
    CommandSpec(
        "mget",
        -2,
        "readonly fast",
        "@read @string @fast",
        Doc(
            "Reads the values of several keys.",
            "1.0.0",
            "string",
            "O(N) where N is the number of keys to retrieve.",
            (key(multiple=True),),
        ),
        Read(values),
        key_specs=(KeySpec("RO access", last=-1),),
        tips=("request_policy:multi_shard",),
    ),
    CommandSpec(
        "mset",
        -3,
        "write denyoom",
        "@write @string @slow",
        Doc(
            "Stores values at several keys.",
            "1.0.1",
            "string",
            "O(N) where N is the number of keys to set.",
            (Arg("data", "block", multiple=True, arguments=(key(), Arg("value", "string"))),),
        ),
        Write(_mset),
        parse=parse_pairs,
        key_specs=(KeySpec("OW update", last=-1, step=2),),
        tips=("request_policy:multi_shard", "response_policy:all_succeeded"),
    ),
    CommandSpec(
        "setex",
        4,
        "write denyoom",
        "@write @string @slow",
        Doc(
            "Stores a value at a key with an expiry in seconds.",
            "2.0.0",
            "string",
            "O(1)",
            (key(), Arg("seconds", "integer"), Arg("value", "string")),
        ),
        _SET,
        parse=partial(_parse_set_with_expiry, ExpiryUnit.EX, "setex"),
        key_specs=(KeySpec("OW update"),),
    ),
    CommandSpec(
        "psetex",
        4,
        "write denyoom",
        "@write @string @slow",
        Doc(
            "Stores a value at a key with an expiry in milliseconds.",
            "2.6.0",
            "string",
            "O(1)",
            (key(), Arg("milliseconds", "integer"), Arg("value", "string")),
        ),
        _SET,
        parse=partial(_parse_set_with_expiry, ExpiryUnit.PX, "psetex"),
        key_specs=(KeySpec("OW update"),),
    ),
    CommandSpec(
        "getset",
        3,
        "write denyoom fast",
        "@write @string @fast",
        Doc(
            "Stores a value at a key and answers the value it replaced.",
            "1.0.0",
            "string",
            "O(1)",
            (key(), Arg("value", "string")),
        ),
        _SET,
        parse=_parse_getset,
        key_specs=(KeySpec("RW access update"),),
    ),
)
