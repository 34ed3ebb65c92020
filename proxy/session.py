"""One client connection: bytes in, commands executed, replies out in request order.

A client may pipeline many requests; each one that needs the replicas runs as its own task,
so a slow request never holds back the parsing or the sending of the ones behind it, while
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
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

from leaderless.proxy import commands as cmd
from leaderless.proxy.handlers import (
    HANDLERS,
    Context,
    is_replicated,
    needs_barrier,
    quorum_error_reply,
)
from leaderless.proxy.resp import ErrorReply, Limits, RequestDecoder, encode
from leaderless.proxy.server import ProxyState

log = logging.getLogger(__name__)

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
        self._barrier: asyncio.Future[object] | None = None
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

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.clients.pop(self.client_id, None)
        self._transport = None
        self._closing = True

    def data_received(self, data: bytes) -> None:
        self.touch()
        requests, error = self._decoder.feed(data)
        for args in requests:
            if self._closing:
                break
            try:
                self._execute(args)
            except Exception as exc:  # a bug must cost one reply, not the connection
                log.exception("command failed")
                self._push(encode(ErrorReply(f"ERR internal error: {exc}"), self.protocol))
        if error is not None and not self._closing:
            self._push(encode(ErrorReply(f"ERR {error}"), self.protocol))
            self.close_after_replies()
        self._write_batch()

    # Execution

    def _execute(self, args: list[bytes]) -> None:
        self.state.commands_processed += 1
        command = cmd.parse_command(args)
        if isinstance(command, ErrorReply):
            self._push(encode(command, self.protocol))
            return
        refusal = self.refuse(command)
        if refusal is not None:
            self._push(encode(refusal, self.protocol))
            return
        handler: Callable[[Context, Any], object] = HANDLERS[type(command)]
        protocol = self.protocol
        barrier = self._barrier
        if barrier is not None and not barrier.done() and is_replicated(command):
            task = asyncio.ensure_future(self._after(barrier, handler, command))
            self._start(task, protocol)
        else:
            outcome = handler(self, command)
            if not isinstance(outcome, Awaitable):
                self._push(encode(outcome, self.protocol))  # HELLO answers in its new protocol
                return
            task = asyncio.ensure_future(outcome)
            self._start(task, protocol)
        if needs_barrier(command):
            self._barrier = task

    async def _after(
        self,
        barrier: asyncio.Future[object],
        handler: Callable[[Context, Any], object],
        command: object,
    ) -> object:
        """Run a command once the multi-round command before it on this connection is done, so
        that it sees that command's write as Redis would."""
        await asyncio.wait([barrier])
        outcome = handler(self, command)
        return await outcome if isinstance(outcome, Awaitable) else outcome

    def _start(self, task: asyncio.Future[object], protocol: int) -> None:
        slot = _Slot()
        self._queue.append(slot)
        task.add_done_callback(lambda done: self._finish(slot, done, protocol))
        if len(self._queue) >= MAX_IN_FLIGHT and self._transport and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def _finish(self, slot: _Slot, done: asyncio.Future[object], protocol: int) -> None:
        if done.cancelled():
            reply: object = ErrorReply("ERR request cancelled: the proxy is shutting down")
        elif (exc := done.exception()) is not None:
            reply = quorum_error_reply(exc) or self._internal_error(exc)
        else:
            reply = done.result()
        slot.data = encode(reply, protocol)
        queue = self._queue
        while queue and queue[0].data is not None:
            self._batch.append(queue.popleft().data)  # type: ignore[arg-type]
        if not queue:
            self._write_batch()
            if self._drained is not None and not self._drained.done():
                self._drained.set_result(None)
        elif self._batch and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_tick)
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
        transport.write(b"".join(self._batch))
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

    # Context hooks used by the handlers

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
        if self._transport is not None:
            self._transport.close()
