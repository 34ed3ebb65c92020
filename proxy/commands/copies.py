"""Commands that put one key's value under another name: COPY, RENAME and RENAMENX.

Each reads both keys at quorum, then writes: the destination (the value with its expiry) and,
for a rename, a tombstone for the source, stamped in that order and sent in one write round.
Across proxies this is not atomic, as in any read-then-write here: a write of either key
through another proxy between the read and the write wins or loses by timestamp alone, so a
rename racing a write of its source can carry the older value, and two renames of one key
racing through two proxies can both succeed, leaving the value under both new names. On one
connection, commands after it wait for its write. A COPY to another database (DB n) reads the
source there and writes the copy in database n.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from leaderless.proxy.commands.args import SYNTAX_ERROR, parse_database, token
from leaderless.proxy.commands.spec import (
    Arg,
    Change,
    CommandSpec,
    Doc,
    Keyspace,
    KeySpec,
    Outcome,
    ReadWrite,
    Records,
    key,
)
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.commands.values import visible
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.record import Record

NO_SUCH_KEY = ErrorReply("ERR no such key")
SAME_OBJECT = ErrorReply("ERR source and destination objects are the same")


def _rename(args: list[bytes], records: Records, now_ms: int) -> Outcome | ErrorReply:
    return _renamed(args, records, now_ms, only_new=False)


def _renamenx(args: list[bytes], records: Records, now_ms: int) -> Outcome | ErrorReply:
    return _renamed(args, records, now_ms, only_new=True)


def _renamed(
    args: list[bytes], records: Records, now_ms: int, *, only_new: bool
) -> Outcome | ErrorReply:
    source, destination = args[1], args[2]
    held = visible(records[0], now_ms)
    if held is None:
        return NO_SUCH_KEY
    if source == destination:
        return (0 if only_new else OK), ()
    if only_new and visible(records[1], now_ms) is not None:
        return 0, ()
    moved = Change(destination, held.value, held.expires_at_ms)
    return (1 if only_new else OK), (moved, Change(source, None))


@dataclass(frozen=True, slots=True)
class Copy:
    source: bytes
    destination: bytes
    db: int | None
    replace: bool


def _parse_copy(args: list[bytes]) -> Copy | ErrorReply:
    db: int | None = None
    replace = False
    j = 3
    while j < len(args):
        option = token(args[j])
        if option == b"REPLACE":
            replace = True
        elif option == b"DB" and j + 1 < len(args):
            index = parse_database(args[j + 1])
            if isinstance(index, ErrorReply):
                return index
            db = index
            j += 1
        else:
            return SYNTAX_ERROR
        j += 1
    return Copy(args[1], args[2], db, replace)


def _copy(context: Context, command: Copy) -> Awaitable[object]:
    source = context.coordinator
    target = source if command.db is None else context.state.coordinator.database(command.db)
    return _copied(source, target, command, context.state.wall_ms)


async def _copied(
    source: Coordinator, target: Coordinator, command: Copy, wall_ms: Callable[[], int]
) -> object:
    if source is target and command.source == command.destination:
        return SAME_OBJECT
    if source is target:
        held, taken = await source.read([command.source, command.destination])
    else:
        (held,), (taken,) = await asyncio.gather(
            source.read([command.source]), target.read([command.destination])
        )
    now = wall_ms()
    record = visible(held, now)
    if record is None or (visible(taken, now) is not None and not command.replace):
        return 0
    copy = Record(target.stamp(), False, record.expires_at_ms, record.value)
    await target.write([(command.destination, copy)])
    return 1


def _rename_spec(
    name: str, meaning: ReadWrite, fast: bool, summary: str, destination: str
) -> CommandSpec:
    return CommandSpec(
        name,
        3,
        "write fast" if fast else "write",
        "@keyspace @write @fast" if fast else "@keyspace @write @slow",
        Doc(summary, "1.0.0", "generic", "O(1)", (key(), key("newkey", index=1))),
        meaning,
        key_specs=(KeySpec("RW access delete"), KeySpec(destination, begin=2)),
    )


SPECS = (
    CommandSpec(
        "copy",
        -3,
        "write denyoom",
        "@keyspace @write @slow",
        Doc(
            "Copies a key's value and expiry to another key, in this database or another.",
            "6.2.0",
            "generic",
            "O(N) worst case for collections, where N is the number of nested items. O(1) for "
            "string values.",
            (
                key("source"),
                key("destination", index=1),
                Arg("destination-db", "integer", token="DB", optional=True),
                Arg("replace", "pure-token", token="REPLACE", optional=True),
            ),
        ),
        Keyspace(_copy),
        parse=_parse_copy,
        key_specs=(KeySpec("RO access"), KeySpec("OW update", begin=2)),
    ),
    _rename_spec(
        "rename",
        ReadWrite(_rename),
        False,
        "Renames a key, replacing any value the new name held.",
        "OW update",
    ),
    _rename_spec(
        "renamenx",
        ReadWrite(_renamenx),
        True,
        "Renames a key if the new name holds no value.",
        "OW insert",
    ),
)
