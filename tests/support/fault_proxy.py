"""A TCP fault proxy for tests: sits between a client (the leaderless proxy) and a server (a
redis-server) and, on command, delays, cuts, resets or swallows their traffic.

One `FaultProxy` owns one thread running an asyncio event loop; `route(host, port)` opens a
listener on a free 127.0.0.1 port that forwards every connection to that upstream, so a
backend `redis://127.0.0.1:<route.port>` reaches the real server through the faults. Each
route is in one state at a time, set from any thread (the call returns once it is in force):

- `heal()`: forward everything as it comes;
- `delay(ms)`: deliver every chunk, both ways, `ms` later than it arrived (order kept);
- `drop()`: close every connection (FIN) and close new ones at once, like a host whose
  service went away;
- `reset()`: the same with RST (SO_LINGER 0), like a host that rebooted;
- `blackhole()`: deliver nothing either way, connections stay open (a partition);
- `one_way()`: deliver requests to the server but none of its replies (a one-way partition:
  writes are applied and never acknowledged).

TCP never loses bytes inside a live connection, so neither do we: once a direction of a
connection has swallowed a chunk it delivers nothing more, and `heal()` resets it, as a TCP
stack gives up on a connection whose peer stayed unreachable. Connections that carried no
traffic through a partition survive it, as they would on a real network.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

Mode = Literal["pass", "delay", "drop", "reset", "blackhole", "one_way"]
_CHUNK = 65536
_LOOPBACK = "127.0.0.1"


def _cut(writer: asyncio.StreamWriter, reset: bool) -> None:
    """Close a connection at once: with RST if `reset`, else with FIN."""
    if reset:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Direction:
    """One direction of a connection: a reader pumped into a FIFO, delivered to a writer."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    to_server: bool
    queue: asyncio.Queue[tuple[float, bytes] | None] = field(default_factory=asyncio.Queue)
    swallowed: bool = False
    last_due: float = 0.0


@dataclass(eq=False)
class _Link:
    """A client connection and its upstream connection."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    directions: list[_Direction]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def cut(self, reset: bool) -> None:
        for writer in (self.client, self.server):
            _cut(writer, reset)
        for task in self.tasks:
            task.cancel()

    @property
    def swallowed(self) -> bool:
        return any(direction.swallowed for direction in self.directions)


class Route:
    """One listener forwarding to one upstream, in one fault state (see the module doc)."""

    def __init__(self, owner: FaultProxy, upstream: tuple[str, int]) -> None:
        self._owner = owner
        self.upstream = upstream
        self.port = 0
        self.mode: Mode = "pass"
        self.delay_s = 0.0
        self.connections = 0  # accepted so far, for tests of the proxy itself
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"redis://{_LOOPBACK}:{self.port}"

    def heal(self) -> None:
        self._set("pass")

    def delay(self, ms: float) -> None:
        self._set("delay", ms / 1000)

    def drop(self) -> None:
        self._set("drop")

    def reset(self) -> None:
        self._set("reset")

    def blackhole(self) -> None:
        self._set("blackhole")

    def one_way(self) -> None:
        self._set("one_way")

    def _set(self, mode: Mode, delay_s: float = 0.0) -> None:
        self._owner.call(self._apply(mode, delay_s))

    async def _apply(self, mode: Mode, delay_s: float) -> None:
        self.mode, self.delay_s = mode, delay_s
        for link in list(self._links):
            if mode in ("drop", "reset") or (mode == "pass" and link.swallowed):
                self._forget(link, reset=mode != "drop")

    def _forget(self, link: _Link, reset: bool) -> None:
        self._links.discard(link)
        link.cut(reset)

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._accept, _LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._forget(link, reset=False)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode in ("drop", "reset"):
            _cut(writer, self.mode == "reset")
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _cut(writer, reset=True)  # as the server's own host would refuse it
            return
        if self.mode in ("drop", "reset"):  # the fault began while we connected
            _cut(writer, self.mode == "reset")
            _cut(up_writer, self.mode == "reset")
            return
        link = _Link(
            writer,
            up_writer,
            [_Direction(reader, up_writer, True), _Direction(up_reader, writer, False)],
        )
        self._links.add(link)
        for direction in link.directions:
            link.tasks.append(asyncio.create_task(self._pump(link, direction)))
            link.tasks.append(asyncio.create_task(self._deliver(link, direction)))

    async def _pump(self, link: _Link, direction: _Direction) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            while data := await direction.reader.read(_CHUNK):
                swallow = self.mode == "blackhole" or (
                    self.mode == "one_way" and not direction.to_server
                )
                if swallow or direction.swallowed:
                    direction.swallowed = True
                    continue
                due = loop.time() + (self.delay_s if self.mode == "delay" else 0.0)
                direction.last_due = max(due, direction.last_due)
                direction.queue.put_nowait((direction.last_due, data))
        direction.queue.put_nowait(None)

    async def _deliver(self, link: _Link, direction: _Direction) -> None:
        loop = asyncio.get_running_loop()
        try:
            while (item := await direction.queue.get()) is not None:
                due, data = item
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                direction.writer.write(data)
                await direction.writer.drain()
        except OSError:
            self._forget(link, reset=True)
            return
        self._forget(link, reset=False)  # one side closed: redis connections never half-close


class FaultProxy:
    """The event-loop thread behind any number of routes; use as a context manager."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._routes: list[Route] = []

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for route in self._routes:
            self.call(route.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def route(self, host: str, port: int) -> Route:
        """A new listener on a free loopback port forwarding to host:port."""
        route = Route(self, (host, port))
        self.call(route.open())
        self._routes.append(route)
        return route

    def call(self, work: Coroutine[Any, Any, None], timeout: float = 10.0) -> None:
        """Run `work` on the proxy's loop and wait until it is done."""
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)
