"""The listener: connects to the replicas, accepts clients, and runs until told to stop.

Everything a running proxy knows about itself (its settings, the coordinator, its clients,
its counters) lives in one `ProxyState` passed to every session, never in module globals.
Shutdown is: stop accepting, let the sessions finish what they have in flight (bounded),
then close them and the replica connections.

Beside the listener run a few background tasks: hint replay (replication/handoff.py), the
rejoin watch (replication/rejoin.py), the tombstone purge, the clock check against NTP
(replication/ntp.py; with no NTP server configured the start-up lines say so once), and,
when listen.idle_timeout_s is set, the sweep that closes idle clients. Before anything starts,
protected mode (as Redis's) refuses a non-loopback listen address without a password.

One `serve()` is one proxy process. With listen.workers = K > 1 each of K worker processes runs
one, binding the same port with SO_REUSEPORT, and reports its start-up to the parent instead of
printing it; the parent prints one block for all (proxy/app/workers.py, `startup_lines` here).
`run_until_signalled` is the process around it: the event loop, the collector's settings, and
SIGINT/SIGTERM as the `stop` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import random
import signal
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from leaderless.config.loader import SettingsError
from leaderless.config.settings import (
    ListenSettings,
    NodeAddress,
    Settings,
    format_endpoint,
    parse_endpoint,
    parse_ntp_server,
)
from leaderless.proxy.metrics import MetricsEndpoint, ProxyCollector, endpoint_url, start_endpoint
from leaderless.proxy.session import ClientSession
from leaderless.proxy.state import ProxyState, script_host, wall_ms
from leaderless.proxy.tls import server_context
from leaderless.replication.backend import Backend
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.handoff import Handoff
from leaderless.replication.hints import HintLedger
from leaderless.replication.hlc import HybridClock
from leaderless.replication.ntp import ClockCheck, OffsetAction, monitor_clock
from leaderless.replication.rejoin import Rejoin
from leaderless.replication.ring_state import RingInForce, RingMember, configured

log = logging.getLogger(__name__)

TOMBSTONE_PURGE_INTERVAL_S = 60.0
DRAIN_TIMEOUT_S = 5.0
IDLE_SWEEP_INTERVAL_S = 1.0
REPLAY_TIMEOUT_S = 5.0
"""Least time a replica has to acknowledge a batch of replayed hints."""


Main = Callable[[asyncio.Event], Coroutine[Any, Any, None]]

GC_YOUNG_THRESHOLD = 100_000
"""Objects allocated between two collections of the youngest generation (Python's default is
700). Every request allocates a few short-lived closures and futures; at the default the
collector runs every few requests and costs about a quarter of the proxy's CPU. Cyclic garbage
is still collected, in larger and rarer batches."""


def run_until_signalled(run: Main) -> None:
    """Run `run(stop)` on a fresh event loop (uvloop if available) until it returns; SIGINT and
    SIGTERM set `stop`."""
    gc.freeze()  # what start-up built lives as long as the process: never scan it again
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(_until_signalled(run))


async def _until_signalled(run: Main) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        await run(stop)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (libuv: fewer system calls per request),
    else None: asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


@dataclass(frozen=True)
class Started:
    """What one proxy process found at start-up, for the start-up lines. Plain values only: a
    worker sends it to its parent as JSON."""

    pid: int
    proxy_id: int
    port: int
    replicas: tuple[str, ...]
    """Each replica as found, e.g. `127.0.0.1:7000 up (valkey 8.1.8)`."""
    hints_pending: int
    metrics_port: int | None = None
    """Where /metrics is served (metrics.listen's host), None when it is not."""
    ring: str = ""
    """The ring in force, e.g. `ring epoch 2: 5 nodes, 3 copies of each key`."""


async def open_state(settings: Settings, *, wall_ms: Callable[[], int] = wall_ms) -> ProxyState:
    """What the sessions share, with every replica's connection tried once (a replica that is
    down is retried in the background). `serve` listens on top of it."""
    replication = settings.replication
    proxy_id = (
        replication.proxy_id
        if replication.proxy_id is not None
        else random.SystemRandom().randrange(1 << 16)
    )
    clock = HybridClock(proxy_id, wall_ms, replication.max_clock_offset_ms)
    timeout_s = replication.timeout_ms / 1000
    backends = [
        Backend(index, address, connect_timeout_s=timeout_s)
        for index, address in enumerate(replication.nodes)
    ]
    hints = settings.hints
    handoff = Handoff(
        HintLedger(window_ms=hints.window_s * 1000, max_bytes=hints.max_bytes),
        None if hints.dir is None else Path(hints.dir),
        wall_ms=wall_ms,
        replay_keys_per_s=hints.replay_keys_per_s,
        timeout_s=max(timeout_s, REPLAY_TIMEOUT_S),
        expired_grace_ms=replication.expired_grace_s * 1000,
    )
    await handoff.open([backend.name for backend in backends])
    rejoin = Rejoin(backends, handoff, timeout_s=timeout_s, wall_ms=wall_ms)
    configured_ring = configured(replication.nodes, replication.n, replication.vnodes)
    coordinator = Coordinator(
        backends,
        w=replication.w,
        r=replication.r,
        timeout_s=timeout_s,
        clock=clock,
        handoff=handoff,
        rejoin=rejoin,
        expired_grace_ms=replication.expired_grace_s * 1000,
        sloppy_quorum=hints.sloppy_quorum,
        ring=RingInForce(configured_ring, {b.name: b.index for b in backends}),
        new_backend=(
            partial(_member_backend, replication.nodes[0], timeout_s) if replication.nodes else None
        ),
    )
    handoff.ring_epoch = lambda: coordinator.ring.epoch
    clock_check = ClockCheck(
        replication.max_clock_offset_ms, OffsetAction(replication.clock_offset_action)
    )
    state = ProxyState(
        settings=settings,
        coordinator=coordinator,
        proxy_id=proxy_id,
        clock_check=clock_check,
        wall_ms=wall_ms,
        scripts=script_host(settings.limits.script_time_limit_ms),
    )
    try:
        await asyncio.gather(*(backend.connect() for backend in backends))
        await coordinator.load_ring()
    except BaseException:
        await coordinator.close()
        raise
    return state


def _member_backend(
    configured: NodeAddress, timeout_s: float, index: int, member: RingMember
) -> Backend:
    """A ring member the config does not list, logged in to as the first configured node."""
    return Backend(index, configured.at(member.endpoint), connect_timeout_s=timeout_s)


def ring_line(ring: RingInForce) -> str:
    state = ring.state
    members = f"{len(state.members)} node" + ("s" if len(state.members) > 1 else "")
    if ring.only is not None and not state.moving:
        placement = "every key on every node"
    else:
        placement = f"{state.n} copies of each key, {state.vnodes} virtual nodes per node"
    moving = f"; keys moving from a ring of {len(state.previous or ())}" if state.moving else ""
    return f"ring epoch {state.epoch}: {members}, {placement}{moving}"


async def serve(
    settings: Settings,
    *,
    on_ready: Callable[[str, int], None] | None = None,
    stop: asyncio.Event | None = None,
    wall_ms: Callable[[], int] = wall_ms,
    report: Callable[[Started], None] | None = None,
) -> None:
    """Run the proxy until `stop` is set (or forever). Prints its start-up lines (or, given
    `report`, hands them over: a worker's parent prints them), then calls on_ready(host, port)
    once it listens. Raises OSError if the listen address is unusable. `wall_ms` is the wall
    clock everything here reads (injected by tests of skewed clocks)."""
    refusal = protected_mode_refusal(settings.listen)
    if refusal is not None:
        raise SettingsError(refusal)
    tls = server_context(settings.listen)
    state = await open_state(settings, wall_ms=wall_ms)
    coordinator, clock_check = state.coordinator, state.clock_check
    backends = coordinator.backends
    replication = settings.replication
    host, port = settings.listen.host, settings.listen.port
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(
            lambda: ClientSession(state),
            host,
            port,
            reuse_address=True,
            reuse_port=settings.listen.workers > 1,
            backlog=511,
            ssl=tls,
        )
    except BaseException:
        await coordinator.close()
        raise
    state.port = server.sockets[0].getsockname()[1]
    metrics: MetricsEndpoint | None = None
    if settings.metrics.listen is not None:
        try:
            metrics = start_endpoint(settings.metrics.listen, ProxyCollector(state))
        except BaseException:
            server.close()
            await coordinator.close()
            raise
    started = Started(
        pid=os.getpid(),
        proxy_id=state.proxy_id,
        port=state.port,
        replicas=tuple(_replica_state(backend) for backend in backends),
        hints_pending=coordinator.hints.pending,
        metrics_port=None if metrics is None else metrics.port,
        ring=ring_line(coordinator.ring),
    )
    if report is None:
        print("\n".join(startup_lines(settings, [started])), flush=True)
    else:
        report(started)
    tasks = [
        loop.create_task(_purge_tombstones(state)),
        loop.create_task(coordinator.handoff.replay_forever(backends)),
        loop.create_task(coordinator.rejoin.watch_forever()),
        loop.create_task(coordinator.watch_ring_forever()),
    ]
    if replication.ntp_servers:
        servers = [parse_ntp_server(server) for server in replication.ntp_servers]
        interval_s = replication.ntp_interval_ms / 1000
        tasks.append(loop.create_task(monitor_clock(clock_check, servers, interval_s)))
    if settings.listen.idle_timeout_s:
        tasks.append(loop.create_task(_close_idle_clients(state)))
    if on_ready is not None:
        on_ready(host, state.port)
    try:
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
    finally:
        server.close()
        if metrics is not None:
            metrics.close()
        log.info("shutting down: no new clients, finishing requests in flight")
        for task in tasks:
            task.cancel()
        sessions = list(state.clients.values())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.drain() for s in sessions)), DRAIN_TIMEOUT_S)
        for session in sessions:
            session.close()
        await coordinator.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), DRAIN_TIMEOUT_S)


def protected_mode_refusal(listen: ListenSettings) -> str | None:
    """Why the proxy must not listen where it is told to (Redis's protected mode), or None."""
    if not listen.protected_mode or listen.auth_required or _is_loopback(listen.host):
        return None
    return (
        f"protected mode: listen.address = {listen.address} is not a loopback address and no "
        "password is set; set listen.requirepass (--requirepass) or listen.users (--user), "
        "or set listen.protected_mode = false (--protected-mode no) to allow it"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything


def _replica_state(backend: Backend) -> str:
    detail = backend.version if backend.state == "up" else backend.last_error
    return f"{backend.name} {backend.state} ({detail})"


def startup_lines(settings: Settings, started: Sequence[Started]) -> list[str]:
    """The lines a proxy prints once it listens: one `Started` per process, one for a single
    proxy, K for K workers (in worker order)."""
    replication, listen, hints = settings.replication, settings.listen, settings.hints
    first = started[0]
    several = len(started) > 1
    lines = [
        f"leaderless proxy listening on {format_endpoint(listen.host, first.port)} "
        f"(N={replication.n} W={replication.w} R={replication.r}, "
        f"timeout {replication.timeout_ms} ms, "
        + (f"{len(started)} workers)" if several else f"proxy id {first.proxy_id})")
    ]
    if several:
        lines += [
            f"  worker {index}: pid {worker.pid}, proxy id {worker.proxy_id}"
            for index, worker in enumerate(started)
        ]
    for index, found in enumerate(zip(*(worker.replicas for worker in started), strict=True)):
        if len(set(found)) == 1:
            lines.append(f"  replica {index}: {found[0]}")
        else:  # the workers connected at slightly different moments, and saw different things
            seen = "; ".join(f"worker {worker}: {state}" for worker, state in enumerate(found))
            lines.append(f"  replica {index}: {seen}")
    if first.ring:
        lines.append(f"  {first.ring}")
    if listen.auth_required:
        logins = ["requirepass"] if listen.requirepass is not None else []
        logins += [f"user {user.name}" for user in listen.users]
        lines.append(f"  clients must AUTH ({', '.join(logins)})")
    if listen.tls_cert_file is not None:
        certificates = (
            "required"
            if listen.tls_require_client_cert
            else "verified if presented"
            if listen.tls_ca_file is not None
            else "not asked for"
        )
        lines.append(f"  clients connect with TLS (client certificates {certificates})")
    if hints.dir is None:
        where = "in memory only (hints.dir unset)"
    elif several:
        where = f"in {hints.dir}, a folder worker-<i> per worker"
    else:
        where = f"in {hints.dir}"
    pending = sum(worker.hints_pending for worker in started)
    lines.append(f"  hints: kept {where}, {pending} pending")
    if settings.metrics.listen is not None:
        metrics_host = parse_endpoint(settings.metrics.listen)[0]
        urls = [endpoint_url(metrics_host, worker.metrics_port or 0) for worker in started]
        if several:
            lines.append(f"  metrics: {', '.join(urls)} (one per worker, in worker order)")
        else:
            lines.append(f"  metrics: {urls[0]}")
    if not replication.ntp_servers:
        lines.append(
            "  clock: no NTP server configured (replication.ntp_servers), so the clock's "
            "offset is not checked"
        )
    return lines


async def _close_idle_clients(state: ProxyState) -> None:
    """Close clients that sent nothing for idle_timeout_s seconds (Redis's `timeout`)."""
    timeout_s = state.settings.listen.idle_timeout_s
    while True:
        await asyncio.sleep(IDLE_SWEEP_INTERVAL_S)
        now = time.monotonic()
        for session in list(state.clients.values()):
            if now - session.last_active > timeout_s:
                log.debug("closing client %d (%s): idle timeout", session.client_id, session.peer)
                session.close()


async def _purge_tombstones(state: ProxyState) -> None:
    """Tombstones older than the grace period are dropped; any number of proxies may do this."""
    grace_ms = state.settings.replication.tombstone_grace_s * 1000
    while True:
        await asyncio.sleep(TOMBSTONE_PURGE_INTERVAL_S)
        try:
            purged = await state.coordinator.purge_tombstones(state.wall_ms() - grace_ms)
        except Exception:
            log.exception("purging tombstones failed; will retry")
            continue
        if purged:
            log.info("purged %d tombstones older than the grace period", purged)
