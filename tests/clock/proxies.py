"""Proxies with skewed clocks for tests: several `serve()` calls run in this process, each with
its own injected wall clock, in front of the same real redis-server nodes.

`running_proxies(nodes, clocks)` starts one background thread whose event loop runs one proxy
per clock (each on a free 127.0.0.1 port, learnt from `on_ready`), and stops them all (setting
their shared stop event from the test thread) when the block ends. A `SkewedClock` is real time
plus an offset the test may change at any moment: the proxy reads it on every call, so a step
of the offset is a step of that proxy's wall clock. Nothing here patches `time`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial

import redis
from leaderless.config.settings import ListenSettings, ReplicationSettings, Settings
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.proxy.server import serve
from leaderless.replication.record import Record, decode_record

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
CLOCK_ERROR = "stamped more than max_clock_offset_ms in the future"
"""What a write refused because its key holds a version from a clock too far ahead says."""


def real_ms() -> int:
    return time.time_ns() // 1_000_000


class SkewedClock:
    """Real time plus `offset_ms`; set `offset_ms` from any thread to step the clock."""

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms

    def __call__(self) -> int:
        return real_ms() + self.offset_ms


@dataclass(frozen=True)
class RunningProxy:
    port: int
    proxy_id: int
    clock: SkewedClock

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10)

    def refused_clock_observations(self) -> int:
        with self.client() as client:
            return int(client.info("leaderless")["refused_clock_observations"])


@contextmanager
def running_proxies(
    nodes: Sequence[LocalRedisNode],
    clocks: Sequence[SkewedClock],
    *,
    max_clock_offset_ms: int = 500,
) -> Iterator[list[RunningProxy]]:
    """One proxy per clock (proxy ids 1, 2, ...), all replicating to `nodes`."""
    replication = ReplicationSettings(
        nodes=tuple(node.address for node in nodes),
        n=len(nodes),
        w=2,
        r=2,
        max_clock_offset_ms=max_clock_offset_ms,
    )
    ready: Future[list[int]] = Future()
    failures: list[BaseException] = []
    loop_and_stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def run_all() -> None:
        stop = asyncio.Event()
        loop_and_stop.append((asyncio.get_running_loop(), stop))
        ports: dict[int, int] = {}

        def on_ready(index: int, _host: str, port: int) -> None:
            ports[index] = port
            if len(ports) == len(clocks):
                ready.set_result([ports[i] for i in range(len(clocks))])

        async with asyncio.TaskGroup() as group:
            for index, clock in enumerate(clocks):
                settings = Settings(
                    listen=ListenSettings(address="127.0.0.1:0"),
                    replication=replace(replication, proxy_id=index + 1),
                )
                group.create_task(
                    serve(
                        settings,
                        on_ready=partial(on_ready, index),
                        stop=stop,
                        wall_ms=clock,
                    )
                )

    def run() -> None:
        try:
            asyncio.run(run_all())
        except BaseException as failure:  # handed to the test thread, which raises it
            failures.append(failure)
            if not ready.done():
                ready.set_exception(failure)

    thread = threading.Thread(target=run, name="skewed-proxies", daemon=True)
    thread.start()
    try:
        ports = ready.result(START_TIMEOUT_S)
        yield [
            RunningProxy(port, index + 1, clock)
            for index, (port, clock) in enumerate(zip(ports, clocks, strict=True))
        ]
    finally:
        if loop_and_stop:
            loop, stop = loop_and_stop[0]
            loop.call_soon_threadsafe(stop.set)
        thread.join(STOP_TIMEOUT_S)
        assert not thread.is_alive(), "the in-process proxies did not stop"
        if failures and ready.done() and ready.exception() is None:
            raise failures[0]


@contextmanager
def replica_clients(nodes: Sequence[LocalRedisNode]) -> Iterator[list[redis.Redis]]:
    """A direct client to each node, to read what the proxies stored."""
    clients = [node.client() for node in nodes]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def stored_records(replicas: Sequence[redis.Redis], key: bytes) -> list[Record]:
    """The record each replica holds for `key` (replicas that hold none are left out)."""
    raws = [replica.get(key) for replica in replicas]
    return [decode_record(raw) for raw in raws if isinstance(raw, bytes)]


def stored_version_of(replicas: Sequence[redis.Redis], key: bytes, value: bytes) -> Record:
    """The newest stored record of `key` holding `value`. Values in these tests are unique, so
    right after the write of `value` was acknowledged this is the version it ended up with
    (a re-stamped write is stored with its last, newest timestamp)."""
    matching = [record for record in stored_records(replicas, key) if record.value == value]
    assert matching, f"no replica holds {value!r} under {key!r}"
    return max(matching, key=lambda record: record.ts)
