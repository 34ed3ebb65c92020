"""One client connection: bytes in, commands executed, replies out in request order.

A client may pipeline many requests; each one that needs the replicas is started and answers
through a callback when its quorum is in (no task of its own unless it takes more than one
round), so a slow request never holds back the parsing or the sending of the ones behind it,
while
the replies still leave in request order: every request takes a slot in a queue and replies
are written from the head of the queue as their slots fill. Replies that are ready while
nothing is queued ahead go straight into the batch written at the end of the read. Replies
that fill while requests behind them are still in flight wait for the end of the event-loop
tick, so that a pipeline's replies, which the replicas answer together, leave in one write
(one system call) instead of one each.

Limits, as Redis has them: a protocol error or an over-limit request is answered with
`-ERR Protocol error: ...` and the connection is closed; a client whose unsent replies exceed
`max_output_bytes` is disconnected; a client with too many requests in flight stops being
read until it catches up.

While a unit of work (EXEC) runs or waits for its turn (gate.py), the requests that would go
to the replicas park, in order, as they park behind a read-then-write command of their own
connection; the session counts what it has started and not answered, for the gate to know
when a unit may start.

Replies the client turned off (CLIENT REPLY OFF or SKIP) still take their place in the order,
empty. Each command's calls, time to reply, refusals and errors go to INFO commandstats.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from functools import partial
from time import perf_counter_ns
from typing import TypeVar, cast

from leaderless.proxy.commands.args import NOAUTH, arity_error
from leaderless.proxy.commands.spec import CommandSpec
from leaderless.proxy.commands.table import lookup
from leaderless.proxy.execute import (
    RESERVED,
    Answer,
    Pending,
    error_reply,
    execute,
    read_values,
    write_values,
)
from leaderless.proxy.gate import UnitGate
from leaderless.proxy.resp import ErrorReply, Limits, RequestDecoder, encode
from leaderless.proxy.state import CommandStats, Context, ProxyState
from leaderless.replication.coordinator import MAX_BATCH
from leaderless.replication.scripts import INTERNAL_PREFIX

log = logging.getLogger(__name__)
T = TypeVar("T")

_PLAIN = {2: b"get", 3: b"set"}
"""The requests done in runs, by their length: GET key, and SET key value (no options)."""
_OK_REPLY = b"+OK\r\n"
MAX_IN_FLIGHT = 4096
RESUME_IN_FLIGHT = 1024


class _Slot:
    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: bytes | None = None


class ClientSession(asyncio.Protocol, Context):
    def __init__(self, state: ProxyState) -> None:
        Context.__init__(self, state)
        limits = state.settings.limits
        self._decoder = RequestDecoder(
            Limits(max_bulk_bytes=limits.max_bulk_bytes, max_args=limits.max_args)
        )
        self._transport: asyncio.Transport | None = None
        self._queue: deque[_Slot] = deque()
        self._batch: list[bytes] = []
        self._closing = False
        self._paused = False
        self._drained: asyncio.Future[None] | None = None  # only while shutdown waits
        self._barrier: asyncio.Future[None] | None = None
        self._parked: deque[tuple[asyncio.Future[None] | None, Pending, Answer]] = deque()
        """Requests waiting for the read-then-write command ahead of them or for a unit of
        work, in order, each with the barrier it waits for: started by `_unpark`, never
        overtaken by later requests."""
        self._loop = asyncio.get_running_loop()
        self._flush_scheduled = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport = transport
        state = self.state
        state.connections_received += 1
        if len(state.clients) >= state.settings.listen.max_clients:
            state.rejected_connections += 1
            transport.write(b"-ERR max number of clients reached\r\n")
            transport.close()
            return
        self.client_id = state.next_client_id
        state.next_client_id += 1
        state.clients[self.client_id] = self
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer = f"{peer[0]}:{peer[1]}"
        local = transport.get_extra_info("sockname")
        if isinstance(local, tuple):
            self.local = f"{local[0]}:{local[1]}"

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.clients.pop(self.client_id, None)
        self._transport = None
        self._closing = True

    def data_received(self, data: bytes) -> None:
        self.touch()
        self.bytes_in += len(data)
        self.state.net_input_bytes += len(data)
        requests, error = self._decoder.feed(data)
        run: list[list[bytes]] = []
        kind: bytes | None = None
        for args in requests:
            if self._closing:
                break
            joins = self._joins(args)
            if run and (joins != kind or len(run) == MAX_BATCH):
                self._run(self._execute_run, run)
                run = []
            if joins is None:
                self._run(self._execute, args)
            else:
                run.append(args)
                kind = joins
        if run:
            self._run(self._execute_run, run)
        if error is not None and not self._closing:
            self.state.error_replies += 1
            self._push(encode(ErrorReply(f"ERR {error}"), self.protocol))
            self.close_after_replies()
        self._write_batch()

    # Execution

    def _run(self, execute: Callable[[T], None], args: T) -> None:
        try:
            execute(args)
        except Exception as exc:  # a bug must cost one reply, not the connection
            log.exception("command failed")
            self._push(encode(ErrorReply(f"ERR internal error: {exc}"), self.protocol))

    def _joins(self, args: list[bytes]) -> bytes | None:
        """b"get" or b"set" if the request is a plain GET or SET (no options) that may share
        one read or write with the same requests next to it: nothing would refuse it and no
        read-then-write command ahead of it is unfinished. Otherwise None."""
        name = _PLAIN.get(len(args))
        if name is None or args[0].lower() != name or not self.authenticated:
            return None
        if self.replies_off or self.skip_next_reply or self.transaction is not None:
            return None
        if args[1].startswith(INTERNAL_PREFIX):
            return None
        if self._parked or ((barrier := self._barrier) is not None and not barrier.done()):
            return None
        if name == b"set" and self.state.clock_check.refusal():
            return None
        return name

    def _execute_run(self, run: list[list[bytes]]) -> None:
        """Consecutive pipelined GETs, or SETs, as one read or write and one reply slot: the
        per-request work is most of a pipelined request's cost. While a unit of work holds
        the gate, each request parks on its own instead."""
        if self.state.gate.closed is not None:
            for args in run:
                self._execute(args)
            return
        self.state.gate.in_flight += 1
        self.commands += len(run)
        stats = self.state.command("get" if len(run[0]) == 2 else "set")
        slot = self._reserve()
        answer = partial(self._answer_run, slot, self.protocol, len(run), stats, perf_counter_ns())
        try:
            if len(run[0]) == 2:
                read_values(self, [args[1] for args in run], answer)
            else:
                write_values(self, [(args[1], args[2]) for args in run], answer)
        except Exception as exc:  # a bug must cost these replies, not the connection
            answer(exc)

    def _execute(self, args: list[bytes]) -> None:
        state = self.state
        started = perf_counter_ns()
        if self.skip_next_reply:
            self.skip_reply, self.skip_next_reply = True, False
        pending = execute(self, args)
        self.commands += 1
        silent = self.skip_reply or self.replies_off or self.skip_next_reply
        self.skip_reply = False
        if not isinstance(pending, Pending):  # answered at once; HELLO answers in its new protocol
            if isinstance(pending, ErrorReply):
                self._count_error(args, pending, started)
            else:
                state.count_calls(state.command(self.last_command), started)
            if not silent:
                self._push(encode(pending, self.protocol))
            return
        stats = state.command(self.last_command)  # a pending command has passed its lookup
        slot = self._reserve()
        answer: Answer = partial(self._answer, slot, self.protocol, stats, started, silent)
        barrier = self._barrier
        if pending.barrier:
            lifted = self._barrier = self._loop.create_future()
            answer = partial(_answer_and_lift, answer, lifted)
        if (
            self._parked
            or (barrier is not None and not barrier.done())
            or (state.gate.closed is not None and not pending.exclusive)
        ):
            self._parked.append((barrier, pending, answer))
            if len(self._parked) == 1:
                self._unpark(None)
        else:
            self._start(pending, answer)

    def _unpark(self, _: object) -> None:
        """Start the parked requests whose barrier is lifted, in order, unless a unit of work
        holds the gate. A barrier's callbacks run a loop turn after it is lifted; requests
        that arrive meanwhile park behind the others rather than start first."""
        parked = self._parked
        gate = self.state.gate
        while parked:
            barrier, pending, answer = parked[0]
            if barrier is not None and not barrier.done():
                barrier.add_done_callback(self._unpark)
                return
            if gate.closed is not None and not pending.exclusive:
                gate.closed.add_done_callback(self._unpark)
                return
            parked.popleft()
            self._start(pending, answer)

    def _reserve(self) -> _Slot:
        """A place in the reply order for a request answered later."""
        slot = _Slot()
        self._queue.append(slot)
        if len(self._queue) >= MAX_IN_FLIGHT and self._transport and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        return slot

    def _start(self, pending: Pending, answer: Answer) -> None:
        gate = self.state.gate
        gate.in_flight += 1
        if pending.exclusive:
            gate.admit(partial(_begin, pending, partial(_answer_and_end, answer, gate)))
        else:
            _begin(pending, answer)

    def _count_error(self, args: list[bytes], reply: ErrorReply, started: int) -> None:
        """Count an error answered at once. A request refused before its command ran (its
        arity, authentication, a reserved key, the clock) is a rejected call of the command
        it names; any other error a failed call. An unknown command is only an error reply."""
        state = self.state
        spec = lookup(args)
        refused_clock = reply == state.clock_check.refusal()
        if isinstance(spec, CommandSpec) and not (
            reply is NOAUTH or reply is RESERVED or refused_clock
        ):
            state.count_calls(state.command(spec.name), started, failed=True)
            return
        state.error_replies += 1
        state.clock_refused_writes += refused_clock
        if isinstance(spec, CommandSpec):
            state.command(spec.name).rejected += 1
            return
        name = reply.partition("'")[2].rpartition("'")[0]
        if reply == arity_error(name):
            state.command(name).rejected += 1

    def _answer(
        self,
        slot: _Slot,
        protocol: int,
        stats: CommandStats,
        started: int,
        silent: bool,
        outcome: object,
    ) -> None:
        """A replicated command's reply (or failure) is in: send what is at the head."""
        gate = self.state.gate
        gate.in_flight -= 1
        if gate.closed is not None:
            gate.advance()
        if isinstance(outcome, BaseException):
            outcome = error_reply(outcome) or self._internal_error(outcome)
        self.state.count_calls(stats, started, failed=isinstance(outcome, ErrorReply))
        self._fill(slot, b"" if silent else encode(outcome, protocol))

    def _answer_run(
        self,
        slot: _Slot,
        protocol: int,
        count: int,
        stats: CommandStats,
        started: int,
        outcome: object,
    ) -> None:
        """`_answer` for a run of requests done as one (`_execute_run`): the error for each, OK
        for each SET, or a value for each GET."""
        gate = self.state.gate
        gate.in_flight -= 1
        if gate.closed is not None:
            gate.advance()
        failed = isinstance(outcome, BaseException)
        self.state.count_calls(stats, started, failed=failed, count=count)
        if isinstance(outcome, BaseException):
            error = error_reply(outcome) or self._internal_error(outcome)
            self._fill(slot, encode(error, protocol) * count)
        elif outcome is None:
            self._fill(slot, _OK_REPLY * count)
        else:
            values = cast(list[bytes | None], outcome)
            self._fill(slot, b"".join([encode(value, protocol) for value in values]))

    def _fill(self, slot: _Slot, data: bytes) -> None:
        slot.data = data
        queue = self._queue
        while queue and queue[0].data is not None:
            self._batch.append(queue.popleft().data)  # type: ignore[arg-type]
        if not queue:
            self._write_batch()
            if self._drained is not None and not self._drained.done():
                self._drained.set_result(None)
        elif self._batch and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_tick)
        if self._paused and len(self._queue) <= RESUME_IN_FLIGHT and self._transport:
            self._paused = False
            self._transport.resume_reading()

    def _flush_tick(self) -> None:
        self._flush_scheduled = False
        self._write_batch()

    @staticmethod
    def _internal_error(exc: BaseException) -> ErrorReply:
        log.error("request failed: %r", exc, exc_info=exc)
        return ErrorReply(f"ERR internal error: {exc}")

    def _push(self, data: bytes) -> None:
        if self._queue:
            slot = _Slot()
            slot.data = data
            self._queue.append(slot)
        else:
            self._batch.append(data)

    def _write_batch(self) -> None:
        transport = self._transport
        if not self._batch or transport is None:
            self._batch.clear()
            return
        data = b"".join(self._batch)
        self.bytes_out += len(data)
        self.state.net_output_bytes += len(data)
        transport.write(data)
        self._batch.clear()
        if transport.get_write_buffer_size() > self.state.settings.limits.max_output_bytes:
            log.warning(
                "closing client %d (%s): unsent replies exceed max_output_bytes",
                self.client_id,
                self.peer,
            )
            transport.abort()
        elif self._closing and not self._queue:
            transport.close()

    # Context hooks used by the commands

    def close_after_replies(self) -> None:
        self._closing = True
        self._transport_pause()

    def _transport_pause(self) -> None:
        if self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    async def drain(self) -> None:
        """Wait until every request in flight has its reply queued."""
        if self._queue:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def close(self) -> None:
        """Close now (CLIENT KILL, shutdown): replies still in flight are dropped when ready."""
        self._closing = True
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


def _begin(pending: Pending, answer: Answer) -> None:
    try:
        pending.start(answer)
    except Exception as exc:  # a bug must cost one reply, not the connection
        answer(exc)


def _answer_and_end(answer: Answer, gate: UnitGate, outcome: object) -> None:
    """Answer a unit of work, then let what waits for it go."""
    answer(outcome)
    gate.ended()


def _answer_and_lift(answer: Answer, barrier: asyncio.Future[None], outcome: object) -> None:
    """Answer a read-then-write command, then let the commands behind it go."""
    answer(outcome)
    if not barrier.done():
        barrier.set_result(None)
