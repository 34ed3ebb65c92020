"""The one executor: a request's spec decides everything done around its meaning.

For every request: find the spec (unknown command, unknown subcommand, arity), then the guards
in Redis's order (NOAUTH unless the spec is `no_auth`; keys under the reserved prefix, found by
the key specs; writes while the clock is out of bounds, for `write` specs), then the parser,
then the meaning (spec.py lists the kinds). Local and session commands answer at once; the
others return a `Pending` the session starts when the commands ahead of it allow: reads and
blind writes are single rounds on callbacks, read-modify-writes and keyspace work run as
tasks. A read-modify-write, and keyspace work that writes, need a barrier: the commands after
it on the same connection wait until it has written, or they would reach the replicas first.
Every request goes to the coordinator of the database the client had selected when it was
read (`Context.coordinator`). Between MULTI and EXEC a request passes its lookup and guards and
is queued instead (commands/transactions.py says what holds); EXEC runs the queue through this
same function, one request after the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, cast

from leaderless.proxy.commands.args import NOAUTH, token
from leaderless.proxy.commands.spec import (
    Change,
    CommandSpec,
    Keyspace,
    Local,
    Outcome,
    Read,
    ReadWrite,
    Records,
    Script,
    Session,
    Transaction,
    Write,
)
from leaderless.proxy.commands.strings import values
from leaderless.proxy.commands.table import lookup
from leaderless.proxy.commands.transactions import (
    EXEC_REFUSED,
    EXEC_WITHOUT_MULTI,
    EXECABORT,
    NOT_IN_TRANSACTION,
    QUEUED,
    RUN_IN_TRANSACTION,
    modified,
)
from leaderless.proxy.resp import NULL_ARRAY, ErrorReply
from leaderless.proxy.state import Context, Watched
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.record import Record
from leaderless.replication.rounds import QuorumError, pass_outcome
from leaderless.replication.scripts import INTERNAL_PREFIX

RESERVED = ErrorReply(
    "ERR keys starting with '__leaderless:' are reserved for the proxy's own bookkeeping"
)

Answer = Callable[[object], None]
"""Takes a replicated command's reply, or the exception that stands for it."""


class Pending:
    """A command that must ask the replicas: `start(answer)` sends it; `barrier` says whether
    the commands behind it must wait for its answer."""

    __slots__ = ("barrier", "start")

    def __init__(self, start: Callable[[Answer], None], barrier: bool) -> None:
        self.start = start
        self.barrier = barrier


def execute(context: Context, args: list[bytes]) -> object:
    """A request's reply, or the `Pending` that will produce it."""
    spec = lookup(args)
    if isinstance(spec, ErrorReply) and token(args[0]) == b"EXEC":
        return _exec_aborted(context, spec)
    if context.transaction is not None and (
        isinstance(spec, ErrorReply) or spec.name not in RUN_IN_TRANSACTION
    ):
        return _queue(context, spec, args)
    if isinstance(spec, ErrorReply):
        return spec
    context.last_command = spec.name
    refusal = _refusal(context, spec, args)
    if refusal is not None:
        return _exec_aborted(context, refusal) if spec.name == "exec" else refusal
    command: Any = args if spec.parse is None else spec.parse(args)
    if isinstance(command, ErrorReply):
        return command
    meaning = spec.meaning
    if isinstance(meaning, Local | Session):
        return meaning.answer(context, command)
    if isinstance(meaning, Transaction):
        return _exec(context)
    if isinstance(meaning, Script):
        return Pending(partial(_in_task, meaning.run(context, command, SCRIPT_COMMANDS)), True)
    # The database is the one selected when the request is read: it may start later, behind
    # a read-then-write, after a SELECT or RESET that came after it has changed the context.
    coordinator = context.coordinator
    if isinstance(meaning, Read):
        keys = spec.keys(args)
        return Pending(partial(_read, coordinator, context, meaning, command, keys), False)
    if isinstance(meaning, Write):
        return Pending(partial(_write, coordinator, meaning.writes(command, _now(context))), False)
    if isinstance(meaning, ReadWrite):
        if not meaning.reads(command):
            outcome = meaning.apply(command, [], _now(context))
            return Pending(partial(_write, coordinator, outcome), False)
        work = _read_modify_write(coordinator, context, meaning, command, spec.keys(args))
        return Pending(partial(_in_task, work), True)
    assert isinstance(meaning, Keyspace), spec.name  # a container's meaning is a subcommand's
    # One that writes is a barrier: what comes after it is stamped after it (a SET after a
    # FLUSHDB survives it) and reaches the replicas after it.
    return Pending(partial(_in_task, meaning.run(context, command)), spec.has("write"))


def _queue(context: Context, spec: CommandSpec | ErrorReply, args: list[bytes]) -> object:
    """Queue a request of a transaction, or answer why it cannot be (which aborts EXEC)."""
    assert context.transaction is not None
    if isinstance(spec, CommandSpec):
        context.last_command = spec.name
        refusal = _refusal(context, spec, args)
        if refusal is None and spec.has("no_multi"):
            refusal = NOT_IN_TRANSACTION
        if refusal is None:
            context.transaction.append(args)
            return QUEUED
        spec = refusal
    context.transaction_failed = True
    return spec


def _exec_aborted(context: Context, refusal: ErrorReply) -> ErrorReply:
    """EXEC refused (its arity, authentication): the transaction is dropped, as Redis drops it,
    and the refusal says so."""
    context.transaction, context.transaction_failed = None, False
    return ErrorReply(f"EXECABORT {EXEC_REFUSED}{refusal.removeprefix('ERR ')}")


def _exec(context: Context) -> object:
    queued, failed = context.transaction, context.transaction_failed
    watched = context.watched
    context.transaction, context.transaction_failed, context.watched = None, False, []
    if queued is None:
        return EXEC_WITHOUT_MULTI
    if failed:
        return EXECABORT
    return Pending(partial(_start_queued, context, queued, watched), True)


def _start_queued(
    context: Context, queued: list[list[bytes]], watched: list[Awaitable[Watched]], answer: Answer
) -> None:
    _in_task(_run_queued(context, queued, watched), answer)


async def _run_queued(
    context: Context, queued: list[list[bytes]], watched: list[Awaitable[Watched]]
) -> object:
    """EXEC's replies: each queued request run once the one before it has answered; a null
    array if a watched key changed."""
    if watched and await modified(watched, _now(context)):
        return NULL_ARRAY
    return [await _run_one(context, args) for args in queued]


async def _run_one(context: Context, args: list[bytes]) -> object:
    """A request's reply once it has run; an error reply for a failure."""
    reply = execute(context, args)
    if isinstance(reply, Pending):
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        reply.start(done.set_result)
        reply = await done
    if isinstance(reply, BaseException):
        reply = error_reply(reply) or ErrorReply(f"ERR internal error: {reply}")
    return reply


class _InOrder:
    """A script's commands, each run through the executor once the one before has answered."""

    def __init__(self, context: Context) -> None:
        self._context = context

    async def call(self, args: list[bytes]) -> object:
        return await _run_one(self._context, args)


class _ScriptCommands:
    def lookup(self, args: list[bytes]) -> CommandSpec | ErrorReply:
        return lookup(args)

    def calls(self, context: Context) -> _InOrder:
        return _InOrder(context)


SCRIPT_COMMANDS = _ScriptCommands()


def _refusal(context: Context, spec: CommandSpec, args: list[bytes]) -> ErrorReply | None:
    if not context.authenticated and not spec.has("no_auth"):
        return NOAUTH
    if spec.key_specs and any(key.startswith(INTERNAL_PREFIX) for key in spec.keys(args)):
        return RESERVED
    if spec.has("write") and (clock := context.state.clock_check.refusal()):
        return ErrorReply(clock)  # the clock is off: see replication/ntp.py
    return None


def _now(context: Context) -> int:
    return context.state.wall_ms()


def _read(
    coordinator: Coordinator,
    context: Context,
    meaning: Read,
    command: object,
    keys: Sequence[bytes],
    answer: Answer,
) -> None:
    done = partial(_answer_read, answer, context, meaning.reply, command)
    coordinator.read_then(keys, done)


def _answer_read(
    answer: Answer,
    context: Context,
    reply: Callable[[Any, Records, int], object],
    command: object,
    outcome: object,
) -> None:
    if isinstance(outcome, BaseException):
        answer(outcome)
    else:
        answer(reply(command, cast(Records, outcome), _now(context)))


def _stamped(coordinator: Coordinator, changes: Sequence[Change]) -> list[tuple[bytes, Record]]:
    """The changes as records, each with its own timestamp, in order."""
    return [
        (
            change.key,
            Record.deletion(coordinator.stamp())
            if change.value is None
            else Record(coordinator.stamp(), False, change.expires_at_ms, change.value),
        )
        for change in changes
    ]


def _write(coordinator: Coordinator, outcome: Outcome | ErrorReply, answer: Answer) -> None:
    if isinstance(outcome, ErrorReply):
        answer(outcome)
        return
    reply, changes = outcome
    if not changes:
        answer(reply)
        return
    coordinator.write_then(_stamped(coordinator, changes), partial(_answer_written, answer, reply))


def _answer_written(answer: Answer, reply: object, outcome: object) -> None:
    answer(outcome if isinstance(outcome, BaseException) else reply)


async def _read_modify_write(
    coordinator: Coordinator,
    context: Context,
    meaning: ReadWrite,
    command: object,
    keys: Sequence[bytes],
) -> object:
    records = await coordinator.read(keys)
    outcome = meaning.apply(command, records, _now(context))
    if isinstance(outcome, ErrorReply):
        return outcome
    reply, changes = outcome
    if changes:
        await coordinator.write(_stamped(coordinator, changes))
    return reply


def _in_task(work: Awaitable[object], answer: Answer) -> None:
    """Run a command of more than one step as a task: its result or exception is the answer.
    Single-round commands run on callbacks instead, without a task's cost."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(partial(pass_outcome, answer))


_VALUES = Read(values)


def read_values(context: Context, keys: Sequence[bytes], answer: Answer) -> None:
    """A run of pipelined GETs read as one (the session's, for GETs it has checked): `answer`
    gets the values, None for nil."""
    _read(context.coordinator, context, _VALUES, keys, keys, answer)


def write_values(context: Context, pairs: Sequence[tuple[bytes, bytes]], answer: Answer) -> None:
    """A run of pipelined plain SETs written as one (the session's, for SETs it has checked):
    `answer` gets None or the failure."""
    changes = [Change(key, value) for key, value in pairs]
    _write(context.coordinator, (None, changes), answer)


def error_reply(failure: BaseException) -> ErrorReply | None:
    """The client's reply to a replicated command that raised `failure`, if it is a quorum
    failure (the text says how many replicas of how many answered) or the proxy shutting down;
    None for other errors."""
    if isinstance(failure, QuorumError):
        return ErrorReply(str(failure))
    if isinstance(failure, asyncio.CancelledError):
        return ErrorReply("ERR request cancelled: the proxy is shutting down")
    return None
