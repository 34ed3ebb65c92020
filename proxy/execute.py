"""The one executor: a request's spec decides everything done around its meaning.

For every request: find the spec (unknown command, unknown subcommand, arity), then the guards
in Redis's order (NOAUTH unless the spec is `no_auth`; keys under the reserved prefix, found by
the key specs; writes while the clock is out of bounds, for `write` specs), then the parser,
then the meaning (spec.py lists the kinds). Local and session commands answer at once; the
others return a `Pending` the session starts when the commands ahead of it allow: reads and
blind writes are single rounds on callbacks, read-modify-writes and keyspace work run as
tasks. A read-modify-write, and keyspace work that writes, need a barrier: the commands after
it on the same connection wait until it has written, or they would reach the replicas first;
so does keyspace work that reads after its first step (SCAN), or writes would overtake that.
Every request goes to the coordinator of the database the client had selected when it was
read (`Context.coordinator`). Between MULTI and EXEC a request passes its lookup and guards and
is queued instead (commands/transactions.py says what holds); EXEC runs the queue as a `Unit`,
which takes each request through the same lookup, guards and parser and runs its meaning with
the unit's own writes buffered (units.py), alone at this proxy (gate.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar, cast

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
from leaderless.proxy.units import WriteBuffer
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.record import Record
from leaderless.replication.rounds import QuorumError, pass_outcome
from leaderless.replication.scripts import INTERNAL_PREFIX

RESERVED = ErrorReply(
    "ERR keys starting with '__leaderless:' are reserved for the proxy's own bookkeeping"
)

T = TypeVar("T")
Answer = Callable[[object], None]
"""Takes a replicated command's reply, or the exception that stands for it."""


class Pending:
    """A command that must ask the replicas: `start(answer)` sends it; `barrier` says whether
    the commands behind it must wait for its answer; `exclusive`, whether it runs a `Unit`, to
    be started only when it can run alone at this proxy (gate.py)."""

    __slots__ = ("barrier", "exclusive", "start")

    def __init__(
        self, start: Callable[[Answer], None], barrier: bool, exclusive: bool = False
    ) -> None:
        self.start = start
        self.barrier = barrier
        self.exclusive = exclusive


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
    command = checked(context, spec, args)
    if isinstance(command, ErrorReply):  # EXEC has no parser: its error is a refusal
        return _exec_aborted(context, command) if spec.name == "exec" else command
    meaning = spec.meaning
    if isinstance(meaning, Local | Session):
        return meaning.answer(context, command)
    if isinstance(meaning, Transaction):
        return _exec(context)
    if isinstance(meaning, Script):
        run = meaning.run(context, command, SCRIPT_COMMANDS)
        return Pending(partial(_in_task, run), True, exclusive=True)
    # The database is the one selected when the request is read: it may start later, behind
    # a read-then-write, after a SELECT or RESET that came after it has changed the context.
    coordinator = context.coordinator
    if isinstance(meaning, Read):
        keys = spec.keys(args)
        return Pending(partial(_read, coordinator, context, meaning, command, keys), False)
    if isinstance(meaning, Write):
        outcome = meaning.writes(command, _now(context))
        return Pending(partial(_write, context, coordinator, outcome), False)
    if isinstance(meaning, ReadWrite):
        if not meaning.reads(command):
            outcome = meaning.apply(command, [], _now(context))
            return Pending(partial(_write, context, coordinator, outcome), False)
        work = _read_modify_write(coordinator, context, meaning, command, spec.keys(args))
        return Pending(partial(_in_task, work), True)
    assert isinstance(meaning, Keyspace), spec.name  # a container's meaning is a subcommand's
    # One that writes is a barrier: what comes after it is stamped after it (a SET after a
    # FLUSHDB survives it) and reaches the replicas after it; so is one whose reads must not
    # be overtaken by the writes behind it.
    barrier = spec.has("write") or meaning.ordered
    return Pending(partial(_in_task, meaning.run(context, command)), barrier)


def checked(context: Context, spec: CommandSpec, args: list[bytes]) -> Any:
    """The request's command, parsed once its guards let it through; or the error to answer."""
    context.last_command = spec.name
    refusal = _refusal(context, spec, args)
    if refusal is not None:
        return refusal
    return args if spec.parse is None else spec.parse(args)


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
    # The requests read after EXEC run in the database it leaves selected, as in Redis.
    db, context.db = context.db, _selected_after(context.db, queued)
    return Pending(partial(_start_queued, context, db, queued, watched), True, exclusive=True)


def _selected_after(db: int, queued: list[list[bytes]]) -> int:
    """The database a transaction leaves selected: its last SELECT's, if that parses (the
    only way one fails), else `db`. Known when EXEC is read, before the queue runs."""
    for args in queued:
        spec = lookup(args)
        if isinstance(spec, CommandSpec) and spec.name == "select" and spec.parse is not None:
            index = spec.parse(args)
            if isinstance(index, int):
                db = index
    return db


def _start_queued(
    context: Context,
    db: int,
    queued: list[list[bytes]],
    watched: list[Awaitable[Watched]],
    answer: Answer,
) -> None:
    _in_task(_run_queued(context, db, queued, watched), answer)


async def _run_queued(
    context: Context, db: int, queued: list[list[bytes]], watched: list[Awaitable[Watched]]
) -> object:
    """EXEC's replies: a null array if a watched key changed, else the queued requests run as
    one unit in database `db` (what was selected before EXEC), each entry the request's reply
    or the error of its writes' missed quorum. The check runs inside the unit's turn, so no
    other client of this proxy writes in between."""
    if watched and await modified(watched, _now(context)):
        if context.db == _selected_after(db, queued):
            context.db = db  # none of its SELECTs ran
        return NULL_ARRAY
    unit = Unit(context, db)
    replies = [await unit.call(args) for args in queued]
    failures = await unit.finish()
    return [
        reply if failure is None else failure
        for reply, failure in zip(replies, failures, strict=True)
    ]


class Unit:
    """Requests run one after the other as one unit of work: each through the executor's
    rules (lookup, guards, parser, meaning), but its reads see the unit's own writes and its
    writes wait in a buffer until `finish` sends them all, stamped together (units.py).

    Run a unit only where nothing else of this proxy runs beside it: from a `Pending` made
    with `exclusive`, which the session starts in its turn (gate.py). It runs in database
    `db`, the one selected when the request that runs it was read; a SELECT inside the unit
    changes the database of the calls after it, and only the unit's: the session may have
    read (and run) further requests meanwhile."""

    def __init__(self, context: Context, db: int) -> None:
        self.context = context
        self.db = db
        """The database the unit's next call runs in."""
        self.calls = 0
        """How many requests `call` has run, each known by its position."""
        self._buffer = WriteBuffer()
        self._failures: dict[int, ErrorReply] = {}

    async def call(self, args: list[bytes]) -> object:
        """The reply of one request of the unit (an ErrorReply for an error)."""
        position = self.calls
        self.calls += 1
        spec = lookup(args)
        if isinstance(spec, ErrorReply):
            return spec
        command = checked(self.context, spec, args)
        if isinstance(command, ErrorReply):
            return command
        try:
            return await self._run(position, spec, args, command)
        except Exception as exc:
            return _failure(exc)

    async def finish(self) -> list[ErrorReply | None]:
        """Send what is buffered. Then, for each call in order, the error that replaces its
        reply because a write of it missed its quorum, or None."""
        await self._send()
        return [self._failures.get(position) for position in range(self.calls)]

    async def _run(
        self, position: int, spec: CommandSpec, args: list[bytes], command: Any
    ) -> object:
        context = self.context
        meaning = spec.meaning
        if isinstance(meaning, Local | Session):
            return self._in_own_database(meaning.answer, command)
        coordinator = context.state.coordinator.database(self.db)
        if isinstance(meaning, Read):
            records = await self._records(coordinator, spec.keys(args))
            return meaning.reply(command, records, _now(context))
        if isinstance(meaning, Write):
            return self._buffered(position, coordinator, meaning.writes(command, _now(context)))
        if isinstance(meaning, ReadWrite):
            reads = meaning.reads(command)
            records = await self._records(coordinator, spec.keys(args)) if reads else []
            outcome = meaning.apply(command, records, _now(context))
            return self._buffered(position, coordinator, outcome)
        # Work over a whole keyspace sees what the unit wrote, and is stamped after it; so
        # does a script (EVAL queued in MULTI), which runs as a unit of its own.
        await self._send()
        if isinstance(meaning, Keyspace):
            return await self._in_own_database(meaning.run, command)
        if isinstance(meaning, Script):
            run = meaning.run
            return await self._in_own_database(
                lambda context, command: run(context, command, SCRIPT_COMMANDS), command
            )
        return _exec(context)  # EXEC: no MULTI is open inside a unit

    def _in_own_database(self, answer: Callable[[Context, Any], T], command: Any) -> T:
        """What `answer` gives (and takes from the context) with the unit's database
        selected; a SELECT it makes stays the unit's."""
        context = self.context
        outer, context.db = context.db, self.db
        try:
            return answer(context, command)
        finally:
            self.db, context.db = context.db, outer

    async def _records(self, coordinator: Coordinator, keys: Sequence[bytes]) -> Records:
        unread = self._buffer.unread(coordinator.db, keys)
        read = await coordinator.read(unread) if unread else []
        read = coordinator.unacknowledged.merged_into(unread, read)
        return self._buffer.records(coordinator.db, keys, read)

    def _buffered(
        self, position: int, coordinator: Coordinator, outcome: Outcome | ErrorReply
    ) -> object:
        if isinstance(outcome, ErrorReply):
            return outcome
        reply, changes = outcome
        if changes:
            self._buffer.put(position, coordinator.db, _stamped(self.context, coordinator, changes))
        return reply

    async def _send(self) -> None:
        """Write what is buffered, one write per database, all at once; a write that misses
        its quorum fails the calls whose records it carried."""
        root = self.context.state.coordinator
        batches = self._buffer.take(root.stamp)
        if not batches:
            return
        for batch in batches:
            root.database(batch.db).unacknowledged.sending(batch.records)
        outcomes = await asyncio.gather(
            *(root.database(batch.db).write(batch.records) for batch in batches),
            return_exceptions=True,
        )
        for batch, outcome in zip(batches, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                for position in batch.writers:
                    self._failures.setdefault(position, _failure(outcome))
            else:
                root.database(batch.db).unacknowledged.acknowledged(batch.records)


def _failure(exc: BaseException) -> ErrorReply:
    return error_reply(exc) or ErrorReply(f"ERR internal error: {exc}")


class _ScriptCommands:
    """The executor as a script uses it: each script's commands run as one unit of work."""

    def lookup(self, args: list[bytes]) -> CommandSpec | ErrorReply:
        return lookup(args)

    def calls(self, context: Context) -> Unit:
        return Unit(context, context.db)


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
        return
    try:
        result = reply(command, cast(Records, outcome), _now(context))
    except Exception as exc:  # a record it cannot show fails this request, not the connection
        result = exc
    answer(result)


def _stamped(
    context: Context, coordinator: Coordinator, changes: Sequence[Change]
) -> list[tuple[bytes, Record]]:
    """The changes as records, each with its own timestamp, in order (a counter's change in
    this process's shard); the client's last write from now on (for WAIT)."""
    records = [(change.key, _record(coordinator, change)) for change in changes]
    context.last_write = (coordinator.db, records)
    return records


def _record(coordinator: Coordinator, change: Change) -> Record:
    if change.counter is not None:
        return change.counter.record(coordinator.stamp(), coordinator.counter_shard)
    if change.value is None:
        return Record.deletion(coordinator.stamp())
    return Record(coordinator.stamp(), False, change.expires_at_ms, change.value)


def _write(
    context: Context, coordinator: Coordinator, outcome: Outcome | ErrorReply, answer: Answer
) -> None:
    if isinstance(outcome, ErrorReply):
        answer(outcome)
        return
    reply, changes = outcome
    if not changes:
        answer(reply)
        return
    records = _stamped(context, coordinator, changes)
    coordinator.write_then(records, partial(_answer_written, answer, reply))


def _answer_written(answer: Answer, reply: object, outcome: object) -> None:
    answer(outcome if isinstance(outcome, BaseException) else reply)


async def _read_modify_write(
    coordinator: Coordinator,
    context: Context,
    meaning: ReadWrite,
    command: object,
    keys: Sequence[bytes],
) -> object:
    if not meaning.latched:
        return await _read_then_write(coordinator, context, meaning, command, keys)
    async with context.state.latches.holding(coordinator.db, keys):
        return await _read_then_write(coordinator, context, meaning, command, keys)


async def _read_then_write(
    coordinator: Coordinator,
    context: Context,
    meaning: ReadWrite,
    command: object,
    keys: Sequence[bytes],
) -> object:
    unacknowledged = coordinator.unacknowledged
    unacknowledged.reading(keys)
    try:
        records = unacknowledged.merged_into(keys, await coordinator.read(keys))
        outcome = meaning.apply(command, records, _now(context))
        if isinstance(outcome, ErrorReply):
            return outcome
        reply, changes = outcome
        stamped = _stamped(context, coordinator, changes)
        unacknowledged.sending(stamped)
    finally:
        unacknowledged.done_reading(keys)
    if stamped:
        await coordinator.write(stamped)
        unacknowledged.acknowledged(stamped)
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
    _write(context, context.coordinator, (None, changes), answer)


def error_reply(failure: BaseException) -> ErrorReply | None:
    """The client's reply to a replicated command that raised `failure`, if it is a quorum
    failure (the text says how many replicas of how many answered) or the proxy shutting down;
    None for other errors."""
    if isinstance(failure, QuorumError):
        return ErrorReply(str(failure))
    if isinstance(failure, asyncio.CancelledError):
        return ErrorReply("ERR request cancelled: the proxy is shutting down")
    return None
