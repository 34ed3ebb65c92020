"""`--workers K`: K proxy processes share one listening port, under one supervising parent.

How it works. The parent checks what a single proxy checks before it listens (protected mode,
the TLS files), then binds the listen address itself with SO_REUSEPORT but never listens on it
(`reserve_port`): port 0 becomes one free port that every worker then binds, and since the
parent first binds without SO_REUSEPORT, an address already in use is refused rather than
quietly shared with another proxy (should anything take the port in the moment before the
workers bind, their bind fails, and so does the start). It starts K fresh interpreters
(`python -m leaderless.proxy.app.workers INDEX`), not forks, so that no worker inherits an event
loop, threads or locks, and writes each its settings, pickled, on its stdin. Each worker runs
`serve()`, which binds with reuse_port, and once it listens reports one JSON line on its
stdout; the parent prints one block of start-up lines for all. The kernel hands each new
connection to one of the K listening sockets by a hash of its addresses and ports, and that
worker serves it to the end. Only Linux spreads connections so; K > 1 is refused elsewhere.

Each worker is a whole proxy that shares nothing with the others but the port and the
replicas: its own replica connections, hybrid clock and proxy id (proxy_id + i, or K distinct
random ids when proxy_id is unset: two writers must never stamp alike), hints folder
(<hints.dir>/worker-<i>: one writer per SQLite file, and a restart with the same K finds each
worker's hints again), NTP check, tombstone purge, metrics endpoint (metrics.listen's port + i:
each worker's figures are its own, and Prometheus scrapes each, as it would K proxies), and its
share of max_clients (an even split, the remainder to the first workers, so that together they
admit max_clients). So INFO and CLIENT ID/INFO answer for the worker that the connection
reached; client ids repeat across workers.

Supervision. SIGINT or SIGTERM to the parent reaches every worker as SIGTERM; each drains as a
single proxy does, and the parent exits 0 once all have. A worker that ends on its own is not
restarted: the parent stops the others and fails (exit 1). Restarts, their backoff and their
record belong to the service manager (systemd, Kubernetes), which then sees the failure instead
of a proxy quietly running a worker short. A worker whose parent is gone (killed outright) sees
its stdin close and shuts down the same orderly way, so none outlives it holding the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import random
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from leaderless.config.loader import SettingsError
from leaderless.config.settings import Settings, format_endpoint
from leaderless.proxy.logs import configure_logging
from leaderless.proxy.metrics import offset_port
from leaderless.proxy.server import (
    DRAIN_TIMEOUT_S,
    Started,
    protected_mode_refusal,
    run_until_signalled,
    serve,
    startup_lines,
)
from leaderless.proxy.tls import server_context

# The module's own name, also in a worker, which runs it as __main__.
log = logging.getLogger("leaderless.proxy.app.workers")

STOP_TIMEOUT_S = 2 * DRAIN_TIMEOUT_S + 5
"""How long a worker told to stop may take (draining its clients, then closing) before it is
killed."""
_TOLD_TO_STOP = {0, -signal.SIGTERM, -signal.SIGINT}
"""How a worker told to stop ends: 0, or killed by the signal before its handler was set."""


class WorkerFailed(Exception):
    """A worker failed to start, ended on its own, or did not stop when told; the message says
    which and how."""


def worker_proxy_ids(proxy_id: int | None, workers: int, rng: random.Random) -> list[int]:
    """The workers' proxy ids, all distinct: proxy_id..proxy_id+K-1 (the loader has checked that
    they fit in 16 bits), or K random ones when proxy_id is unset."""
    if proxy_id is not None:
        return list(range(proxy_id, proxy_id + workers))
    return rng.sample(range(1 << 16), workers)


def worker_settings(settings: Settings, index: int, proxy_id: int, port: int) -> Settings:
    """Worker `index`'s settings: the port every worker binds, its own proxy id, hints folder
    and metrics port (metrics.listen's + index), its share of max_clients."""
    listen = settings.listen
    share, extra = divmod(listen.max_clients, listen.workers)
    hints_dir = settings.hints.dir
    metrics = settings.metrics.listen
    return replace(
        settings,
        listen=replace(
            listen,
            address=format_endpoint(listen.host, port),
            max_clients=share + int(index < extra),
        ),
        replication=replace(settings.replication, proxy_id=proxy_id),
        hints=replace(
            settings.hints,
            dir=None if hints_dir is None else str(worker_hints_dir(hints_dir, index)),
        ),
        metrics=replace(
            settings.metrics,
            listen=None if metrics is None else offset_port(metrics, index),
        ),
    )


def worker_hints_dir(hints_dir: str, index: int) -> Path:
    return Path(hints_dir) / f"worker-{index}"


def exit_status(returncode: int) -> str:
    """How a process ended, in words."""
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"


# The parent


async def supervise(settings: Settings, stop: asyncio.Event) -> None:
    """Run settings.listen.workers workers until `stop` is set, then stop them all. Raises
    WorkerFailed if one fails to start, ends unbidden (the others are stopped first), or does
    not stop when told."""
    if sys.platform != "linux":
        raise SettingsError(
            "listen.workers (--workers) above 1 needs Linux: elsewhere SO_REUSEPORT does not "
            "spread connections over the workers"
        )
    listen = settings.listen
    refusal = protected_mode_refusal(listen)
    if refusal is not None:
        raise SettingsError(refusal)
    server_context(listen)  # unreadable certificate files fail here, once, not in every worker
    port, reserved = reserve_port(listen.host, listen.port)
    ids = worker_proxy_ids(settings.replication.proxy_id, listen.workers, random.SystemRandom())
    workers: list[_Worker] = []
    try:
        for index, proxy_id in enumerate(ids):
            workers.append(
                await _Worker.start(index, worker_settings(settings, index, proxy_id, port))
            )
        await _watch(settings, workers, stop)
    finally:
        failures = await _stop_all(workers)
        for held in reserved:
            held.close()
    if failures:
        raise WorkerFailed("; ".join(failures))


def reserve_port(host: str, port: int) -> tuple[int, list[socket.socket]]:
    """Bind every address of host:port with SO_REUSEPORT, without listening; returns the port (a
    free one for port 0) and the sockets, held while the workers run. OSError if something
    listens there already, even a socket that shares its port."""
    reserved: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with _bindable(family, kind, proto) as probe:  # refused where anything listens
                probe.bind((address[0], port, *address[2:]))
                port = probe.getsockname()[1]
            held = _bindable(family, kind, proto)
            reserved.append(held)
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            held.bind((address[0], port, *address[2:]))
    except OSError as error:
        for held in reserved:
            held.close()
        where = format_endpoint(host, port)
        raise OSError(error.errno, f"cannot listen on {where}: {error.strerror}") from None
    return port, reserved


def _bindable(family: int, kind: int, proto: int) -> socket.socket:
    """A socket set up as asyncio's create_server sets up its own before binding."""
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sock


@dataclass
class _Worker:
    index: int
    process: asyncio.subprocess.Process

    @classmethod
    async def start(cls, index: int, settings: Settings) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            str(index),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        process.stdin.write(pickle.dumps(settings))
        with contextlib.suppress(ConnectionError):  # it died at once: started() says how
            await process.stdin.drain()
        return cls(index, process)

    @property
    def name(self) -> str:
        return f"worker {self.index} (pid {self.process.pid})"

    async def started(self) -> Started:
        """Its start-up report, once it listens; WorkerFailed if it ends first."""
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            status = exit_status(await self.process.wait())
            raise WorkerFailed(f"{self.name} {status} before it listened")
        report = json.loads(line)
        return Started(**{**report, "replicas": tuple(report["replicas"])})


async def _watch(settings: Settings, workers: Sequence[_Worker], stop: asyncio.Event) -> None:
    """Print the start-up lines once every worker listens, then wait for `stop`. WorkerFailed
    if a worker fails to start or ends before that."""
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    starting: asyncio.Future[Any] = asyncio.gather(*(worker.started() for worker in workers))
    exits: list[asyncio.Future[Any]] = [
        asyncio.ensure_future(worker.process.wait()) for worker in workers
    ]
    try:
        await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
        if stopping.done():
            return
        print("\n".join(startup_lines(settings, starting.result())), flush=True)
        await asyncio.wait([*exits, stopping], return_when=asyncio.FIRST_COMPLETED)
        if stopping.done():
            return
        ended = next(worker for worker in workers if worker.process.returncode is not None)
        assert ended.process.returncode is not None
        raise WorkerFailed(
            f"{ended.name} {exit_status(ended.process.returncode)}; the other workers were stopped"
        )
    finally:
        for waiting in (stopping, starting, *exits):
            waiting.cancel()


async def _stop_all(workers: Sequence[_Worker]) -> list[str]:
    """Tell every worker still running to stop, wait for all (killing any that take longer than
    STOP_TIMEOUT_S); what went wrong, one entry per worker that did not end as told."""
    running = [worker for worker in workers if worker.process.returncode is None]
    if running:
        log.info("stopping %d workers", len(running))
    for worker in running:
        with contextlib.suppress(ProcessLookupError):  # it has just ended
            worker.process.send_signal(signal.SIGTERM)
    failures = []
    for worker in workers:
        try:
            returncode = await asyncio.wait_for(worker.process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            worker.process.kill()
            await worker.process.wait()
            failures.append(
                f"{worker.name} did not stop within {STOP_TIMEOUT_S:g} s and was killed"
            )
            continue
        if returncode not in _TOLD_TO_STOP:
            failures.append(f"{worker.name} {exit_status(returncode)} while stopping")
    return failures


# A worker


def run_worker(index: int) -> None:
    """One worker's life: its settings from stdin, `serve()` until SIGTERM or SIGINT or the
    parent's end, its start-up reported on stdout; exit 1 after a start-up failure."""
    settings: Settings = pickle.load(sys.stdin.buffer)
    configure_logging(settings.log, f"worker {index}")
    try:
        run_until_signalled(partial(_serve, settings))
    except (SettingsError, OSError) as error:
        text = " ".join(str(error).split()) or type(error).__name__
        print(f"leaderless: error: worker {index}: {text}", file=sys.stderr, flush=True)
        sys.exit(1)


async def _serve(settings: Settings, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    parent = sys.stdin.fileno()  # readable only once the parent's end closes: it is gone

    def parent_gone() -> None:
        loop.remove_reader(parent)
        log.warning("the supervising process is gone: shutting down")
        stop.set()

    loop.add_reader(parent, parent_gone)
    try:
        await serve(settings, stop=stop, report=_report)
    finally:
        loop.remove_reader(parent)


def _report(started: Started) -> None:
    print(json.dumps(asdict(started)), flush=True)
    # The parent reads nothing more: anything later printed goes where the logs go.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    run_worker(int(sys.argv[1]))
