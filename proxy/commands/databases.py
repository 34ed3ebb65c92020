"""Commands across databases: MOVE, a read-modify-write over two of them, and SWAPDB, refused.

MOVE reads the key in both databases (a quorum read each, at once); if the source holds it
and the target does not, it writes the value, with its expiry, into the target and then a
tombstone into the source, each with a fresh timestamp. As with every read-then-write here,
nothing is locked between the read and the writes: a client writing the key through another
proxy meanwhile can be overwritten in the target, or deleted in the source, where Redis would
have ordered the two. The target is written first, so a MOVE cut short (a quorum failure, a
proxy stopped) leaves the key in both databases, never in neither.

SWAPDB cannot be done honestly: the swap would have to take effect at one instant on every
replica and for every proxy, and a leaderless store has no such instant (a client of another
proxy would see the two databases half swapped, and late writes and hints would land in the
database they were sent to, now the other one). It is refused, except a database swapped with
itself, which changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from leaderless.proxy.commands.args import DB_OUT_OF_RANGE, parse_database
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Keyspace, KeySpec, Local, key
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.commands.values import visible
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.record import Record

SAME_DATABASE = ErrorReply("ERR source and destination objects are the same")
SWAPDB_REFUSED = ErrorReply(
    "ERR SWAPDB is not supported by leaderless: a swap cannot be made atomic across the "
    "replicas and the proxies (other clients would see the databases half swapped); "
    "copy the keys instead"
)
"""Our own text (see the module's docstring)."""


@dataclass(frozen=True, slots=True)
class Move:
    key: bytes
    db: int


def _parse_move(args: list[bytes]) -> Move | ErrorReply:
    db = parse_database(args[2])
    return db if isinstance(db, ErrorReply) else Move(args[1], db)


def _move(context: Context, move: Move) -> Awaitable[object]:
    target = context.state.coordinator.database(move.db)
    return _moved(context.coordinator, target, move.key, context.state.wall_ms)


async def _moved(
    source: Coordinator, target: Coordinator, key: bytes, wall_ms: Callable[[], int]
) -> object:
    if source is target:
        return SAME_DATABASE
    (held,), (taken,) = await asyncio.gather(source.read([key]), target.read([key]))
    now = wall_ms()
    record = visible(held, now)
    if record is None or visible(taken, now) is not None:
        return 0
    copy = Record(target.stamp(), False, record.expires_at_ms, record.value)
    await target.write([(key, copy)])
    await source.write([(key, Record.deletion(source.stamp()))])
    return 1


def _parse_swapdb(args: list[bytes]) -> tuple[int, int] | ErrorReply:
    first = parse_database(args[1], ErrorReply("ERR invalid first DB index"))
    if isinstance(first, ErrorReply) and first is not DB_OUT_OF_RANGE:
        return first
    second = parse_database(args[2], ErrorReply("ERR invalid second DB index"))
    if isinstance(second, ErrorReply):
        return second
    return DB_OUT_OF_RANGE if isinstance(first, ErrorReply) else (first, second)


def _swapdb(context: Context, indexes: tuple[int, int]) -> object:
    first, second = indexes
    return OK if first == second else SWAPDB_REFUSED


SPECS = (
    CommandSpec(
        "move",
        3,
        "write fast",
        "@keyspace @write @fast",
        Doc(
            "Moves a key into another database, unless one is there already.",
            "1.0.0",
            "generic",
            "O(1)",
            (key(), Arg("db", "integer")),
        ),
        Keyspace(_move),
        parse=_parse_move,
        key_specs=(KeySpec("RW access update"),),
    ),
    CommandSpec(
        "swapdb",
        3,
        "write fast",
        "@keyspace @write @fast @dangerous",
        Doc(
            "Exchanges the contents of two databases.",
            "4.0.0",
            "server",
            "O(N) where N is the count of clients watching or blocking on keys from both "
            "databases.",
            (Arg("index1", "integer"), Arg("index2", "integer")),
        ),
        Local(_swapdb),
        parse=_parse_swapdb,
    ),
)
