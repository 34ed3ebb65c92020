"""The state the commands see: `ProxyState`, shared by every session of one proxy process and
passed to each, and `Context`, one client's own (the session adds the transport around it)."""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from leaderless.config.settings import LimitSettings, Settings
from leaderless.proxy.gate import UnitGate
from leaderless.proxy.latches import KeyLatches
from leaderless.proxy.scripting.host import ScriptHost
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.ntp import ClockCheck
from leaderless.replication.record import Record

DIALECT_VERSION = "7.2.4"
"""The Redis version whose replies the proxy gives, whatever its replicas run (INFO, HELLO)."""


def script_host(time_limit_ms: int = LimitSettings.script_time_limit_ms) -> ScriptHost:
    """The proxy's scripts, their `redis.REDIS_VERSION` the dialect's."""
    major, minor, patch = (int(part) for part in DIALECT_VERSION.split("."))
    return ScriptHost(DIALECT_VERSION, major << 16 | minor << 8 | patch, time_limit_ms)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


DURATION_BOUNDS_USEC = (
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    25000,
    50000,
    100000,
    250000,
    500000,
    1000000,
    2500000,
)
"""The upper bounds of the buckets a call's time to reply is counted in (the metrics'
command duration histogram); a last bucket holds the calls slower than all of them."""


@dataclass(slots=True)
class CommandStats:
    """One command's figures as INFO commandstats gives them. `calls` counts the executions
    (a refused request is `rejected`, not a call), `usec` the time from the request to its
    reply, replicas' round trips included; `failed` the calls answered with an error.

    For the metrics, `buckets[i]` counts the calls whose time to reply is at most
    DURATION_BOUNDS_USEC[i] and above the bound before (the last, above every bound), and
    `observed_usec` adds up every call's time: the calls of a pipelined run done as one share
    its time, which `usec` counts once but each of them observed. Plain integers, so that
    counting stays a few additions and a bisection; the metrics read them when scraped."""

    calls: int = 0
    usec: int = 0
    rejected: int = 0
    failed: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BOUNDS_USEC) + 1))
    observed_usec: int = 0


@dataclass
class ProxyState:
    """The settings, the coordinator, the clients and the visible counters."""

    settings: Settings
    coordinator: Coordinator
    proxy_id: int
    clock_check: ClockCheck
    wall_ms: Callable[[], int] = wall_ms
    """The wall clock (unix ms) this proxy stamps writes with and judges expiry by."""
    port: int = 0
    config_file: str = ""
    run_id: str = field(default_factory=lambda: os.urandom(20).hex())
    started_at: float = field(default_factory=time.monotonic)
    clients: dict[int, Context] = field(default_factory=dict)
    next_client_id: int = 1
    connections_received: int = 0
    commands_processed: int = 0
    rejected_connections: int = 0
    net_input_bytes: int = 0
    net_output_bytes: int = 0
    error_replies: int = 0
    clock_refused_writes: int = 0
    """Writes refused because this proxy's clock is out of bounds (replication/ntp.py)."""
    command_stats: dict[str, CommandStats] = field(default_factory=dict)
    """Per command's full name (`config|get`), for INFO commandstats."""
    latches: KeyLatches = field(default_factory=KeyLatches)
    """The keys a read-then-write command holds from its read to its write."""
    scripts: ScriptHost = field(default_factory=script_host)
    """The scripts cached here and the Lua VM that runs them."""
    gate: UnitGate = field(default_factory=UnitGate)
    """Whether the sessions' requests may go to the replicas, or wait for a unit of work."""

    def command(self, name: str) -> CommandStats:
        """The figures of the command named, created at its first call."""
        try:
            return self.command_stats[name]
        except KeyError:
            stats = self.command_stats[name] = CommandStats()
            return stats

    def count_calls(
        self, stats: CommandStats, started_ns: int, *, failed: bool = False, count: int = 1
    ) -> None:
        """Count `count` calls of a command, started at `started_ns` (perf_counter_ns), whose
        replies are ready now. Only calls count as commands processed (as in Redis, a refused
        request does not), and a failed call's reply as an error reply."""
        usec = (time.perf_counter_ns() - started_ns) // 1000
        stats.calls += count
        stats.usec += usec
        stats.buckets[bisect_left(DURATION_BOUNDS_USEC, usec)] += count
        stats.observed_usec += usec * count
        self.commands_processed += count
        if failed:
            stats.failed += count
            self.error_replies += count

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT: the counters INFO's stats and commandstats report start again."""
        self.connections_received = self.commands_processed = self.rejected_connections = 0
        self.net_input_bytes = self.net_output_bytes = self.error_replies = 0
        self.command_stats.clear()

    def backend_versions(self) -> list[str]:
        """Each replica's version as last seen ("" while it has not answered)."""
        return [backend.version for backend in self.coordinator.backends]


LastWrite = tuple[int, list[tuple[bytes, Record]]]
"""A client's last write, for WAIT: its database, and the records it wrote, as stamped. A plain
tuple of what the write made anyway: one is kept for every write."""


Watched = list[tuple[Coordinator, bytes, object]]
"""Keys a WATCH read, each with the coordinator of its database and the version it found."""


class Context:
    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.protocol = 2
        self.client_id = 0
        self.peer = ""
        self.local = ""
        """The proxy's address this client connected to (CLIENT INFO's `laddr`)."""
        self.name: bytes | None = None
        self.lib_name: bytes | None = None
        self.lib_ver: bytes | None = None
        self.db = 0
        self.created_at = time.monotonic()
        self.last_active = self.created_at
        self.authenticated = not state.settings.listen.auth_required
        self.user = b"default"
        self.last_command = "NULL"
        """The last command's full name (CLIENT INFO's `cmd=`)."""
        self.bytes_in = 0
        self.bytes_out = 0
        self.commands = 0
        self.replies_off = False
        """CLIENT REPLY OFF: no reply is sent until CLIENT REPLY ON."""
        self.skip_next_reply = False
        """CLIENT REPLY SKIP: the next command's reply is not sent."""
        self.skip_reply = False
        """This command's reply is not sent (a SKIP came before it), unless it is REPLY ON."""
        self.transaction: list[list[bytes]] | None = None
        """The requests queued since MULTI; None outside a transaction."""
        self.transaction_failed = False
        """A request could not be queued since MULTI: EXEC will answer EXECABORT."""
        self.watched: list[Awaitable[Watched]] = []
        """What each WATCH since the last EXEC, DISCARD, UNWATCH or RESET read."""
        self.last_write: LastWrite | None = None
        """The records this client last wrote (WAIT counts the replicas holding them)."""

    @property
    def coordinator(self) -> Coordinator:
        """The coordinator of the database this client selected."""
        return self.state.coordinator.database(self.db)

    def touch(self) -> None:
        """Note that the client sent something (the idle-client timeout counts from here)."""
        self.last_active = time.monotonic()

    def close_after_replies(self) -> None:
        raise NotImplementedError

    async def drain(self) -> None:
        """Wait until every request in flight has its reply queued."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
