"""Keyspace iteration: SCAN, KEYS and RANDOMKEY over the keys a quorum read would show.

The replicas' keyspaces hold more than the client's keys: tombstones, expired records kept
for their grace, and the proxy's internal keys. So every key a replica lists is a candidate
(`replication/keyspace_scan.py` says how the replicas are scanned and why that misses no
key), and a quorum read of the candidates decides which a client sees; that read repairs
what it finds stale, as any read does.

SCAN answers one page per call, its cursor packing the replica scanned and that replica's own
cursor (`replication/scan_cursor.py`). A full iteration scans N - W + 1 replicas, so a key
comes back about that many times (SCAN allows duplicates; keys are not repeated within one
page). Every value is a string, so TYPE string changes nothing and any other type lists no
key: the iteration is complete at once. KEYS runs a whole iteration and answers each visible
key once. RANDOMKEY asks the replicas in turn for a random key, up to RANDOMKEY_TRIES times,
until one is visible; past that (a keyspace of mostly tombstones or expired records), the
first visible key an iteration finds, or nil when it finds none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

from leaderless.proxy.commands.args import (
    NOT_AN_INTEGER,
    SYNTAX_ERROR,
    c_string,
    format_error,
    parse_long_long,
    token,
)
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Keyspace
from leaderless.proxy.commands.values import visible
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context, ProxyState
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.keyspace_scan import replica_random_key, scan_page

ULLONG_MAX = 2**64 - 1
INVALID_CURSOR = ErrorReply("ERR invalid cursor")
NOVALUES_ONLY_IN_HSCAN = ErrorReply("ERR NOVALUES option can only be used in HSCAN")
TYPE_NAMES = (b"STRING", b"LIST", b"SET", b"ZSET", b"HASH", b"STREAM")
KEYS_PAGE = 1000
"""Keys a replica lists per step of KEYS and of RANDOMKEY's fallback: a replica is busy about
a millisecond per step."""
RANDOMKEY_TRIES = 16


def parse_cursor(arg: bytes) -> int | None:
    """Redis's string2ull: a string2ll integer that is not negative, else what C's strtoull
    reads in base 10 of the whole string (leading spaces, a sign, digits; a '-' negates
    modulo 2^64), within 64 bits. Both stop at a NUL byte."""
    text = c_string(arg)
    value = parse_long_long(text)
    if value is not None:
        return value if value >= 0 else None
    rest = text.lstrip(b" \t\n\v\f\r")
    negative = rest.startswith(b"-")
    if rest[:1] in (b"+", b"-"):
        rest = rest[1:]
    if not rest.isdigit() or int(rest) > ULLONG_MAX:
        return None
    return -int(rest) % 2**64 if negative else int(rest)


@dataclass(frozen=True, slots=True)
class Scan:
    cursor: int
    match: bytes | None
    """None for every key (no MATCH, or MATCH *)."""
    count: int | None
    strings: bool
    """False when TYPE names another type than string: no key has it."""


def parse_scan(args: list[bytes]) -> Scan | ErrorReply:
    """SCAN's arguments in Redis's order of checks: the cursor, then each option from left to
    right (the last MATCH or COUNT given counts)."""
    cursor = parse_cursor(args[1])
    if cursor is None:
        return INVALID_CURSOR
    match: bytes | None = None
    count: int | None = None
    strings = True
    i = 2
    while i < len(args):
        option, has_value = token(args[i]), i + 1 < len(args)
        if option == b"COUNT" and has_value:
            value = parse_long_long(args[i + 1])
            if value is None:
                return NOT_AN_INTEGER
            if value < 1:
                return SYNTAX_ERROR
            count = value
        elif option == b"MATCH" and has_value:
            match = None if args[i + 1] == b"*" else args[i + 1]
        elif option == b"TYPE" and has_value:
            name = token(args[i + 1])
            if name not in TYPE_NAMES:
                return format_error(b"ERR unknown type name '" + c_string(args[i + 1]) + b"'")
            strings = name == b"STRING"
        elif option == b"NOVALUES":
            return NOVALUES_ONLY_IN_HSCAN
        else:
            return SYNTAX_ERROR
        i += 2
    return Scan(cursor, match, count, strings)


def _scan(context: Context, command: Scan) -> Awaitable[object]:
    return _scan_reply(context.coordinator, context.state, command)


async def _scan_reply(coordinator: Coordinator, state: ProxyState, command: Scan) -> object:
    if not command.strings:
        return [b"0", []]
    cursor, candidates = await scan_page(coordinator, command.cursor, command.match, command.count)
    return [b"%d" % cursor, await _visible(coordinator, state, candidates)]


async def _visible(
    coordinator: Coordinator, state: ProxyState, candidates: list[bytes]
) -> list[bytes]:
    """The candidates a quorum read shows, in their order."""
    if not candidates:
        return []
    records = await coordinator.read(candidates)
    now_ms = state.wall_ms()
    return [
        key
        for key, record in zip(candidates, records, strict=True)
        if visible(record, now_ms) is not None
    ]


def _keys(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _keys_reply(context.coordinator, context.state, args[1])


async def _keys_reply(coordinator: Coordinator, state: ProxyState, pattern: bytes) -> object:
    found: dict[bytes, None] = {}
    async for candidates in _pages(coordinator, None if pattern == b"*" else pattern):
        unseen = [key for key in candidates if key not in found]
        found.update(dict.fromkeys(await _visible(coordinator, state, unseen)))
    return list(found)


def _randomkey(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _random_key(context.coordinator, context.state)


async def _random_key(coordinator: Coordinator, state: ProxyState) -> bytes | None:
    for attempt in range(RANDOMKEY_TRIES):
        key = await replica_random_key(coordinator, attempt)
        if key is None:
            break
        if await _visible(coordinator, state, [key]):
            return key
    async for candidates in _pages(coordinator, None):
        if shown := await _visible(coordinator, state, candidates):
            return shown[0]
    return None


async def _pages(coordinator: Coordinator, match: bytes | None) -> AsyncIterator[list[bytes]]:
    """The candidate keys of a whole iteration, a page at a time."""
    cursor = None
    while cursor != 0:
        cursor, candidates = await scan_page(coordinator, cursor or 0, match, KEYS_PAGE)
        yield candidates


SPECS = (
    CommandSpec(
        "scan",
        -2,
        "readonly",
        "@keyspace @read @slow",
        Doc(
            "Iterates over the keys of the database, a page per call, as a quorum read sees them.",
            "2.8.0",
            "generic",
            "O(1) for every call. O(N) for a complete iteration, including enough command "
            "calls for the cursor to return back to 0. N is the number of elements inside the "
            "collection.",
            (
                Arg("cursor", "integer"),
                Arg("pattern", "pattern", token="MATCH", optional=True),
                Arg("count", "integer", token="COUNT", optional=True),
                Arg("type", "string", token="TYPE", since="6.0.0", optional=True),
            ),
        ),
        Keyspace(_scan, ordered=True),
        parse=parse_scan,
        tips=("nondeterministic_output", "request_policy:special", "response_policy:special"),
    ),
    CommandSpec(
        "keys",
        2,
        "readonly",
        "@keyspace @read @slow @dangerous",
        Doc(
            "Answers every key of the database that matches a glob pattern.",
            "1.0.0",
            "generic",
            "O(N) with N being the number of keys in the database, under the assumption that "
            "the key names in the database and the given pattern have limited length.",
            (Arg("pattern", "pattern"),),
        ),
        Keyspace(_keys, ordered=True),
        tips=("request_policy:all_shards", "nondeterministic_output_order"),
    ),
    CommandSpec(
        "randomkey",
        1,
        "readonly",
        "@keyspace @read @slow",
        Doc(
            "Answers a random key of the database, or nil when it has none.",
            "1.0.0",
            "generic",
            "O(1)",
        ),
        Keyspace(_randomkey, ordered=True),
        tips=("request_policy:all_shards", "response_policy:special", "nondeterministic_output"),
    ),
)
