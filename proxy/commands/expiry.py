"""Expiry commands. A key's expiry is one absolute time in its record's version, so a repair
copies it as it is and can never extend or drop it.

Setting or removing an expiry (EXPIRE and its kin, PERSIST) reads the key at quorum and writes
the same value with the new expiry under a newer timestamp: like any read-then-write here, a
write of the key through another proxy between the two is overwritten if its timestamp is
older, and wins otherwise. A time already past deletes the key, as in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Flag, auto

from leaderless.proxy.commands.args import (
    LLONG_MAX,
    NOT_AN_INTEGER,
    c_string,
    format_error,
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
    key,
)
from leaderless.proxy.commands.values import reexpired, visible
from leaderless.proxy.resp import ErrorReply
from leaderless.replication.hlc import MAX_PHYSICAL_MS

NX_WITH_OTHERS = ErrorReply("ERR NX and XX, GT or LT options at the same time are not compatible")
GT_WITH_LT = ErrorReply("ERR GT and LT options at the same time are not compatible")


def _ttl(args: list[bytes], records: Records, now_ms: int) -> int:
    return _expiry_reply(records, now_ms, milliseconds=False, absolute=False)


def _pttl(args: list[bytes], records: Records, now_ms: int) -> int:
    return _expiry_reply(records, now_ms, milliseconds=True, absolute=False)


def _expiretime(args: list[bytes], records: Records, now_ms: int) -> int:
    return _expiry_reply(records, now_ms, milliseconds=False, absolute=True)


def _pexpiretime(args: list[bytes], records: Records, now_ms: int) -> int:
    return _expiry_reply(records, now_ms, milliseconds=True, absolute=True)


def _expiry_reply(records: Records, now_ms: int, *, milliseconds: bool, absolute: bool) -> int:
    """TTL's, PTTL's, EXPIRETIME's and PEXPIRETIME's reply: -2 for no key, -1 for no expiry,
    else the time left or the expiry itself (in seconds rounded as Redis does, (ms + 500) //
    1000)."""
    current = visible(records[0], now_ms)
    if current is None:
        return -2
    if current.expires_at_ms == 0:
        return -1
    when = current.expires_at_ms if absolute else current.expires_at_ms - now_ms
    return when if milliseconds else (when + 500) // 1000


class Condition(Flag):
    NONE = 0
    NX = auto()
    XX = auto()
    GT = auto()
    LT = auto()


@dataclass(frozen=True, slots=True)
class Expire:
    """EXPIRE, PEXPIRE, EXPIREAT or PEXPIREAT as given: `when` is in the command's unit."""

    name: str
    key: bytes
    when: int
    condition: Condition


@dataclass(frozen=True, slots=True)
class _Unit:
    milliseconds: bool
    absolute: bool


_UNITS = {
    "expire": _Unit(milliseconds=False, absolute=False),
    "pexpire": _Unit(milliseconds=True, absolute=False),
    "expireat": _Unit(milliseconds=False, absolute=True),
    "pexpireat": _Unit(milliseconds=True, absolute=True),
}


def _parse_expire(args: list[bytes]) -> Expire | ErrorReply:
    """Redis's order: the options (NX, XX, GT, LT, any case, repeatable), their conflicts,
    then the number."""
    condition = Condition.NONE
    for arg in args[3:]:
        option = token(arg).decode("latin-1")
        if option not in Condition.__members__ or option == "NONE":
            return format_error(b"ERR Unsupported option " + c_string(arg))
        condition |= Condition[option]
    if Condition.NX in condition and condition & (Condition.XX | Condition.GT | Condition.LT):
        return NX_WITH_OTHERS
    if Condition.GT in condition and Condition.LT in condition:
        return GT_WITH_LT
    when = parse_long_long(args[2])
    if when is None:
        return NOT_AN_INTEGER
    return Expire(c_string(args[0]).lower().decode("latin-1"), args[1], when, condition)


def _expire(command: Expire, records: Records, now_ms: int) -> Outcome | ErrorReply:
    unit = _UNITS[command.name]
    when = command.when
    if not unit.milliseconds:
        if abs(when) > LLONG_MAX // 1000:  # C's LLONG_MIN / 1000 is -(LLONG_MAX / 1000)
            return invalid_expire_error(command.name)
        when *= 1000
    base = 0 if unit.absolute else now_ms
    if when > LLONG_MAX - base:
        return invalid_expire_error(command.name)
    when += base
    current = visible(records[0], now_ms)
    if current is None:
        return 0, ()
    held = current.expires_at_ms or None  # None: no expiry, an infinite TTL
    condition = command.condition
    if (
        (Condition.NX in condition and held is not None)
        or (Condition.XX in condition and held is None)
        or (Condition.GT in condition and (held is None or when <= held))
        or (Condition.LT in condition and held is not None and when >= held)
    ):
        return 0, ()
    if when <= now_ms:
        return 1, (Change(command.key, None),)
    return 1, (reexpired(command.key, records[0], current, min(when, MAX_PHYSICAL_MS), now_ms),)


def _persist(args: list[bytes], records: Records, now_ms: int) -> Outcome:
    current = visible(records[0], now_ms)
    if current is None or current.expires_at_ms == 0:
        return 0, ()
    return 1, (reexpired(args[1], records[0], current, 0, now_ms),)


_CONDITION = Arg(
    "condition",
    "oneof",
    since="7.0.0",
    optional=True,
    arguments=(
        Arg("nx", "pure-token", token="NX"),
        Arg("xx", "pure-token", token="XX"),
        Arg("gt", "pure-token", token="GT"),
        Arg("lt", "pure-token", token="LT"),
    ),
)


def _expire_spec(name: str, summary: str, since: str, when: Arg) -> CommandSpec:
    return CommandSpec(
        name,
        -3,
        "write fast",
        "@keyspace @write @fast",
        Doc(summary, since, "generic", "O(1)", (key(), when, _CONDITION)),
        ReadWrite(_expire),
        parse=_parse_expire,
        key_specs=(KeySpec("RW update"),),
    )


_COUNTDOWN = ("nondeterministic_output",)
"""TTL and PTTL count down between two calls."""


def _reading_spec(
    name: str, summary: str, since: str, reply: Read, tips: tuple[str, ...] = ()
) -> CommandSpec:
    return CommandSpec(
        name,
        2,
        "readonly fast",
        "@keyspace @read @fast",
        Doc(summary, since, "generic", "O(1)", (key(),)),
        reply,
        key_specs=(KeySpec("RO access"),),
        tips=tips,
    )


SPECS = (
    _reading_spec(
        "ttl", "Answers a key's time to live in seconds.", "1.0.0", Read(_ttl), _COUNTDOWN
    ),
    _reading_spec(
        "pttl", "Answers a key's time to live in milliseconds.", "2.6.0", Read(_pttl), _COUNTDOWN
    ),
    _reading_spec(
        "expiretime",
        "Answers when a key expires, in unix seconds.",
        "7.0.0",
        Read(_expiretime),
    ),
    _reading_spec(
        "pexpiretime",
        "Answers when a key expires, in unix milliseconds.",
        "7.0.0",
        Read(_pexpiretime),
    ),
    _expire_spec(
        "expire",
        "Makes a key expire after a number of seconds.",
        "1.0.0",
        Arg("seconds", "integer"),
    ),
    _expire_spec(
        "pexpire",
        "Makes a key expire after a number of milliseconds.",
        "2.6.0",
        Arg("milliseconds", "integer"),
    ),
    _expire_spec(
        "expireat",
        "Makes a key expire at a unix time in seconds.",
        "1.2.0",
        Arg("unix-time-seconds", "unix-time"),
    ),
    _expire_spec(
        "pexpireat",
        "Makes a key expire at a unix time in milliseconds.",
        "2.6.0",
        Arg("unix-time-milliseconds", "unix-time"),
    ),
    CommandSpec(
        "persist",
        2,
        "write fast",
        "@keyspace @write @fast",
        Doc("Removes a key's expiry, keeping its value.", "2.2.0", "generic", "O(1)", (key(),)),
        ReadWrite(_persist),
        key_specs=(KeySpec("RW update"),),
    ),
)
