"""Server commands: INFO, from a snapshot of the proxy's state and its replicas'."""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import time

from leaderless.proxy import info
from leaderless.proxy.commands.args import c_string
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Keyspace
from leaderless.proxy.resp import Verbatim
from leaderless.proxy.state import DIALECT_VERSION, Context, ProxyState
from leaderless.replication.backend import ReplicaUnavailable
from leaderless.replication.scripts import ANTI_ENTROPY_KEY


async def _info(context: Context, args: list[bytes]) -> object:
    anti_entropy = await _anti_entropy_counters(context.state)
    snapshot = _snapshot(context.state, anti_entropy)
    sections = [c_string(arg).decode("utf-8", "surrogateescape") for arg in args[1:]]
    return Verbatim("txt", info.render_info(snapshot, sections))


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
        redis_version=DIALECT_VERSION,
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
            info.NodeStatus(b.name, b.status, coordinator.health(b.index).value, b.version)
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


SPECS = (
    CommandSpec(
        "info",
        -1,
        "loading stale",
        "@slow @dangerous",
        Doc(
            "Reports the proxy's state, its replicas' and its figures, by section.",
            "1.0.0",
            "server",
            "O(1)",
            (Arg("section", "string", optional=True, multiple=True),),
        ),
        Keyspace(_info),
        tips=("nondeterministic_output", "request_policy:all_shards", "response_policy:special"),
    ),
)
