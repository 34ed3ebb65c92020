"""Keyspace commands: DEL, UNLINK, EXISTS, TOUCH and TYPE over their keys' records, DBSIZE and
the flushes over every replica's keyspace of the selected database (FLUSHALL: of every one).

DEL and UNLINK read their keys before they write their tombstones, because their reply counts
the keys that existed; the tombstones are written whatever the read found, so a value no
replica in the read quorum had is deleted too. UNLINK is DEL: a replica frees a record's
memory as it overwrites it. TOUCH counts the keys that exist, as EXISTS does: the replicas
keep no access times the proxy could use, and their own (for eviction) are touched by every
read and write of the record anyway.
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
from leaderless.proxy.resp import ErrorReply, SimpleString
from leaderless.proxy.state import Context


def _delete(args: list[bytes], records: Records, now_ms: int) -> Outcome:
    keys = args[1:]
    removed = {k for k, record in zip(keys, records, strict=True) if visible(record, now_ms)}
    return len(removed), [Change(k, None) for k in dict.fromkeys(keys)]


def _exists(args: list[bytes], records: Records, now_ms: int) -> int:
    return sum(1 for record in records if visible(record, now_ms) is not None)


STRING = SimpleString("string")
NONE = SimpleString("none")


def _type(args: list[bytes], records: Records, now_ms: int) -> SimpleString:
    return STRING if visible(records[0], now_ms) is not None else NONE


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

_MULTI_SHARD_SUM = ("request_policy:multi_shard", "response_policy:agg_sum")

SPECS = (
    CommandSpec(
        "unlink",
        -2,
        "write fast",
        "@keyspace @write @fast",
        Doc(
            "Removes keys, as DEL does; answers how many of them existed.",
            "4.0.0",
            "generic",
            "O(1) for each key removed regardless of its size. Then the command does O(N) work "
            "in a different thread in order to reclaim memory, where N is the number of "
            "allocations the deleted objects where composed of.",
            (key(multiple=True),),
        ),
        ReadWrite(_delete),
        key_specs=(KeySpec("RM delete", last=-1),),
        tips=_MULTI_SHARD_SUM,
    ),
    CommandSpec(
        "touch",
        -2,
        "readonly fast",
        "@keyspace @read @fast",
        Doc(
            "Answers how many of the keys exist (the proxy keeps no access times).",
            "3.2.1",
            "generic",
            "O(N) where N is the number of keys that will be touched.",
            (key(multiple=True),),
        ),
        Read(_exists),
        key_specs=(KeySpec("RO", last=-1),),
        tips=_MULTI_SHARD_SUM,
    ),
    CommandSpec(
        "type",
        2,
        "readonly fast",
        "@keyspace @read @fast",
        Doc(
            "Answers the type of a key's value: string, or none.",
            "1.0.0",
            "generic",
            "O(1)",
            (key(),),
        ),
        Read(_type),
        key_specs=(KeySpec("RO"),),
    ),
    CommandSpec(
        "del",
        -2,
        "write",
        "@keyspace @write @slow",
        Doc(
            "Removes keys; answers how many of them existed.",
            "1.0.0",
            "generic",
            "O(N) where N is the number of keys that will be removed. When a key to remove "
            "holds a value other than a string, the individual complexity for this key is O(M) "
            "where M is the number of elements in the list, set, sorted set or hash. Removing a "
            "single key that holds a string value is O(1).",
            (key(multiple=True),),
        ),
        ReadWrite(_delete),
        key_specs=(KeySpec("RM delete", last=-1),),
        tips=_MULTI_SHARD_SUM,
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
        tips=_MULTI_SHARD_SUM,
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
