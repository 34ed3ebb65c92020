"""String commands that read a key and then write it whole: SETNX and MSETNX (set only what
is absent), GETDEL (answer, then delete) and GETEX (answer, then change the expiry).

Each is a read of a quorum, a pure decision on what it found, and a write with a newer
timestamp. The decision is atomic only within this proxy's view: a command racing through
another proxy may have read the same records, both succeed, and per key the later timestamp
wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from leaderless.proxy.commands.args import SYNTAX_ERROR, invalid_expire_error, token
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
from leaderless.proxy.commands.strings import (
    ExpiryUnit,
    pair_changes,
    parse_expiry,
    parse_pairs,
)
from leaderless.proxy.commands.values import reexpired, value_of, visible
from leaderless.proxy.resp import ErrorReply

# -- SETNX, MSETNX -----------------------------------------------------------------------


def _setnx(args: list[bytes], records: Records, now_ms: int) -> Outcome:
    if visible(records[0], now_ms) is not None:
        return 0, ()
    return 1, (Change(args[1], args[2]),)


def _msetnx(args: list[bytes], records: Records, now_ms: int) -> Outcome:
    """All of the keys or none, as far as the quorum read shows them."""
    if any(visible(record, now_ms) is not None for record in records):
        return 0, ()
    return 1, pair_changes(args)


# -- GETDEL ------------------------------------------------------------------------------


def _getdel(args: list[bytes], records: Records, now_ms: int) -> Outcome:
    value = value_of(records[0], now_ms)
    return value, () if value is None else (Change(args[1], None),)


# -- GETEX -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetEx:
    """GETEX's options as given. The expire number stays unparsed: Redis checks it only once
    it has found the key, so a missing key answers nil whatever the number is."""

    key: bytes
    unit: ExpiryUnit | None = None
    amount: bytes = b""
    persist: bool = False


def _parse_getex(args: list[bytes]) -> GetEx | ErrorReply:
    """Redis's parseExtendedStringArgumentsOrReply for GETEX: one of EX, PX, EXAT, PXAT (which
    may repeat, the last winning) or PERSIST (which may repeat)."""
    unit: ExpiryUnit | None = None
    amount = b""
    persist = False
    j = 2
    while j < len(args):
        opt = token(args[j])
        has_next = j + 1 < len(args)
        if opt == b"PERSIST" and unit is None:
            persist = True
        elif opt in (b"EX", b"PX", b"EXAT", b"PXAT") and has_next and not persist:
            wanted = ExpiryUnit(opt.decode())
            if unit not in (None, wanted):
                return SYNTAX_ERROR
            unit = wanted
            j += 1
            amount = args[j]
        else:
            return SYNTAX_ERROR
        j += 1
    return GetEx(args[1], unit, amount, persist)


def _getex(command: GetEx, records: Records, now_ms: int) -> Outcome | ErrorReply:
    current = visible(records[0], now_ms)
    if current is None:
        return None, ()
    value = current.value
    if command.persist:
        if current.expires_at_ms == 0:
            return value, ()
        return value, (reexpired(command.key, records[0], current, 0, now_ms),)
    if command.unit is None:
        return value, ()
    expiry = parse_expiry(command.unit, command.amount, "getex")
    if isinstance(expiry, ErrorReply):
        return expiry
    when = expiry.at_ms(now_ms)
    if when is None:
        return invalid_expire_error("getex")
    if when <= now_ms:
        return value, (Change(command.key, None),)
    return value, (reexpired(command.key, records[0], current, when, now_ms),)


SPECS = (
    CommandSpec(
        "setnx",
        3,
        "write denyoom fast",
        "@write @string @fast",
        Doc(
            "Stores a value at a key that does not exist; answers 1 if it did so.",
            "1.0.0",
            "string",
            "O(1)",
            (key(), Arg("value", "string")),
        ),
        ReadWrite(_setnx),
        key_specs=(KeySpec("OW insert"),),
    ),
    CommandSpec(
        "msetnx",
        -3,
        "write denyoom",
        "@write @string @slow",
        Doc(
            "Stores values at several keys only if none of them exists.",
            "1.0.1",
            "string",
            "O(N) where N is the number of keys to set.",
            (Arg("data", "block", multiple=True, arguments=(key(), Arg("value", "string"))),),
        ),
        ReadWrite(_msetnx),
        parse=partial(parse_pairs, name="msetnx"),
        key_specs=(KeySpec("OW insert", last=-1, step=2),),
    ),
    CommandSpec(
        "getdel",
        2,
        "write fast",
        "@write @string @fast",
        Doc("Answers a key's value and removes the key.", "6.2.0", "string", "O(1)", (key(),)),
        ReadWrite(_getdel),
        key_specs=(KeySpec("RW access delete"),),
    ),
    CommandSpec(
        "getex",
        -2,
        "write fast",
        "@write @string @fast",
        Doc(
            "Answers a key's value and sets or removes its expiry.",
            "6.2.0",
            "string",
            "O(1)",
            (
                key(),
                Arg(
                    "expiration",
                    "oneof",
                    optional=True,
                    arguments=(
                        Arg("seconds", "integer", token="EX"),
                        Arg("milliseconds", "integer", token="PX"),
                        Arg("unix-time-seconds", "unix-time", token="EXAT"),
                        Arg("unix-time-milliseconds", "unix-time", token="PXAT"),
                        Arg("persist", "pure-token", token="PERSIST"),
                    ),
                ),
            ),
        ),
        ReadWrite(_getex),
        parse=_parse_getex,
        key_specs=(KeySpec("RW access update", notes="RW and UPDATE because it changes the TTL"),),
    ),
)
