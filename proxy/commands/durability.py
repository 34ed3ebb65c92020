"""WAIT and WAITAOF: how far this client's last write has reached.

Redis's WAIT counts the replicas that acknowledged the client's writes, the master excluded.
Here there is no master: every replica is a peer, and a write is acknowledged once W of the N
hold it and reaches the others later (or as a replayed hint, or by anti-entropy). So WAIT
answers how many of the N replicas hold the client's last write now (`replication/holders.py`
says what holding means), N when all do. It answers at once when that is at least
`numreplicas`, else asks again, more slowly each time (from 10 ms up to 500 ms apart), until
it is or `timeout` ms have passed (0: no limit, as in Redis), and answers the last count;
it stops asking when the client disconnects. A client that has written nothing yet gets the
number of replicas that answer.

The last write is the last one a single-key or multi-key string command made (SET, MSET, DEL,
EXPIRE...); COPY, MOVE, FLUSHDB and FLUSHALL do not change it.

WAITAOF asks for fsyncs to append-only files, which the proxy does not see: it checks its
arguments as Redis does and answers `[0, 0]` when nothing is asked, refuses numlocal as Redis
does with appendonly off (the proxy has no file of its own), and refuses numreplicas > 0.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from leaderless.proxy.commands.args import (
    LLONG_MAX,
    NOT_AN_INTEGER,
    parse_long_long,
)
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Keyspace, Local
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context
from leaderless.replication.holders import count_holders

TIMEOUT_NOT_AN_INTEGER = ErrorReply("ERR timeout is not an integer or out of range")
TIMEOUT_NEGATIVE = ErrorReply("ERR timeout is negative")
TIMEOUT_OUT_OF_RANGE = ErrorReply("ERR timeout is out of range")
NOT_POSITIVE = ErrorReply("ERR value is out of range, must be positive")
NUMLOCAL_OUT_OF_RANGE = ErrorReply("ERR value is out of range, value must between 0 and 1")
NO_APPENDONLY = ErrorReply(
    "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."
)
AOF_OF_REPLICAS = ErrorReply(
    "ERR WAITAOF numreplicas is not supported by leaderless: the proxy does not see its"
    " replicas' append-only files; WAIT counts the replicas that hold a write"
)

FIRST_POLL_S = 0.01
LAST_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class Wait:
    numreplicas: int
    timeout_ms: int
    """0: no limit."""


def parse_timeout_ms(arg: bytes, now_ms: int) -> int | ErrorReply:
    """Redis's getTimeoutFromObjectOrReply in milliseconds: an integer, not negative, whose
    deadline (now plus it) fits in 64 bits."""
    timeout = parse_long_long(arg)
    if timeout is None:
        return TIMEOUT_NOT_AN_INTEGER
    if timeout < 0:
        return TIMEOUT_NEGATIVE
    if timeout > LLONG_MAX - now_ms:
        return TIMEOUT_OUT_OF_RANGE
    return timeout


def parse_wait(args: list[bytes], now_ms: int) -> Wait | ErrorReply:
    """Redis's order: numreplicas, then the timeout."""
    numreplicas = parse_long_long(args[1])
    if numreplicas is None:
        return NOT_AN_INTEGER
    timeout = parse_timeout_ms(args[2], now_ms)
    if isinstance(timeout, ErrorReply):
        return timeout
    return Wait(numreplicas, timeout)


def parse_waitaof(args: list[bytes], now_ms: int) -> list[int] | ErrorReply:
    """WAITAOF's reply, or its error: numlocal, numreplicas and the timeout checked in
    Redis's order, then what the proxy cannot count."""
    numlocal = parse_long_long(args[1])
    if numlocal is None:
        return NOT_AN_INTEGER
    if not 0 <= numlocal <= 1:
        return NUMLOCAL_OUT_OF_RANGE
    numreplicas = parse_long_long(args[2])
    if numreplicas is None or numreplicas < 0:
        return NOT_POSITIVE
    timeout = parse_timeout_ms(args[3], now_ms)
    if isinstance(timeout, ErrorReply):
        return timeout
    if numlocal:
        return NO_APPENDONLY
    if numreplicas:
        return AOF_OF_REPLICAS
    return [0, 0]


async def _wait(context: Context, args: list[bytes]) -> int | ErrorReply:
    """The count once it reaches numreplicas or the timeout passes. The arguments are read
    and the last write taken when WAIT starts, after the writes before it on the connection
    have been sent."""
    wait = parse_wait(args, context.state.wall_ms())
    if isinstance(wait, ErrorReply):
        return wait
    db, written = context.last_write or (0, [])
    versions = [(key, record.ts) for key, record in written]
    coordinator = context.state.coordinator.database(db)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait.timeout_ms / 1000 if wait.timeout_ms else None
    pause = FIRST_POLL_S
    while True:
        count = await count_holders(coordinator, versions)
        if count >= wait.numreplicas:
            return count
        now = loop.time()
        if (deadline is not None and now >= deadline) or not _connected(context):
            return count
        await asyncio.sleep(pause if deadline is None else min(pause, deadline - now))
        pause = min(pause * 2, LAST_POLL_S)


def _connected(context: Context) -> bool:
    """Whether the client is still connected: a WAIT without a timeout ends with it."""
    return context.state.clients.get(context.client_id) is context


def _waitaof(context: Context, args: list[bytes]) -> object:
    return parse_waitaof(args, context.state.wall_ms())


_BLOCKING_ACL = "@slow @blocking @connection"
_TIPS = ("request_policy:all_shards", "response_policy:agg_min")
_NUMREPLICAS = Arg("numreplicas", "integer")
_TIMEOUT = Arg("timeout", "integer")

SPECS = (
    CommandSpec(
        "wait",
        3,
        "blocking",
        _BLOCKING_ACL,
        Doc(
            "Waits until this client's last write is held by numreplicas replicas, or the"
            " timeout; answers how many hold it.",
            "3.0.0",
            "generic",
            "O(1)",
            (_NUMREPLICAS, _TIMEOUT),
        ),
        Keyspace(_wait),
        tips=_TIPS,
    ),
    CommandSpec(
        "waitaof",
        4,
        "blocking",
        _BLOCKING_ACL,
        Doc(
            "Checks its arguments; answers [0, 0] when no fsync is asked for, and refuses"
            " the rest: the proxy does not see append-only files.",
            "7.2.0",
            "generic",
            "O(1)",
            (Arg("numlocal", "integer"), _NUMREPLICAS, _TIMEOUT),
        ),
        Local(_waitaof),
        tips=_TIPS,
    ),
)
