"""The listener: connects to the replicas, accepts clients, and runs until told to stop.

Everything a running proxy knows about itself (its settings, the coordinator, its clients,
its counters) lives in one `ProxyState` passed to every session, never in module globals.
Shutdown is: stop accepting, let the sessions finish what they have in flight (bounded),
then close them and the replica connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leaderless.config.settings import Settings
from leaderless.replication.backend import Backend
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.hlc import HybridClock

if TYPE_CHECKING:
    from leaderless.proxy.session import ClientSession

log = logging.getLogger(__name__)

TOMBSTONE_PURGE_INTERVAL_S = 60.0
DRAIN_TIMEOUT_S = 5.0


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ProxyState:
    """What every session shares: the settings, the coordinator, and the visible counters."""

    settings: Settings
    coordinator: Coordinator
    proxy_id: int
    port: int = 0
    config_file: str = ""
    run_id: str = field(default_factory=lambda: os.urandom(20).hex())
    started_at: float = field(default_factory=time.monotonic)
    clients: dict[int, ClientSession] = field(default_factory=dict)
    next_client_id: int = 1
    connections_received: int = 0
    commands_processed: int = 0
    rejected_connections: int = 0

    def lowest_backend_version(self) -> str:
        versions = [b.version for b in self.coordinator.backends if b.version]
        if not versions:
            return "0.0.0"
        return min(versions, key=lambda v: tuple(int(p) for p in v.split(".") if p.isdigit()))


async def serve(
    settings: Settings,
    *,
    on_ready: Callable[[str, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the proxy until `stop` is set (or forever). Prints its start-up lines, then calls
    on_ready(host, port) once it listens. Raises OSError if the listen address is unusable."""
    from leaderless.proxy.session import ClientSession  # the session imports ProxyState

    replication = settings.replication
    proxy_id = (
        replication.proxy_id
        if replication.proxy_id is not None
        else random.SystemRandom().randrange(1 << 16)
    )
    clock = HybridClock(proxy_id, wall_ms, replication.max_clock_offset_ms)
    backends = [
        Backend(index, address, connect_timeout_s=replication.timeout_ms / 1000)
        for index, address in enumerate(replication.nodes)
    ]
    coordinator = Coordinator(
        backends,
        w=replication.w,
        r=replication.r,
        timeout_s=replication.timeout_ms / 1000,
        clock=clock,
    )
    state = ProxyState(settings=settings, coordinator=coordinator, proxy_id=proxy_id)
    host, port = settings.listen.host, settings.listen.port
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(*(backend.connect() for backend in backends))
        server = await loop.create_server(
            lambda: ClientSession(state), host, port, reuse_address=True, backlog=511
        )
    except BaseException:
        await coordinator.close()
        raise
    state.port = server.sockets[0].getsockname()[1]
    _announce(state, host)
    purger = loop.create_task(_purge_tombstones(state))
    if on_ready is not None:
        on_ready(host, state.port)
    try:
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
    finally:
        log.info("shutting down: no new clients, finishing requests in flight")
        server.close()
        purger.cancel()
        sessions = list(state.clients.values())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.drain() for s in sessions)), DRAIN_TIMEOUT_S)
        for session in sessions:
            session.close()
        await coordinator.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), DRAIN_TIMEOUT_S)


def _announce(state: ProxyState, host: str) -> None:
    replication = state.settings.replication
    out = sys.stdout
    print(
        f"leaderless proxy listening on {host}:{state.port} "
        f"(N={replication.n} W={replication.w} R={replication.r}, "
        f"timeout {replication.timeout_ms} ms, proxy id {state.proxy_id})",
        file=out,
    )
    for backend in state.coordinator.backends:
        detail = f"redis {backend.version}" if backend.state == "up" else backend.last_error
        print(f"  replica {backend.index}: {backend.name} {backend.state} ({detail})", file=out)
    if state.settings.listen.requirepass:
        print("  clients must AUTH: requirepass is set", file=out)
    out.flush()


async def _purge_tombstones(state: ProxyState) -> None:
    """Tombstones older than the grace period are dropped; any number of proxies may do this."""
    grace_ms = state.settings.replication.tombstone_grace_s * 1000
    while True:
        await asyncio.sleep(TOMBSTONE_PURGE_INTERVAL_S)
        try:
            purged = await state.coordinator.purge_tombstones(wall_ms() - grace_ms)
        except Exception:
            log.exception("purging tombstones failed; will retry")
            continue
        if purged:
            log.info("purged %d tombstones older than the grace period", purged)
