"""MULTI, EXEC and DISCARD: requests queued on one connection, then run in order as one unit.

Between MULTI and EXEC the executor queues each request instead of running it (execute.py),
answering QUEUED; a request it cannot queue (an unknown command, a wrong arity, a refusal, a
command not allowed in a transaction) answers its error and makes EXEC answer EXECABORT, so
nothing of the transaction applies, as in Redis. EXEC runs the queued requests as one unit of
work (execute.py's `Unit`): alone at this proxy, no other client's command in between
(gate.py), its reads seeing its own writes, and its writes sent together at the end (units.py).
It answers their replies in one array; an error of one (a syntax error, a missed quorum of its
writes) is its own entry and the others still apply, as a runtime error in Redis does not roll
a transaction back. The commands behind EXEC on the connection wait for it. Across proxies a
transaction is not isolated: other proxies' clients can write its keys meanwhile, and each
write converges by last write wins on its own.

WATCH reads its keys at quorum and keeps the version each had (its timestamp, and whether a
client could see it); EXEC reads them again first and answers nil, running nothing, if any
version differs, as Redis's EXEC does when a watched key was modified or expired. What this
cannot see: a write through another proxy that lands after EXEC's read, while the queued
commands run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from leaderless.proxy.commands.spec import (
    CommandSpec,
    Doc,
    Keyspace,
    KeySpec,
    Records,
    Session,
    Transaction,
    key,
)
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.commands.values import visible
from leaderless.proxy.resp import ErrorReply, SimpleString
from leaderless.proxy.state import Context, Watched
from leaderless.replication.coordinator import Coordinator

QUEUED = SimpleString("QUEUED")
NOT_IN_TRANSACTION = ErrorReply("ERR Command not allowed inside a transaction")
EXEC_WITHOUT_MULTI = ErrorReply("ERR EXEC without MULTI")
DISCARD_WITHOUT_MULTI = ErrorReply("ERR DISCARD without MULTI")
EXECABORT = ErrorReply("EXECABORT Transaction discarded because of previous errors.")
EXEC_REFUSED = "Transaction discarded because of: "
"""EXEC's own refusal, after EXECABORT: then the refusal's text."""
RUN_IN_TRANSACTION = frozenset({"exec", "discard", "quit", "reset"})
"""The commands that run at once between MULTI and EXEC instead of being queued."""


def _multi(context: Context, args: list[bytes]) -> object:
    context.transaction, context.transaction_failed = [], False
    return OK


def _discard(context: Context, args: list[bytes]) -> object:
    if context.transaction is None:
        return DISCARD_WITHOUT_MULTI
    context.transaction, context.transaction_failed = None, False
    context.watched = []
    return OK


UNREAD = object()
"""The version of a key a failed WATCH could not read: it equals no version EXEC reads."""


def versions(records: Records, now_ms: int) -> list[object]:
    """What WATCH compares: each record's timestamp, and whether a client sees it now."""
    return [
        None if record is None else (record.ts, visible(record, now_ms) is not None)
        for record in records
    ]


def _watch(context: Context, args: list[bytes]) -> Awaitable[object]:
    done: asyncio.Future[Watched] = asyncio.get_running_loop().create_future()
    context.watched.append(done)
    return _read_versions(context, context.coordinator, args[1:], done)


async def _read_versions(
    context: Context, coordinator: Coordinator, keys: Sequence[bytes], done: asyncio.Future[Watched]
) -> object:
    try:
        records = await coordinator.read(keys)
    except BaseException:
        done.set_result([(coordinator, k, UNREAD) for k in keys])  # EXEC will run nothing
        raise
    found = versions(records, context.state.wall_ms())
    done.set_result([(coordinator, k, v) for k, v in zip(keys, found, strict=True)])
    return OK


async def modified(watched: Sequence[Awaitable[Watched]], now_ms: int) -> bool:
    """Whether a watched key's version differs now from what its WATCH read."""
    entries = [entry for done in watched for entry in await done]
    for coordinator in {entry[0] for entry in entries}:
        mine = [(k, v) for c, k, v in entries if c is coordinator]
        records = await coordinator.read([k for k, _ in mine])
        if versions(records, now_ms) != [v for _, v in mine]:
            return True
    return False


def _unwatch(context: Context, args: list[bytes]) -> object:
    context.watched = []
    return OK


SPECS = (
    CommandSpec(
        "multi",
        1,
        "noscript loading stale fast no_multi allow_busy",
        "@fast @transaction",
        Doc(
            "Starts queueing this connection's commands for EXEC.", "1.2.0", "transactions", "O(1)"
        ),
        Session(_multi),
    ),
    CommandSpec(
        "exec",
        1,
        "noscript loading stale skip_commandlog",
        "@slow @transaction",
        Doc(
            "Runs the commands queued since MULTI, in order, and answers their replies.",
            "1.2.0",
            "transactions",
            "Depends on commands in the transaction",
        ),
        Transaction(),
    ),
    CommandSpec(
        "watch",
        -2,
        "noscript loading stale fast no_multi allow_busy",
        "@fast @transaction",
        Doc(
            "Makes the next EXEC run nothing if one of these keys changes before it.",
            "2.2.0",
            "transactions",
            "O(1) for every key.",
            (key(multiple=True),),
        ),
        Keyspace(_watch),
        key_specs=(KeySpec("RO", last=-1),),
    ),
    CommandSpec(
        "unwatch",
        1,
        "noscript loading stale fast allow_busy",
        "@fast @transaction",
        Doc("Forgets the keys watched for the next EXEC.", "2.2.0", "transactions", "O(1)"),
        Session(_unwatch),
    ),
    CommandSpec(
        "discard",
        1,
        "noscript loading stale fast allow_busy",
        "@fast @transaction",
        Doc(
            "Drops the commands queued since MULTI.",
            "2.0.0",
            "transactions",
            "O(N), when N is the number of queued commands",
        ),
        Session(_discard),
    ),
)
