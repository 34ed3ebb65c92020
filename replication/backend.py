"""One pipelined connection to one replica (a redis-server).

Every request to a replica goes down a single connection and its replies come back in order,
so a reply is matched to its request by position: a FIFO of futures. Requests issued during
one event-loop tick are written in one system call (`_flush` runs once per tick), which is
what lets one connection carry thousands of requests a second. hiredis parses the replies; an
error reply (`-ERR ...`) is a value (`hiredis.ReplyError`), not an exception: exceptions mean
the transport failed (`ReplicaUnavailable`).

A replica that cannot be reached is marked down and is not waited on: its requests fail at
once while a background task reconnects with exponential backoff and jitter. A replica that
keeps its connection but stops answering (a hung host, a SIGSTOPped process, a blackholed
link) is caught by a watchdog: requests outstanding with no reply for the request timeout make
it `suspect` (still used, shown in INFO); STALLS_BEFORE_DOWN such checks in a row make it down
(its connection is dropped, its requests fail, and the reconnect loop probes it until it
answers again). Any reply clears it. Every
(re)connection authenticates if the node URL has credentials and loads the Lua scripts; a
script the replica lost anyway (SCRIPT FLUSH) is sent whole once and reloaded (NOSCRIPT).

Databases (`databases.py`): every request names the database it is for, and the connection
switches inline. It remembers the database the replica applies what is sent next to, and
writes `SELECT n` just before a request for another one, in the same batch, its reply
discarded; so requests for database 0 cost nothing more, and requests for one database
keep their order on the connection as before. Every (re)connection starts in database 0 and
checks that the replica serves all DATABASES, so an inline SELECT cannot fail; if one did,
the connection is dropped rather than let the requests behind it reach the wrong database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple, cast

import hiredis
from leaderless.config.settings import NodeAddress
from leaderless.replication.databases import DATABASES
from leaderless.replication.scripts import ALL_SCRIPTS, Script

log = logging.getLogger(__name__)

STALLS_BEFORE_DOWN = 3
"""Watchdog checks in a row that find requests outstanding and no reply for the request
timeout before a replica is declared down (the first one makes it suspect)."""

Reply = object


class ReplicaUnavailable(Exception):
    """The request never reached the replica, or its connection died before the reply."""


def pack_command(args: Sequence[bytes]) -> bytes:
    """Encode one request as a RESP multibulk."""
    return b"*%d\r\n" % len(args) + _pack_bulks(args)


def _pack_bulks(args: Sequence[bytes]) -> bytes:
    if len(args) == 2:  # a key and a record: one copy of the record, not two
        first, second = args
        return b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(first), first, len(second), second)
    return b"".join([b"$%d\r\n%b\r\n" % (len(arg), arg) for arg in args])


_SELECT = tuple(pack_command((b"SELECT", b"%d" % db)) for db in range(DATABASES))
"""The inline switch to each database, packed once."""

_script_prefixes: dict[tuple[str, int, int], tuple[bytes, bytes]] = {}


def _script_prefix(script: Script, keys: int, args: int) -> tuple[bytes, bytes]:
    """The encoded start of EVALSHA and of EVAL for a call with this many keys and args (up
    to the key count), built once: a call then encodes only its own keys and args."""
    shape = (script.name, keys, args)
    prefixes = _script_prefixes.get(shape)
    if prefixes is None:
        header = b"*%d\r\n" % (3 + keys + args)
        count = b"%d" % keys
        prefixes = _script_prefixes[shape] = (
            header + _pack_bulks((b"EVALSHA", script.sha, count)),
            header + _pack_bulks((b"EVAL", script.source, count)),
        )
    return prefixes


class ScriptCall(NamedTuple):
    """A script call packed once, whichever replicas it goes to."""

    evalsha: bytes
    """The EVALSHA command up to the keys."""
    arguments: bytes
    """The keys and arguments, packed."""
    eval: bytes
    """The EVAL command up to the keys: sent instead if the replica lost its script cache."""


def pack_script(script: Script, keys: Sequence[bytes], args: Sequence[bytes]) -> ScriptCall:
    evalsha, eval_ = _script_prefix(script, len(keys), len(args))
    return ScriptCall(evalsha, _pack_bulks((*keys, *args)), eval_)


Deliver = Callable[[object], None]
"""Receives a request's reply, or the ReplicaUnavailable that stands for it."""


class _ReplyStream(asyncio.Protocol):
    """The transport side: bytes out in batches, replies in order back to their requests.

    A request is a head and a tail (a script call's fixed start and its own arguments, so a
    large value is not copied to join them) and may carry a fallback head: the one to send
    with the same tail if the replica answers NOSCRIPT (the EVAL behind an EVALSHA); the same
    receiver then waits for the fallback's reply. Replies are handed to plain callbacks, not
    futures: a future per request and per replica costs an event-loop turn each.
    """

    def __init__(self, on_lost: Callable[[_ReplyStream, Exception | None], None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending: deque[tuple[Deliver, bytes | None, bytes, int]] = deque()
        self.db = 0
        """The database the replica applies what is sent next to (a connection starts in 0)."""
        self._reader = hiredis.Reader()
        self._out: list[bytes] = []
        self.held = False
        """While held, sends are not written at the next loop turn but at `release`."""
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self.last_progress = self._loop.time()
        """When a reply last arrived, or the first request after an idle spell was sent."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(
        self,
        deliver: Deliver,
        head: bytes,
        tail: bytes = b"",
        fallback: bytes | None = None,
        db: int = 0,
    ) -> None:
        out = self._out
        if not out:
            if not self.held:
                self._loop.call_soon(self._flush)
            if not self.pending:
                self.last_progress = self._loop.time()
        if db != self.db:
            out.append(_SELECT[db])
            self.pending.append((self._selected, None, b"", db))
            self.db = db
        out.append(head)
        if tail:
            out.append(tail)
        self.pending.append((deliver, fallback, tail, db))

    def _selected(self, reply: object) -> None:
        """An inline SELECT's reply: nothing to hand on, unless it failed (see the module's
        docstring), when the requests behind it went to the wrong database."""
        if type(reply) is hiredis.ReplyError and self.transport is not None:
            log.error("a replica refused SELECT (%s); dropping its connection", reply)
            self.transport.abort()

    def _flush(self) -> None:
        if self._out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def release(self) -> None:
        """End a hold (see Backend.hold): write what was sent meanwhile, now."""
        self.held = False
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        self.last_progress = self._loop.time()
        gets, pending = self._reader.gets, self.pending
        while (reply := gets()) is not False:
            deliver, fallback, tail, db = pending.popleft()
            if (
                fallback is not None
                and type(reply) is hiredis.ReplyError
                and str(reply).startswith("NOSCRIPT")
            ):
                self.send(deliver, fallback, tail, None, db)
            else:
                deliver(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._on_lost(self, exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def fail_pending(self, failure: ReplicaUnavailable) -> None:
        while self.pending:
            deliver, _, _, _ = self.pending.popleft()
            deliver(failure)


class Backend:
    """A replica as the coordinator sees it: an address, a state, and a request pipe."""

    def __init__(
        self,
        index: int,
        address: NodeAddress,
        *,
        connect_timeout_s: float,
        rng: random.Random | None = None,
    ) -> None:
        self.index = index
        self.address = address
        self.state = "connecting"
        self.version = ""
        self.last_error = ""
        self._connect_timeout_s = connect_timeout_s
        self._rng = rng or random.Random()
        self._stream: _ReplyStream | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stalls = 0
        self._closed = False
        self.on_up: Callable[[Backend], None] | None = None
        """Called at the end of every successful (re)connection (the rejoin check)."""

    @property
    def name(self) -> str:
        return f"{self.address.host}:{self.address.port}"

    @property
    def status(self) -> str:
        """up, suspect (connected, but requests go unanswered) or down, as INFO shows it."""
        if self.state == "up" and self._stalls:
            return "suspect"
        return self.state

    async def connect(self) -> bool:
        """Connect once; on failure mark the replica down and keep retrying in the background."""
        if await self._try_connect():
            return True
        self._schedule_reconnect()
        return False

    async def close(self) -> None:
        self._closed = True
        for task in (self._reconnect_task, self._watchdog):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._stream is not None and self._stream.transport is not None:
            self._stream.transport.close()

    def call(self, deliver: Deliver, *args: bytes, db: int = 0) -> None:
        """Send one request for database `db`; `deliver` gets the reply, or
        ReplicaUnavailable (at once if the replica is down)."""
        self.send(deliver, pack_command(args), db)

    def send(self, deliver: Deliver, request: bytes, db: int = 0) -> None:
        """`call` for a request already packed (`pack_command`), as when it goes to several
        replicas."""
        stream = self._stream
        if stream is None or self.state != "up":
            deliver(self._unavailable())
        else:
            stream.send(deliver, request, b"", None, db)

    def call_script(
        self,
        deliver: Deliver,
        script: Script,
        keys: Sequence[bytes],
        args: Sequence[bytes],
        db: int = 0,
    ) -> None:
        """EVALSHA, falling back to EVAL once if the replica lost its script cache."""
        self.send_script(deliver, pack_script(script, keys, args), db)

    def hold(self) -> None:
        """Keep what is sent from now on until `release`, which writes it at once: the
        coordinator sends a turn's rounds that way, one write each and no extra loop turn."""
        if self._stream is not None:
            self._stream.held = True

    def release(self) -> None:
        if self._stream is not None:
            self._stream.release()

    def send_script(self, deliver: Deliver, call: ScriptCall, db: int = 0) -> None:
        """`call_script` for a call already packed, as when it goes to several replicas."""
        stream = self._stream
        if stream is None or self.state != "up":
            deliver(self._unavailable())
        else:
            stream.send(deliver, call.evalsha, call.arguments, call.eval, db)

    def execute(self, *args: bytes, db: int = 0) -> asyncio.Future[Reply]:
        """`call` with a future: it holds the reply, or raises ReplicaUnavailable."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.call(settle(future), *args, db=db)
        return future

    def run_script(
        self, script: Script, keys: Sequence[bytes], args: Sequence[bytes], db: int = 0
    ) -> asyncio.Future[Reply]:
        """`call_script` with a future."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.call_script(settle(future), script, keys, args, db)
        return future

    def _unavailable(self) -> ReplicaUnavailable:
        return ReplicaUnavailable(f"{self.name}: {self.last_error or 'down'}")

    async def _try_connect(self) -> bool:
        loop = asyncio.get_running_loop()
        stream = _ReplyStream(self._connection_lost)
        context = ssl.create_default_context() if self.address.tls else None
        connecting = asyncio.ensure_future(
            loop.create_connection(
                lambda: stream, self.address.host, self.address.port, ssl=context
            )
        )
        if not await _finished(connecting, self._connect_timeout_s):
            self._mark_down("timed out connecting")
            return False
        if (failure := connecting.exception()) is not None:
            self._mark_down(_describe(failure))
            return False
        setup = []
        for request in self._setup_requests():
            future: asyncio.Future[Reply] = loop.create_future()
            stream.send(settle(future), pack_command(request))
            setup.append(future)
        answered = asyncio.gather(*setup)
        if not await _finished(answered, self._connect_timeout_s):
            stream.close()
            self._mark_down("timed out setting up the connection")
            return False
        if (failure := answered.exception()) is not None:
            stream.close()
            databases = setup[-3]  # `SELECT 15`
            if databases.done() and failure is databases.exception():  # the first to fail
                self._mark_down(f"it does not serve {DATABASES} databases ({failure})")
            else:
                self._mark_down(_describe(failure))
            return False
        replies = answered.result()
        errors = [str(r) for r in replies if isinstance(r, hiredis.ReplyError)]
        if errors:
            stream.close()
            self._mark_down(errors[0])
            return False
        self.version = _server_version(replies[-1])
        self._stream = stream
        if self.state != "up":
            log.info(
                "replica %s is up (%s)",
                self.name,
                self.version,
                extra={"event": "replica_up", "replica": self.name, "version": self.version},
            )
        self.state = "up"
        self.last_error = ""
        self._stalls = 0
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = loop.create_task(self._watch())
        if self.on_up is not None:
            self.on_up(self)
        return True

    def _setup_requests(self) -> list[list[bytes]]:
        requests: list[list[bytes]] = []
        if self.address.password is not None:
            user = [self.address.username.encode()] if self.address.username else []
            requests.append([b"AUTH", *user, self.address.password.encode()])
        requests.extend([b"SCRIPT", b"LOAD", script.source] for script in ALL_SCRIPTS)
        requests.append([b"SELECT", b"%d" % (DATABASES - 1)])  # see the module's docstring
        requests.append([b"SELECT", b"0"])
        requests.append([b"INFO", b"server"])
        return requests

    def _connection_lost(self, stream: _ReplyStream, exc: Exception | None) -> None:
        stream.fail_pending(ReplicaUnavailable(f"{self.name}: connection lost"))
        if stream is not self._stream:
            return  # a connection still being set up: its setup fails and it is retried
        self._stream = None
        if not self._closed:
            stalled = self._stalls >= STALLS_BEFORE_DOWN
            self._stalls = 0
            if stalled:
                self._mark_down("stopped answering")
            else:
                self._mark_down("connection lost" if exc is None else _describe(exc))
            self._schedule_reconnect()

    async def _watch(self) -> None:
        """The failure detector for a replica that is connected but silent (see the module's
        docstring); a connection that closes is handled by connection_lost instead."""
        timeout = self._connect_timeout_s
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(timeout / 2)  # the detector's period, not synchronisation
            stream = self._stream
            if stream is None or not stream.pending:
                self._stalls = 0
                continue
            if loop.time() - stream.last_progress < timeout:
                if self._stalls:
                    log.info(
                        "replica %s answers again",
                        self.name,
                        extra={"event": "replica_answers_again", "replica": self.name},
                    )
                self._stalls = 0
                continue
            self._stalls += 1
            if self._stalls == 1:
                log.warning(
                    "replica %s is suspect: no reply for %.1f s",
                    self.name,
                    timeout,
                    extra={"event": "replica_suspect", "replica": self.name, "silent_s": timeout},
                )
            if self._stalls >= STALLS_BEFORE_DOWN and stream.transport is not None:
                self.last_error = "stopped answering"
                stream.transport.abort()  # connection_lost fails its requests and reconnects

    def _mark_down(self, reason: str) -> None:
        if self.state != "down":
            log.warning(
                "replica %s is down: %s",
                self.name,
                reason,
                extra={"event": "replica_down", "replica": self.name, "reason": reason},
            )
        elif reason != self.last_error:
            log.warning(
                "replica %s is still down: %s",
                self.name,
                reason,
                extra={"event": "replica_still_down", "replica": self.name, "reason": reason},
            )
        self.state = "down"
        self.last_error = reason

    def _schedule_reconnect(self) -> None:
        if self._closed or (self._reconnect_task and not self._reconnect_task.done()):
            return
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.05
        while not self._closed:
            await asyncio.sleep(delay * (0.5 + self._rng.random()))
            if await self._try_connect():
                return
            delay = min(delay * 2, 2.0)


async def _finished(work: asyncio.Future[Any], timeout_s: float) -> bool:
    """Whether `work` finished within the timeout. Unlike wait_for, a late `work` is
    cancelled and left behind rather than awaited: an unfinished connect must not hold up the
    reconnect loop that retries it."""
    done, _ = await asyncio.wait({work}, timeout=timeout_s)
    if not done:
        work.cancel()
        work.add_done_callback(_close_late_connection)
        return False
    return True


def _close_late_connection(work: asyncio.Future[Any]) -> None:
    if not work.cancelled() and work.exception() is None:
        result = work.result()
        if isinstance(result, tuple):
            transport = result[0]
            if isinstance(transport, asyncio.BaseTransport):
                transport.close()


def settle(future: asyncio.Future[Reply]) -> Deliver:
    """A receiver that puts the reply in `future` (ReplicaUnavailable as its exception)."""
    return partial(_settle, future)


def _settle(future: asyncio.Future[Reply], reply: object) -> None:
    if future.done():
        return
    if isinstance(reply, BaseException):
        future.set_exception(reply)
    else:
        future.set_result(reply)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out connecting"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def _server_version(info: Reply) -> str:
    """The server and its release from `INFO server`: `valkey 8.1.8` (a Valkey also reports
    the Redis version it is compatible with as redis_version), or `redis 7.0.15`."""
    fields: dict[str, str] = {}
    if isinstance(info, bytes):
        for line in info.decode(errors="replace").splitlines():
            name, _, value = line.partition(":")
            fields[name] = value
    if "valkey_version" in fields:
        return "valkey " + fields["valkey_version"]
    return "redis " + fields["redis_version"] if "redis_version" in fields else ""
