"""Server commands: INFO, from a snapshot of the proxy's state and its replicas', and TIME, the
proxy's own clock (the one it stamps writes with)."""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import time

from leaderless.proxy import info
from leaderless.proxy.commands.args import c_string
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Keyspace, Local
from leaderless.proxy.resp import Verbatim
from leaderless.proxy.state import DIALECT_VERSION, Context, ProxyState
from leaderless.replication.backend import Backend, ReplicaUnavailable
from leaderless.replication.databases import databases_in
from leaderless.replication.placement import Moving
from leaderless.replication.rounds import QuorumError
from leaderless.replication.scripts import ANTI_ENTROPY_KEY, EXPIRES


def time_reply(wall_ms: int) -> list[bytes]:
    """TIME's reply: unix seconds and the microseconds within that second, as strings."""
    seconds, ms = divmod(wall_ms, 1000)
    return [b"%d" % seconds, b"%d" % (ms * 1000)]


def _time(context: Context, args: list[bytes]) -> object:
    return time_reply(context.state.wall_ms())


async def _info(context: Context, args: list[bytes]) -> object:
    sections = [c_string(arg).decode("utf-8", "surrogateescape") for arg in args[1:]]
    chosen = info.chosen_sections(sections)
    state = context.state
    anti_entropy = await _anti_entropy_counters(state) if "anti_entropy" in chosen else ()
    keyspace = await _keyspace(state) if "keyspace" in chosen else ()
    snapshot = _snapshot(state, anti_entropy, keyspace)
    return Verbatim("txt", info.render_info(snapshot, sections))


async def _keyspace(state: ProxyState) -> tuple[tuple[int, int, int], ...]:
    """Per database that some replica holds keys in: its keys (DBSIZE's quorum count) and
    keys with an expiry that clients see (the most any replica that answers holds: every
    replica gives a record's expiry to its key; over a ring, the replicas' counts added up
    and divided by N; expired records kept for their grace are not counted). A database that
    counts no keys, or where no quorum answers, has no line."""
    up = [backend for backend in state.coordinator.backends if backend.state == "up"]
    ring = state.coordinator.ring
    expires: dict[int, int] = {}
    for counts in await asyncio.gather(*(_replica_expires(backend, state) for backend in up)):
        for db, count in counts.items():
            if ring.only is None:  # over a ring each key's expiry is on its N owners
                expires[db] = expires.get(db, 0) + count
            else:
                expires[db] = max(expires.get(db, 0), count)
    if ring.only is None:
        expires = {db: round(count / ring.state.n) for db, count in expires.items()}
    lines = []
    for db in sorted(expires):
        try:
            keys = await state.coordinator.database(db).dbsize()
        except QuorumError:
            continue
        if keys:
            lines.append((db, keys, expires[db]))
    return tuple(lines)


async def _replica_expires(backend: Backend, state: ProxyState) -> dict[int, int]:
    """Per database a replica holds keys in, its keys with an expiry that clients see; nothing
    if it does not answer in time."""
    timeout_s = state.coordinator.timeout_s
    grace = b"%d" % state.coordinator.expired_grace_ms
    try:
        reply = await asyncio.wait_for(backend.execute(b"INFO", b"keyspace"), timeout_s)
        if not isinstance(reply, bytes | bytearray):
            return {}
        counts = {}
        for db in databases_in(bytes(reply)):
            count = await asyncio.wait_for(
                backend.run_script(EXPIRES, (), (grace, b"%d" % db), db), timeout_s
            )
            if isinstance(count, int):
                counts[db] = count
        return counts
    except (ReplicaUnavailable, TimeoutError):
        return {}


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


def _snapshot(
    state: ProxyState,
    anti_entropy: tuple[tuple[str, str], ...],
    keyspace: tuple[tuple[int, int, int], ...],
) -> info.InfoSnapshot:
    coordinator = state.coordinator
    stats = coordinator.stats
    hints = coordinator.hints
    settings = state.settings
    clock_check = state.clock_check
    ring = coordinator.ring
    placement = ring.placement
    shares = (placement.new if isinstance(placement, Moving) else placement).share()
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
            info.NodeStatus(
                b.name,
                b.status,
                coordinator.health(b.index).value,
                b.version.replace(" ", "-"),
                shares.get(b.index, 0.0),
            )
            for b in coordinator.backends
        ),
        ring_epoch=ring.epoch,
        ring_moving=ring.state.moving,
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
        net_input_bytes=state.net_input_bytes,
        net_output_bytes=state.net_output_bytes,
        error_replies=state.error_replies,
        commands=tuple(
            info.CommandFigures(name, c.calls, c.usec, c.rejected, c.failed)
            for name, c in sorted(state.command_stats.items())
        ),
        keyspace=keyspace,
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
    CommandSpec(
        "time",
        1,
        "loading stale fast",
        "@fast",
        Doc("Answers the proxy's clock: unix seconds and microseconds.", "2.6.0", "server", "O(1)"),
        Local(_time),
        tips=("nondeterministic_output",),
    ),
)
