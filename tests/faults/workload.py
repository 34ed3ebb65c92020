"""The workload: writer and reader threads talking to the proxies with redis-py.

Each key has exactly one writer, which writes `<key>=1`, `<key>=2`, ... with SET through the
proxy it is pinned to; each reader sends GET or MGET to a proxy it picks per request. Every
outcome goes into the `History`: an OK is an acknowledgement, anything else (NOQUORUM, a
timeout, a lost connection) makes that write indeterminate: it may or may not have been applied.
Every choice comes from a `random.Random` seeded from the run's seed; the threads' interleaving
is the one thing a seed does not replay.

Loops are bounded by a stop event and an operation count. After a connection error a worker
waits a moment (the stop event's wait) so a proxy being restarted is not hammered.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.faults.history import Ack, History, Read, encode_value

MAX_OPS_PER_WORKER = 1_000_000
PAUSE_AFTER_CONNECTION_ERROR_S = 0.05
MGET_KEYS = 5


@dataclass(frozen=True)
class WorkloadShape:
    keys: int = 300
    writers: int = 4
    readers: int = 2
    mget_share: float = 0.2


def key_names(count: int) -> list[str]:
    return [f"fk:{i:04d}" for i in range(count)]


def _client(port: int) -> redis.Redis:
    """No retries: a retried SET would hide which attempt an outcome belongs to."""
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=5,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )


def _failure_kind(error: redis.RedisError) -> str:
    if isinstance(error, redis.TimeoutError):
        return "timeout"
    if isinstance(error, redis.ConnectionError):
        return "connection"
    return str(error).split(" ", 1)[0] or type(error).__name__


class Workload:
    def __init__(
        self, ports: Sequence[int], shape: WorkloadShape, rng: random.Random, history: History
    ) -> None:
        self.history = history
        self._stop = threading.Event()
        keys = key_names(shape.keys)
        self._threads: list[threading.Thread] = []
        for i in range(shape.writers):
            owned, port = keys[i :: shape.writers], ports[i % len(ports)]
            self._spawn(f"writer-{i}", self._write, port, owned, rng.getrandbits(64))
        for i in range(shape.readers):
            name = f"reader-{i}"
            self._spawn(name, self._read, name, ports, keys, shape.mget_share, rng.getrandbits(64))

    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        self._threads.append(threading.Thread(target=target, args=args, name=name, daemon=True))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        stuck = [thread.name for thread in self._threads if thread.is_alive()]
        assert not stuck, f"workers did not stop within {timeout} s: {stuck}"

    def _failed(self, client: redis.Redis, error: redis.RedisError) -> str:
        kind = _failure_kind(error)
        if kind in ("timeout", "connection"):
            client.close()  # the next command reconnects
            self._stop.wait(PAUSE_AFTER_CONNECTION_ERROR_S)
        return kind

    def _write(self, port: int, keys: list[str], seed: int) -> None:
        rng = random.Random(seed)
        client = _client(port)
        try:
            for _ in range(MAX_OPS_PER_WORKER):
                if self._stop.is_set():
                    return
                key = rng.choice(keys)
                n = self.history.attempt(key)
                try:
                    client.set(key, encode_value(key, n))
                except redis.RedisError as error:
                    self.history.write_failed(self._failed(client, error))
                else:
                    self.history.acknowledged(Ack(key, n, time.monotonic()))
        finally:
            client.close()

    def _read(
        self, name: str, ports: Sequence[int], keys: list[str], mget_share: float, seed: int
    ) -> None:
        rng = random.Random(seed)
        clients = [_client(port) for port in ports]
        try:
            for _ in range(MAX_OPS_PER_WORKER):
                if self._stop.is_set():
                    return
                client = rng.choice(clients)
                if rng.random() < mget_share:
                    chosen = rng.sample(keys, MGET_KEYS)
                else:
                    chosen = [rng.choice(keys)]
                started = time.monotonic()
                try:
                    replies = client.mget(chosen) if len(chosen) > 1 else [client.get(chosen[0])]
                except redis.RedisError as error:
                    self.history.read_failed(self._failed(client, error))
                    continue
                finished = time.monotonic()
                values = cast(list[bytes | None], replies)  # no decode_responses: bytes
                self.history.read(
                    [
                        Read(name, key, raw, started, finished)
                        for key, raw in zip(chosen, values, strict=True)
                    ]
                )
        finally:
            for client in clients:
                client.close()
