"""Keyspace commands: DEL and EXISTS over their keys' records, DBSIZE and the flushes over every
replica's keyspace.

DEL reads its keys before it writes their tombstones, because its reply counts the keys that
existed; the tombstones are written whatever the read found, so a value no replica in the
read quorum had is deleted too.
"""

from __future__ import annotations

from collections.abc import Awaitable

from leaderless.proxy.commands.args import SYNTAX_ERROR, token
from leaderless.proxy.commands.spec import (
    Arg,
    Change,
    CommandSpec,
    Doc,
    Keyspace,
    KeySpec,
    Outcome,
    Read,
    ReadWrite,
    Records,
    key,
)
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.commands.values import visible
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context


def _delete(args: list[bytes], records: Records, now_ms: int) -> Outcome:
    keys = args[1:]
    removed = {k for k, record in zip(keys, records, strict=True) if visible(record, now_ms)}
    return len(removed), [Change(k, None) for k in dict.fromkeys(keys)]


def _exists(args: list[bytes], records: Records, now_ms: int) -> int:
    return sum(1 for record in records if visible(record, now_ms) is not None)


def _dbsize(context: Context, args: list[bytes]) -> Awaitable[object]:
    return context.coordinator.dbsize()


def _parse_flush(args: list[bytes]) -> list[bytes] | ErrorReply:
    if len(args) > 2 or (len(args) == 2 and token(args[1]) not in (b"SYNC", b"ASYNC")):
        return SYNTAX_ERROR
    return args


def _flushdb(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _ok_after(context.coordinator.flush())


def _flushall(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _ok_after(context.state.coordinator.flush_all())


async def _ok_after(flush: Awaitable[None]) -> object:
    await flush
    return OK


_FLUSH_MODE = Arg(
    "flush-type",
    "oneof",
    optional=True,
    arguments=(
        Arg("async", "pure-token", token="ASYNC", since="4.0.0"),
        Arg("sync", "pure-token", token="SYNC", since="6.2.0"),
    ),
)
_ALL_SHARDS = ("request_policy:all_shards", "response_policy:all_succeeded")

SPECS = (
    CommandSpec(
        "del",
        -2,
        "write",
        "@keyspace @write @slow",
        Doc(
            "Removes keys; answers how many of them existed.",
            "1.0.0",
            "generic",
            "O(N) where N is the number of keys that will be removed.",
            (key(multiple=True),),
        ),
        ReadWrite(_delete),
        key_specs=(KeySpec("RM delete", last=-1),),
        tips=("request_policy:multi_shard", "response_policy:agg_sum"),
    ),
    CommandSpec(
        "exists",
        -2,
        "readonly fast",
        "@keyspace @read @fast",
        Doc(
            "Counts how many of the given keys exist.",
            "1.0.0",
            "generic",
            "O(N) where N is the number of keys to check.",
            (key(multiple=True),),
        ),
        Read(_exists),
        key_specs=(KeySpec("RO", last=-1),),
        tips=("request_policy:multi_shard", "response_policy:agg_sum"),
    ),
    CommandSpec(
        "dbsize",
        1,
        "readonly fast",
        "@keyspace @read @fast",
        Doc("Counts the keys in the database.", "1.0.0", "server", "O(1)"),
        Keyspace(_dbsize),
        tips=("request_policy:all_shards", "response_policy:agg_sum"),
    ),
    CommandSpec(
        "flushdb",
        -1,
        "write",
        "@keyspace @write @slow @dangerous",
        Doc(
            "Removes every key of the database.",
            "1.0.0",
            "server",
            "O(N) where N is the number of keys in the selected database",
            (_FLUSH_MODE,),
        ),
        Keyspace(_flushdb),
        parse=_parse_flush,
        tips=_ALL_SHARDS,
    ),
    CommandSpec(
        "flushall",
        -1,
        "write",
        "@keyspace @write @slow @dangerous",
        Doc(
            "Removes every key of every database.",
            "1.0.0",
            "server",
            "O(N) where N is the total number of keys in all databases",
            (_FLUSH_MODE,),
        ),
        Keyspace(_flushall),
        parse=_parse_flush,
        tips=_ALL_SHARDS,
    ),
)
