"""OBJECT: what Redis says of a key's value object, answered from the record the replicas hold.

The replicas store records (the value in a header, see replication/record.py), not the
client's value as Redis would, so what a replica would say of its own object is not the
answer. What the proxy knows is the key, the value and its expiry, and from those it answers
as the reference (Valkey 8.1) would for that value written by SET:

- ENCODING follows `string_encoding`.
- REFCOUNT is 1: Valkey 8.1 embeds the key in the value's object, so a key's value is never a
  shared object (not even the small integers).
- IDLETIME is the seconds since the value was last written (its timestamp's wall-clock part):
  Redis counts from the last access, reads included, but reads leave no mark on a replica.
- FREQ is refused as Redis refuses it under the default maxmemory-policy (noeviction), the
  only policy the proxy reports.

A key that does not exist (or is expired, or deleted) answers nil, as in Redis.
"""

from __future__ import annotations

from leaderless.proxy.commands.args import parse_long_long
from leaderless.proxy.commands.spec import (
    CommandSpec,
    Doc,
    KeySpec,
    Read,
    Records,
    key,
    subcommands,
)
from leaderless.proxy.commands.values import visible
from leaderless.proxy.resp import ErrorReply

LFU_NOT_SELECTED = ErrorReply(
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note"
    " that when switching between policies at runtime LRU and LFU data will take some time"
    " to adjust."
)

_EMBEDDED_LIMIT = 41
"""The most bytes of key and value together that Valkey 8.1 keeps in one allocation with the
object header, for a key without an expiry."""
_LONG_KEY = 32
"""From this length on a key's own header is two bytes longer (an sds of type 8, not 5),
which costs the value two bytes of room when the object also holds an expiry."""


def string_encoding(key: bytes, value: bytes, has_expiry: bool) -> bytes:
    """OBJECT ENCODING of a string Valkey 8.1 stored by SET: "int" for a decimal integer
    within 64 bits of at most 20 bytes, else "embstr" while key and value fit in one
    allocation with the object, else "raw". Measured against the reference for keys of 1 to
    300 bytes and values of 0 to 70, with and without an expiry; a value built by APPEND or
    SETRANGE, or a key that had an expiry before its last SET, can be "raw" there where this
    says "embstr", since the proxy does not know how a value came to be."""
    if len(value) <= 20 and parse_long_long(value) is not None:
        return b"int"
    room = _EMBEDDED_LIMIT - (2 if has_expiry and len(key) >= _LONG_KEY else 0)
    return b"embstr" if len(key) + len(value) <= room else b"raw"


def _encoding(args: list[bytes], records: Records, now_ms: int) -> bytes | None:
    current = visible(records[0], now_ms)
    if current is None:
        return None
    return string_encoding(args[2], current.value, current.expires_at_ms != 0)


def _refcount(args: list[bytes], records: Records, now_ms: int) -> int | None:
    return None if visible(records[0], now_ms) is None else 1


def _idletime(args: list[bytes], records: Records, now_ms: int) -> int | None:
    current = visible(records[0], now_ms)
    if current is None:
        return None
    return max(0, now_ms - current.ts.physical_ms) // 1000


def _freq(args: list[bytes], records: Records, now_ms: int) -> ErrorReply | None:
    return None if visible(records[0], now_ms) is None else LFU_NOT_SELECTED


def _subcommand(
    name: str, summary: str, since: str, reply: Read, help_lines: tuple[str, ...]
) -> CommandSpec:
    """One of OBJECT's key subcommands: all read one key and share their facts."""
    return CommandSpec(
        f"object|{name}",
        3,
        "readonly",
        "@keyspace @read @slow",
        Doc(summary, since, "generic", "O(1)", (key(),)),
        reply,
        key_specs=(KeySpec("RO", begin=2),),
        tips=("nondeterministic_output",),
        help=help_lines,
    )


SPECS = (
    CommandSpec(
        "object",
        -2,
        "",
        "@slow",
        Doc(
            "A container for object introspection commands.",
            "2.2.3",
            "generic",
            "Depends on subcommand.",
        ),
        None,
        subcommands=subcommands(
            _subcommand(
                "encoding",
                "Answers the encoding Redis would use for a key's value.",
                "2.2.3",
                Read(_encoding),
                (
                    "ENCODING <key>",
                    "    Return the kind of internal representation Redis would use to store",
                    "    the value of <key> had SET written it.",
                ),
            ),
            _subcommand(
                "freq",
                "Refused: access frequencies need an LFU maxmemory policy.",
                "4.0.0",
                Read(_freq),
                (
                    "FREQ <key>",
                    "    Refused: access frequencies are only tracked under an LFU",
                    "    maxmemory-policy, and the policy is noeviction.",
                ),
            ),
            _subcommand(
                "idletime",
                "Answers the seconds since a key's value was last written.",
                "2.2.3",
                Read(_idletime),
                (
                    "IDLETIME <key>",
                    "    Return the number of seconds elapsed since the value of <key> was",
                    "    last written (reads do not count).",
                ),
            ),
            _subcommand(
                "refcount",
                "Answers the reference count of a key's value: always 1.",
                "2.2.3",
                Read(_refcount),
                (
                    "REFCOUNT <key>",
                    "    Return the number of references of the value of <key>: 1.",
                ),
            ),
            CommandSpec(
                "object|help",
                2,
                "loading stale",
                "@keyspace @slow",
                Doc("Lists the subcommands and what they do.", "6.2.0", "generic", "O(1)"),
                None,
                help=("HELP", "    Print this help."),
            ),
        ),
    ),
)
