"""String commands on parts of a value: APPEND and SETRANGE change bytes of it, STRLEN,
GETRANGE and SUBSTR read them.

APPEND and SETRANGE read a quorum, build the new value from the one they found and write it
whole with a newer timestamp, keeping the key's expiry as Redis does. They are atomic only
within this proxy's view: two racing through different proxies may both build on the same
value, and the later timestamp wins, so one edit is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from leaderless.proxy.commands.args import (
    NOT_AN_INTEGER,
    OFFSET_OUT_OF_RANGE,
    PROTO_MAX_BULK_LEN,
    STRING_TOO_LONG,
    parse_long_long,
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
from leaderless.proxy.commands.values import value_of, visible
from leaderless.proxy.resp import ErrorReply


def fits(length: int, added: int) -> bool:
    """Whether a string of `length + added` bytes may be made (Redis's checkStringLength)."""
    return length + added <= PROTO_MAX_BULK_LEN


# -- APPEND, STRLEN ----------------------------------------------------------------------


def _append(args: list[bytes], records: Records, now_ms: int) -> Outcome | ErrorReply:
    """A missing key is created, even with an empty tail; an empty tail changes nothing else."""
    key_name, tail = args[1], args[2]
    current = visible(records[0], now_ms)
    if current is None:
        return len(tail), (Change(key_name, tail),)
    if not fits(len(current.value), len(tail)):
        return STRING_TOO_LONG
    value = current.value + tail
    changes = (Change(key_name, value, current.expires_at_ms),) if tail else ()
    return len(value), changes


def _strlen(args: list[bytes], records: Records, now_ms: int) -> int:
    return len(value_of(records[0], now_ms) or b"")


# -- GETRANGE, SUBSTR --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Range:
    """GETRANGE's inclusive byte range; negative ends count from the end of the value."""

    start: int
    end: int


def _parse_range(args: list[bytes]) -> Range | ErrorReply:
    start, end = parse_long_long(args[2]), parse_long_long(args[3])
    if start is None or end is None:
        return NOT_AN_INTEGER
    return Range(start, end)


def substring(value: bytes, start: int, end: int) -> bytes:
    """GETRANGE's bytes, with Redis's rules: both ends negative and start past end is empty;
    otherwise a negative end counts from the end, then each is clamped into the value."""
    size = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    end = min(end, size - 1)
    return value[start : end + 1] if start <= end else b""


def _getrange(command: Range, records: Records, now_ms: int) -> bytes:
    return substring(value_of(records[0], now_ms) or b"", command.start, command.end)


# -- SETRANGE ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetRange:
    key: bytes
    offset: int
    value: bytes


def _parse_setrange(args: list[bytes]) -> SetRange | ErrorReply:
    offset = parse_long_long(args[2])
    if offset is None:
        return NOT_AN_INTEGER
    if offset < 0:
        return OFFSET_OUT_OF_RANGE
    return SetRange(args[1], offset, args[3])


def _setrange(command: SetRange, records: Records, now_ms: int) -> Outcome | ErrorReply:
    """Writing nothing answers the length and creates nothing; a gap is filled with zero
    bytes."""
    current = visible(records[0], now_ms)
    old = b"" if current is None else current.value
    if not command.value:
        return len(old), ()
    if not fits(command.offset, len(command.value)):
        return STRING_TOO_LONG
    offset, end = command.offset, command.offset + len(command.value)
    value = old[:offset].ljust(offset, b"\x00") + command.value + old[end:]
    expires_at = 0 if current is None else current.expires_at_ms
    return len(value), (Change(command.key, value, expires_at),)


_RANGE_COMPLEXITY = (
    "O(N) where N is the length of the returned string. The complexity is ultimately "
    "determined by the returned length, but because creating a substring from an existing "
    "string is very cheap, it can be considered O(1) for small strings."
)
_RANGE_ARGS = (key(), Arg("start", "integer"), Arg("end", "integer"))

SPECS = (
    CommandSpec(
        "append",
        3,
        "write denyoom fast",
        "@write @string @fast",
        Doc(
            "Adds bytes to the end of a key's value, creating the key if needed.",
            "2.0.0",
            "string",
            "O(1). The amortized time complexity is O(1) assuming the appended value is small "
            "and the already present value is of any size, since the dynamic string library "
            "used by the server will double the free space available on every reallocation.",
            (key(), Arg("value", "string")),
        ),
        ReadWrite(_append),
        key_specs=(KeySpec("RW insert"),),
    ),
    CommandSpec(
        "strlen",
        2,
        "readonly fast",
        "@read @string @fast",
        Doc("Answers how many bytes a key's value has.", "2.2.0", "string", "O(1)", (key(),)),
        Read(_strlen),
        key_specs=(KeySpec("RO"),),
    ),
    CommandSpec(
        "getrange",
        4,
        "readonly",
        "@read @string @slow",
        Doc(
            "Reads a range of bytes of a key's value.",
            "2.4.0",
            "string",
            _RANGE_COMPLEXITY,
            _RANGE_ARGS,
        ),
        Read(_getrange),
        parse=_parse_range,
        key_specs=(KeySpec("RO access"),),
    ),
    CommandSpec(
        "substr",
        4,
        "readonly",
        "@read @string @slow",
        Doc(
            "Reads a range of bytes of a key's value (GETRANGE's old name).",
            "1.0.0",
            "string",
            _RANGE_COMPLEXITY,
            _RANGE_ARGS,
        ),
        Read(_getrange),
        parse=_parse_range,
        key_specs=(KeySpec("RO access"),),
    ),
    CommandSpec(
        "setrange",
        4,
        "write denyoom",
        "@write @string @slow",
        Doc(
            "Overwrites bytes of a key's value from an offset, padding with zero bytes.",
            "2.2.0",
            "string",
            "O(1), not counting the time taken to copy the new string in place. Usually, this "
            "string is very small so the amortized complexity is O(1). Otherwise, complexity "
            "is O(M) with M being the length of the value argument.",
            (key(), Arg("offset", "integer"), Arg("value", "string")),
        ),
        ReadWrite(_setrange),
        parse=_parse_setrange,
        key_specs=(KeySpec("RW update"),),
    ),
)
