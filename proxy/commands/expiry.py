"""Expiry commands. A key's expiry is one absolute time in its record's version, so a repair
copies it as it is and can never extend or drop it."""

from __future__ import annotations

from leaderless.proxy.commands.spec import CommandSpec, Doc, KeySpec, Read, Records, key
from leaderless.proxy.commands.values import visible


def _ttl(args: list[bytes], records: Records, now_ms: int) -> int:
    return _remaining(records, now_ms, milliseconds=False)


def _pttl(args: list[bytes], records: Records, now_ms: int) -> int:
    return _remaining(records, now_ms, milliseconds=True)


def _remaining(records: Records, now_ms: int, *, milliseconds: bool) -> int:
    """TTL's and PTTL's reply: -2 for no key, -1 for no expiry, else the time left (in seconds
    rounded as Redis does, (ms + 500) // 1000)."""
    current = visible(records[0], now_ms)
    if current is None:
        return -2
    if current.expires_at_ms == 0:
        return -1
    left_ms = current.expires_at_ms - now_ms
    return left_ms if milliseconds else (left_ms + 500) // 1000


SPECS = (
    CommandSpec(
        "ttl",
        2,
        "readonly fast",
        "@keyspace @read @fast",
        Doc("Answers a key's time to live in seconds.", "1.0.0", "generic", "O(1)", (key(),)),
        Read(_ttl),
        key_specs=(KeySpec("RO access"),),
        tips=("nondeterministic_output",),
    ),
    CommandSpec(
        "pttl",
        2,
        "readonly fast",
        "@keyspace @read @fast",
        Doc("Answers a key's time to live in milliseconds.", "2.6.0", "generic", "O(1)", (key(),)),
        Read(_pttl),
        key_specs=(KeySpec("RO access"),),
        tips=("nondeterministic_output",),
    ),
)
