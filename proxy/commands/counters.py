"""INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT: conflict-free counters (replication/counters.py).

Each reads the key at quorum, checks and computes what Redis would (the value must be an
integer, or a long double for INCRBYFLOAT; the result must not overflow) and writes the change
to this proxy's own shard of the counter, so increments through other proxies, or racing with
this one, all count. Requests of one key run one at a time at this proxy, so each builds on the
contribution the one before wrote. The reply is the value this proxy's read saw plus its own
increment, as Redis's would be if the increments through other proxies had come before.

An increment that failed (a missed quorum, a timeout) may still have reached some replicas, and
may or may not count in the end, as a Redis client cannot know either whether such a command
ran. This proxy remembers it, so its next increment of the key builds on it and never undoes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from leaderless.proxy.commands import long_double
from leaderless.proxy.commands.args import LLONG_MAX, LLONG_MIN, NOT_AN_INTEGER, parse_long_long
from leaderless.proxy.commands.spec import (
    Arg,
    Change,
    CommandSpec,
    Doc,
    KeySpec,
    Outcome,
    ReadWrite,
    Records,
    key,
)
from leaderless.proxy.commands.values import visible
from leaderless.proxy.resp import ErrorReply
from leaderless.replication.counters import CounterWrite, difference
from leaderless.replication.record import Record

OVERFLOW = ErrorReply("ERR increment or decrement would overflow")
DECREMENT_OVERFLOW = ErrorReply("ERR decrement would overflow")
NOT_A_FLOAT = ErrorReply("ERR value is not a valid float")
NOT_FINITE = ErrorReply("ERR increment would produce NaN or Infinity")


@dataclass(frozen=True, slots=True)
class Increment:
    key: bytes
    amount: int


def _parse_incrby(args: list[bytes]) -> Increment | ErrorReply:
    amount = parse_long_long(args[2])
    return NOT_AN_INTEGER if amount is None else Increment(args[1], amount)


def _parse_decrby(args: list[bytes]) -> Increment | ErrorReply:
    amount = parse_long_long(args[2])
    if amount is None:
        return NOT_AN_INTEGER
    return DECREMENT_OVERFLOW if amount == LLONG_MIN else Increment(args[1], -amount)


def _increment(command: Increment, records: Records, now_ms: int) -> Outcome | ErrorReply:
    current = visible(records[0], now_ms)
    value = 0 if current is None else parse_long_long(current.value)
    if value is None:
        return NOT_AN_INTEGER
    amount = command.amount
    if (amount < 0 and value < 0 and amount < LLONG_MIN - value) or (
        amount > 0 and value > 0 and amount > LLONG_MAX - value
    ):
        return OVERFLOW
    total = value + amount
    return total, (_counted(command.key, records[0], current, now_ms, b"%d" % total, amount),)


def _increment_float(args: list[bytes], records: Records, now_ms: int) -> Outcome | ErrorReply:
    current = visible(records[0], now_ms)
    value = Fraction(0) if current is None else long_double.parse(current.value)
    increment = long_double.parse(args[2])
    if value is None or increment is None:
        return NOT_A_FLOAT
    total = long_double.add(value, increment)
    if total is None:
        return NOT_FINITE
    shown = long_double.format_human(total)
    held = b"" if current is None else current.value
    if not long_double.is_decimal(held):
        expires_at_ms = 0 if current is None else current.expires_at_ms
        return shown, (Change(args[1], shown, expires_at_ms),)  # 0x10: a register write
    return shown, (_counted(args[1], records[0], current, now_ms, shown, difference(shown, held)),)


def _counted(
    key_name: bytes,
    read: Record | None,
    current: Record | None,
    now_ms: int,
    shown: bytes,
    delta: int | Decimal,
) -> Change:
    """The change adding `delta` to the counter read as `read` (seen as `current`)."""
    expires_at_ms = 0 if current is None else current.expires_at_ms
    counter = CounterWrite(read, delta, expires_at_ms, False, now_ms)
    return Change(key_name, shown, expires_at_ms, counter)


def _spec(
    name: str,
    since: str,
    summary: str,
    apply: Callable[[Any, Records, int], Outcome | ErrorReply],
    parse: Callable[[list[bytes]], Any] | None,
    *amount: Arg,
) -> CommandSpec:
    return CommandSpec(
        name,
        2 + len(amount),
        "write denyoom fast",
        "@write @string @fast",
        Doc(summary, since, "string", "O(1)", (key(), *amount)),
        ReadWrite(apply, latched=False),
        parse,
        key_specs=(KeySpec("RW access update"),),
    )


SPECS = (
    _spec(
        "incr",
        "1.0.0",
        "Adds one to a key's integer value, counting from 0 if the key is absent.",
        _increment,
        lambda args: Increment(args[1], 1),
    ),
    _spec(
        "decr",
        "1.0.0",
        "Takes one from a key's integer value, counting from 0 if the key is absent.",
        _increment,
        lambda args: Increment(args[1], -1),
    ),
    _spec(
        "incrby",
        "1.0.0",
        "Adds an integer to a key's integer value, counting from 0 if the key is absent.",
        _increment,
        _parse_incrby,
        Arg("increment", "integer"),
    ),
    _spec(
        "decrby",
        "1.0.0",
        "Takes an integer from a key's integer value, counting from 0 if the key is absent.",
        _increment,
        _parse_decrby,
        Arg("decrement", "integer"),
    ),
    _spec(
        "incrbyfloat",
        "2.6.0",
        "Adds a floating point number to a key's value, counting from 0 if the key is absent.",
        _increment_float,
        None,
        Arg("increment", "double"),
    ),
)
