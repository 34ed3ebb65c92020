"""What each command does, once parsed and validated by `commands`.

A handler takes the client's context and a typed command and returns the reply value, or a
coroutine producing it when the replicas must be asked. Data commands go through the
coordinator: plain SET and MSET are blind writes (one round), commands that must look at the
current value first (SET NX/XX/GET/KEEPTTL, DEL's count) read a quorum and then write with a
newer timestamp. They are not atomic across proxies: two such commands racing through
different proxies both succeed and the later timestamp wins, as in other Dynamo-style stores.
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any, cast

from leaderless.proxy import command_docs, info
from leaderless.proxy import commands as cmd
from leaderless.proxy.resp import ErrorReply, SimpleString, Verbatim
from leaderless.proxy.server import ProxyState
from leaderless.replication.backend import ReplicaUnavailable
from leaderless.replication.hlc import MAX_PHYSICAL_MS
from leaderless.replication.record import Record
from leaderless.replication.rounds import QuorumError, pass_outcome
from leaderless.replication.scripts import ANTI_ENTROPY_KEY, INTERNAL_PREFIX

OK = SimpleString("OK")
PONG = SimpleString("PONG")
RESERVED = ErrorReply(
    "ERR keys starting with '__leaderless:' are reserved for the proxy's own bookkeeping"
)


class Context:
    """A client's state as the handlers see it (the session adds the transport)."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.protocol = 2
        self.client_id = 0
        self.peer = ""
        self.name: bytes | None = None
        self.lib_name: bytes | None = None
        self.lib_ver: bytes | None = None
        self.created_at = time.monotonic()
        self.last_active = self.created_at
        self.authenticated = not state.settings.listen.auth_required
        self.user = b"default"

    def touch(self) -> None:
        """Note that the client sent something (the idle-client timeout counts from here)."""
        self.last_active = time.monotonic()

    def refuse(self, command: object) -> ErrorReply | None:
        """Why this command may not run now, or None."""
        if not self.authenticated and not isinstance(command, cmd.NO_AUTH_COMMANDS):
            return cmd.NOAUTH
        if type(command) in _ONE_KEY:
            if command.key.startswith(INTERNAL_PREFIX):  # type: ignore[attr-defined]
                return RESERVED
        elif any(key.startswith(INTERNAL_PREFIX) for key in _many_keys(command)):
            return RESERVED
        if isinstance(command, WRITES) and (clock := self.state.clock_check.refusal()):
            return ErrorReply(clock)  # the clock is off: see replication/ntp.py
        return None

    def close_after_replies(self) -> None:
        raise NotImplementedError


WRITES = (cmd.Set, cmd.MSet, cmd.Del, cmd.Flush)


_ONE_KEY = frozenset((cmd.Get, cmd.Set, cmd.Ttl))


def _many_keys(command: object) -> tuple[bytes, ...]:
    """The keys of a command other than the one-key ones (`_ONE_KEY`, checked apart)."""
    if isinstance(command, cmd.MSet):
        return tuple(key for key, _ in command.pairs)
    if isinstance(command, cmd.Del | cmd.Exists | cmd.MGet):
        return command.keys
    return ()


Handler = Callable[[Context, Any], object]
"""Answers a command at once: returns its reply."""
Answer = Callable[[object], None]
"""Takes a replicated command's reply, or the exception that stands for it."""
Starter = Callable[[Context, Any, Answer], None]
"""Starts a command that asks the replicas; `answer` gets its reply later."""
HANDLERS: dict[type, Handler] = {}
REPLICATED: dict[type, Starter] = {}


def handles(command_type: type) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[command_type] = handler
        return handler

    return register


def replicates(command_type: type) -> Callable[[Starter], Starter]:
    """Register a command that asks the replicas (and so waits behind a pending barrier)."""

    def register(starter: Starter) -> Starter:
        REPLICATED[command_type] = starter
        return starter

    return register


def in_task(
    work: Callable[[Context, Any], Coroutine[Any, Any, object]],
) -> Starter:
    """A command of more than one step, written as a coroutine: it runs as a task, and its
    result or exception is the answer. Single-round commands run on callbacks instead,
    without a task's cost."""

    def start(context: Context, command: object, answer: Answer) -> None:
        task = asyncio.ensure_future(work(context, command))
        task.add_done_callback(partial(pass_outcome, answer))

    return start


def needs_barrier(command: object) -> bool:
    """Whether the command reads and then writes: the commands after it on the same connection
    must wait for it, or their requests would reach the replicas before its write does.
    Single-round commands need no barrier: each replica connection keeps their order."""
    return isinstance(command, cmd.Del) or (
        isinstance(command, cmd.Set) and command.needs_current_value
    )


def error_reply(failure: BaseException) -> ErrorReply | None:
    """The client's reply to a replicated command that raised `failure`, if it is a quorum
    failure (the text says how many replicas of how many answered) or the proxy shutting down;
    None for other errors."""
    if isinstance(failure, QuorumError):
        return ErrorReply(str(failure))
    if isinstance(failure, asyncio.CancelledError):
        return ErrorReply("ERR request cancelled: the proxy is shutting down")
    return None


def _visible(record: Record | None, now_ms: int) -> Record | None:
    return record if record is not None and record.is_visible(now_ms) else None


def _value(record: Record | None, now_ms: int) -> bytes | None:
    visible = _visible(record, now_ms)
    return visible.value if visible is not None else None


ReplyOf = Callable[[list[Record | None], int], object]
"""A read command's reply from the records read and the time now."""


def _read(context: Context, keys: Sequence[bytes], answer: Answer, reply_of: ReplyOf) -> None:
    state = context.state
    state.coordinator.read_then(keys, partial(_answer_read, answer, state, reply_of))


def _answer_read(answer: Answer, state: ProxyState, reply_of: ReplyOf, outcome: object) -> None:
    if isinstance(outcome, BaseException):
        answer(outcome)
    else:
        answer(reply_of(cast(list[Record | None], outcome), state.wall_ms()))


def _answer_ok(answer: Answer, outcome: object) -> None:
    answer(OK if outcome is None else outcome)


@replicates(cmd.Get)
def get(context: Context, command: cmd.Get, answer: Answer) -> None:
    _read(context, (command.key,), answer, lambda records, now: _value(records[0], now))


@replicates(cmd.MGet)
def mget(context: Context, command: cmd.MGet, answer: Answer) -> None:
    get_values(context, command.keys, answer)


def get_values(context: Context, keys: Sequence[bytes], answer: Answer) -> None:
    """MGET, and a run of pipelined GETs read as one (the session's, for plain GETs of keys
    it has checked): `answer` gets the values, None for nil."""
    _read(context, keys, answer, _values)


def set_values(context: Context, pairs: Sequence[tuple[bytes, bytes]], answer: Answer) -> None:
    """MSET's writes, and a run of pipelined plain SETs (no options) written as one (the
    session's, for SETs it has checked): `answer` gets None or the failure. Each key has its
    own timestamp, in order, so a key set twice keeps the later value."""
    coordinator = context.state.coordinator
    records = [(key, Record(coordinator.stamp(), False, 0, value)) for key, value in pairs]
    coordinator.write_then(records, answer)


def _values(records: list[Record | None], now_ms: int) -> list[bytes | None]:
    return [_value(record, now_ms) for record in records]


@replicates(cmd.Exists)
def exists(context: Context, command: cmd.Exists, answer: Answer) -> None:
    def visible(records: list[Record | None], now: int) -> int:
        return sum(1 for record in records if _visible(record, now) is not None)

    _read(context, command.keys, answer, visible)


@replicates(cmd.Ttl)
def ttl(context: Context, command: cmd.Ttl, answer: Answer) -> None:
    def time_left(records: list[Record | None], now: int) -> int:
        visible = _visible(records[0], now)
        if visible is None:
            return -2
        if visible.expires_at_ms == 0:
            return -1
        left_ms = visible.expires_at_ms - now
        return left_ms if command.milliseconds else (left_ms + 500) // 1000

    _read(context, (command.key,), answer, time_left)


def _expiry(context: Context, command: cmd.Set) -> int | ErrorReply:
    if command.expiry is None:
        return 0
    expires_at = cmd.absolute_expiry_ms(command, context.state.wall_ms())
    if isinstance(expires_at, ErrorReply):
        return expires_at
    return min(expires_at, MAX_PHYSICAL_MS)  # the record holds 48 bits: year 10889


@replicates(cmd.Set)
def set_(context: Context, command: cmd.Set, answer: Answer) -> None:
    if command.needs_current_value:
        _set_after_read(context, command, answer)
        return
    expires_at = _expiry(context, command)
    if isinstance(expires_at, ErrorReply):
        answer(expires_at)
        return
    coordinator = context.state.coordinator
    record = Record(coordinator.stamp(), False, expires_at, command.value)
    coordinator.write_then(((command.key, record),), partial(_answer_ok, answer))


@in_task
async def _set_after_read(context: Context, command: cmd.Set) -> object:
    """SET with NX, XX, GET or KEEPTTL: read the current value, then write (or not)."""
    coordinator = context.state.coordinator
    expires_at = _expiry(context, command)
    if isinstance(expires_at, ErrorReply):
        return expires_at
    (record,) = await coordinator.read([command.key])
    current = _visible(record, context.state.wall_ms())
    if (command.condition == "NX" and current is not None) or (
        command.condition == "XX" and current is None
    ):
        return current.value if command.get and current is not None else None
    if command.keepttl and current is not None:
        expires_at = current.expires_at_ms
    await coordinator.write(
        [(command.key, Record(coordinator.stamp(), False, expires_at, command.value))]
    )
    if command.get:
        return current.value if current is not None else None
    return OK


@replicates(cmd.MSet)
def mset(context: Context, command: cmd.MSet, answer: Answer) -> None:
    set_values(context, command.pairs, partial(_answer_ok, answer))


@replicates(cmd.Del)
@in_task
async def delete(context: Context, command: cmd.Del) -> object:
    coordinator = context.state.coordinator
    records = await coordinator.read(command.keys)
    now = context.state.wall_ms()
    removed = {
        key for key, record in zip(command.keys, records, strict=True) if _visible(record, now)
    }
    await coordinator.write(
        [(key, Record.deletion(coordinator.stamp())) for key in dict.fromkeys(command.keys)]
    )
    return len(removed)


@replicates(cmd.DbSize)
@in_task
async def dbsize(context: Context, command: cmd.DbSize) -> object:
    return await context.state.coordinator.dbsize()


@replicates(cmd.Flush)
@in_task
async def flush(context: Context, command: cmd.Flush) -> object:
    await context.state.coordinator.flush()
    return OK


@handles(cmd.Ping)
def ping(context: Context, command: cmd.Ping) -> object:
    return PONG if command.message is None else command.message


@handles(cmd.Echo)
def echo(context: Context, command: cmd.Echo) -> object:
    return command.message


@handles(cmd.Select)
def select(context: Context, command: cmd.Select) -> object:
    return OK


@handles(cmd.Quit)
def quit_(context: Context, command: cmd.Quit) -> object:
    context.close_after_replies()
    return OK


@handles(cmd.Reset)
def reset(context: Context, command: cmd.Reset) -> object:
    context.protocol = 2
    context.name = None
    context.authenticated = not context.state.settings.listen.auth_required
    context.user = b"default"
    return SimpleString("RESET")


def _log_in(context: Context, username: bytes | None, password: bytes) -> ErrorReply | None:
    """Check AUTH's or HELLO AUTH's credentials; on success the client is that user."""
    listen = context.state.settings.listen
    requirepass = None if listen.requirepass is None else listen.requirepass.encode()
    users = {user.name.encode(): user.password.encode() for user in listen.users}
    refusal = cmd.check_credentials(username, password, requirepass, users)
    if refusal is None:
        context.authenticated = True
        context.user = b"default" if username is None else username
    return refusal


@handles(cmd.Auth)
def auth(context: Context, command: cmd.Auth) -> object:
    refusal = _log_in(context, command.username, command.password)
    return OK if refusal is None else refusal


@handles(cmd.Hello)
def hello(context: Context, command: cmd.Hello) -> object:
    for option in command.options:
        if isinstance(option, cmd.HelloAuth):
            refusal = _log_in(context, option.username, option.password)
            if refusal is not None:
                return refusal
        else:
            context.name = option.name
    if command.error is not None:
        return command.error
    if not context.authenticated:
        return cmd.HELLO_NOAUTH
    if command.protover is not None:
        context.protocol = command.protover
    version = context.state.lowest_backend_version()
    return cmd.hello_reply(version, context.protocol, context.client_id)


@handles(cmd.ClientSetName)
def client_setname(context: Context, command: cmd.ClientSetName) -> object:
    context.name = command.name
    return OK


@handles(cmd.ClientGetName)
def client_getname(context: Context, command: cmd.ClientGetName) -> object:
    return context.name


@handles(cmd.ClientId)
def client_id(context: Context, command: cmd.ClientId) -> object:
    return context.client_id


@handles(cmd.ClientSetInfo)
def client_setinfo(context: Context, command: cmd.ClientSetInfo) -> object:
    if command.attribute == cmd.ClientAttribute.LIB_NAME:
        context.lib_name = command.value
    else:
        context.lib_ver = command.value
    return OK


@handles(cmd.ClientInfo)
def client_info(context: Context, command: cmd.ClientInfo) -> object:
    now = time.monotonic()
    line = cmd.client_info_line(
        client_id=context.client_id,
        addr=context.peer,
        laddr=f"{context.state.settings.listen.host}:{context.state.port}",
        name=context.name,
        age_seconds=int(now - context.created_at),
        idle_seconds=int(now - context.last_active),
        user=context.user,
        lib_name=context.lib_name,
        lib_ver=context.lib_ver,
    )
    return Verbatim("txt", line)


@handles(cmd.ClientHelp)
def client_help(context: Context, command: cmd.ClientHelp) -> object:
    return command_docs.CLIENT_HELP


@handles(cmd.CommandHelp)
def command_help(context: Context, command: cmd.CommandHelp) -> object:
    return command_docs.COMMAND_HELP


@handles(cmd.CommandList)
def command_list(context: Context, command: cmd.CommandList) -> object:
    return command_docs.command_list_reply()


@handles(cmd.CommandCount)
def command_count(context: Context, command: cmd.CommandCount) -> object:
    return command_docs.command_count_reply()


@handles(cmd.CommandInfo)
def command_info(context: Context, command: cmd.CommandInfo) -> object:
    return command_docs.command_info_reply(command.names)


@handles(cmd.CommandDocs)
def command_docs_(context: Context, command: cmd.CommandDocs) -> object:
    return command_docs.command_docs_reply(command.names)


@replicates(cmd.Info)
@in_task
async def info_(context: Context, command: cmd.Info) -> object:
    anti_entropy = await _anti_entropy_counters(context.state)
    snapshot = _snapshot(context.state, anti_entropy)
    return Verbatim("txt", info.render_info(snapshot, command.section))


async def _anti_entropy_counters(state: ProxyState) -> tuple[tuple[str, str], ...]:
    """The sidecars publish their counters on every replica; one replica that answers will do."""
    for backend in state.coordinator.backends:
        if backend.state != "up":
            continue
        try:
            reply = await asyncio.wait_for(
                backend.execute(b"HGETALL", ANTI_ENTROPY_KEY), state.coordinator.timeout_s
            )
        except (ReplicaUnavailable, TimeoutError):
            continue
        if isinstance(reply, list):
            pairs = zip(reply[::2], reply[1::2], strict=True)
            return tuple(sorted((bytes(k).decode(), bytes(v).decode()) for k, v in pairs))
    return ()


def _snapshot(state: ProxyState, anti_entropy: tuple[tuple[str, str], ...]) -> info.InfoSnapshot:
    coordinator = state.coordinator
    stats = coordinator.stats
    hints = coordinator.hints
    settings = state.settings
    clock_check = state.clock_check
    uname = os.uname()
    return info.InfoSnapshot(
        redis_version=state.lowest_backend_version(),
        os=f"{uname.sysname} {uname.release} {uname.machine}",
        arch_bits=struct.calcsize("P") * 8,
        process_id=os.getpid(),
        run_id=state.run_id,
        tcp_port=state.port,
        server_time_usec=time.time_ns() // 1000,
        uptime_in_seconds=int(time.monotonic() - state.started_at),
        executable=sys.argv[0],
        config_file=state.config_file,
        connected_clients=len(state.clients),
        maxclients=settings.listen.max_clients,
        total_connections_received=state.connections_received,
        total_commands_processed=state.commands_processed,
        rejected_connections=state.rejected_connections,
        n=settings.replication.n,
        w=settings.replication.w,
        r=settings.replication.r,
        proxy_id=state.proxy_id,
        nodes=tuple(
            info.NodeStatus(b.name, b.status, coordinator.health(b.index).value)
            for b in coordinator.backends
        ),
        reads=stats.reads,
        writes=stats.writes,
        read_repairs=stats.read_repairs,
        background_repairs=stats.background_repairs,
        quorum_failures=stats.quorum_failures,
        restamped_writes=stats.restamped_writes,
        hints_stored=hints.stored,
        hints_replayed=hints.replayed,
        hints_dropped=hints.dropped,
        hints_pending=hints.pending,
        hints_pending_bytes=hints.pending_bytes,
        refused_clock_observations=coordinator.clock.refused_observations,
        clock_offset_ms=clock_check.offset_ms,
        clock_offset_age_s=clock_check.age_s(time.monotonic()),
        clock_in_bounds=clock_check.in_bounds,
        clock_writes_refused=clock_check.writes_refused,
        anti_entropy=anti_entropy,
    )
