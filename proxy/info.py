"""INFO's text, rendered from a snapshot of the proxy's state.

How it works: the session fills an `InfoSnapshot` (a frozen dataclass of plain values: no
clock or OS calls happen here) and `render_info` writes Redis's INFO format: "# Section"
headings, "field:value" lines ending in CRLF, a blank line between sections. Section
selection follows Redis 7.2 (`chosen_sections`): any number of section names (any case), each
section once in our order; no section or "default" give the default ones, "all" and
"everything" add commandstats; unknown names add none.

What is reported: Server, Clients, Memory, Stats, Replication and Cluster keep Redis's names
and the fields clients read (redis_version is the Redis version whose replies the proxy gives; each
replica's own version is in "# Leaderless"; role:master with no replicas, since clients must
not try to follow a replication topology behind the proxy). Commandstats counts what this
proxy process served. Keyspace's line per database has DBSIZE's quorum count and the most keys with
an expiry that clients see any replica holds (expired records kept for their grace are not
counted); like Redis, it has no line for an empty database. Our own figures
sit in "# Leaderless", the clock check's among them (clock_offset_ms reads "unknown" and
clock_offset_age_ms -1 until a first NTP measurement; see replication/ntp.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeStatus:
    address: str  # host:port, never credentials
    state: str  # "up", "suspect" (connected but not answering) or "down"
    health: str = "in_sync"  # or "recovering" (emptied, not counted toward reads), "checking"
    version: str = ""  # the server and its release, `valkey-8.1.8`; "" until it has answered
    ring_share: float = 1.0  # the fraction of the key space it holds a copy of on the ring


@dataclass(frozen=True, slots=True)
class CommandFigures:
    name: str  # the full name: `config|get`
    calls: int
    usec: int
    rejected: int
    failed: int


@dataclass(frozen=True, slots=True)
class InfoSnapshot:
    redis_version: str  # the dialect the proxy speaks, whatever its replicas run
    os: str  # as Redis prints it: "Linux 6.1.0 x86_64"
    arch_bits: int
    process_id: int
    run_id: str  # 40 hex characters, random per process
    tcp_port: int
    server_time_usec: int
    uptime_in_seconds: int
    executable: str
    config_file: str
    connected_clients: int
    maxclients: int
    total_connections_received: int
    total_commands_processed: int
    rejected_connections: int
    n: int
    w: int
    r: int
    proxy_id: int
    nodes: tuple[NodeStatus, ...]
    reads: int
    writes: int
    read_repairs: int
    background_repairs: int
    quorum_failures: int
    refused_clock_observations: int
    clock_offset_ms: float | None  # NTP time minus ours; None: never measured
    clock_offset_age_s: float | None  # since that measurement
    clock_in_bounds: bool
    clock_writes_refused: bool
    restamped_writes: int = 0
    hints_stored: int = 0
    hints_replayed: int = 0
    hints_dropped: int = 0
    hints_pending: int = 0
    hints_pending_bytes: int = 0
    anti_entropy: tuple[tuple[str, str], ...] = ()
    """The sidecars' counters as one replica holds them (see replication/anti_entropy.py)."""
    net_input_bytes: int = 0
    net_output_bytes: int = 0
    error_replies: int = 0
    ring_epoch: int = 0
    ring_moving: bool = False
    commands: tuple[CommandFigures, ...] = ()
    keyspace: tuple[tuple[int, int, int], ...] = ()
    """Per database holding keys: its number, its keys and its keys with an expiry."""


Fields = list[tuple[str, object]]


def _server(s: InfoSnapshot) -> Fields:
    return [
        ("redis_version", s.redis_version),
        ("redis_git_sha1", "00000000"),
        ("redis_git_dirty", 0),
        ("redis_build_id", "0"),
        ("redis_mode", "standalone"),
        ("os", s.os),
        ("arch_bits", s.arch_bits),
        ("multiplexing_api", "asyncio"),
        ("process_id", s.process_id),
        ("process_supervised", "no"),
        ("run_id", s.run_id),
        ("tcp_port", s.tcp_port),
        ("server_time_usec", s.server_time_usec),
        ("uptime_in_seconds", s.uptime_in_seconds),
        ("uptime_in_days", s.uptime_in_seconds // 86400),
        ("executable", s.executable),
        ("config_file", s.config_file),
    ]


def _clients(s: InfoSnapshot) -> Fields:
    return [
        ("connected_clients", s.connected_clients),
        ("cluster_connections", 0),
        ("maxclients", s.maxclients),
        ("client_recent_max_input_buffer", 0),
        ("client_recent_max_output_buffer", 0),
        ("blocked_clients", 0),
        ("tracking_clients", 0),
        ("clients_in_timeout_table", 0),
        ("total_blocking_keys", 0),
        ("total_blocking_keys_on_nokey", 0),
    ]


def _memory(s: InfoSnapshot) -> Fields:
    """What clients read here is the eviction policy (Sidekiq and BullMQ warn unless it is
    noeviction); the proxy evicts nothing and bounds no memory (CONFIG GET says the same)."""
    return [("maxmemory", 0), ("maxmemory_human", "0B"), ("maxmemory_policy", "noeviction")]


def _stats(s: InfoSnapshot) -> Fields:
    return [
        ("total_connections_received", s.total_connections_received),
        ("total_commands_processed", s.total_commands_processed),
        ("total_net_input_bytes", s.net_input_bytes),
        ("total_net_output_bytes", s.net_output_bytes),
        ("rejected_connections", s.rejected_connections),
        ("total_error_replies", s.error_replies),
    ]


def _commandstats(s: InfoSnapshot) -> Fields:
    """A line per command that was called, refused or failed (as Redis, none for the others)."""
    return [
        (
            f"cmdstat_{c.name}",
            f"calls={c.calls},usec={c.usec},usec_per_call={c.usec / c.calls if c.calls else 0:.2f}"
            f",rejected_calls={c.rejected},failed_calls={c.failed}",
        )
        for c in s.commands
        if c.calls or c.rejected or c.failed
    ]


def _keyspace(s: InfoSnapshot) -> Fields:
    return [
        (f"db{db}", f"keys={keys},expires={expires},avg_ttl=0") for db, keys, expires in s.keyspace
    ]


def _replication(s: InfoSnapshot) -> Fields:
    return [("role", "master"), ("connected_slaves", 0)]


def _cluster(s: InfoSnapshot) -> Fields:
    return [("cluster_enabled", 0)]


def _leaderless(s: InfoSnapshot) -> Fields:
    nodes: Fields = [
        (
            f"node{index}",
            f"address={node.address},state={node.state},health={node.health},"
            f"version={node.version},ring_share={node.ring_share:.3f}",
        )
        for index, node in enumerate(s.nodes)
    ]
    return [
        ("n", s.n),
        ("w", s.w),
        ("r", s.r),
        ("proxy_id", s.proxy_id),
        ("ring_epoch", s.ring_epoch),
        ("ring_moving", int(s.ring_moving)),
        *nodes,
        ("reads", s.reads),
        ("writes", s.writes),
        ("read_repairs", s.read_repairs),
        ("background_repairs", s.background_repairs),
        ("quorum_failures", s.quorum_failures),
        ("restamped_writes", s.restamped_writes),
        ("hints_stored", s.hints_stored),
        ("hints_replayed", s.hints_replayed),
        ("hints_dropped", s.hints_dropped),
        ("hints_pending", s.hints_pending),
        ("hints_pending_bytes", s.hints_pending_bytes),
        ("refused_clock_observations", s.refused_clock_observations),
        ("clock_offset_ms", "unknown" if s.clock_offset_ms is None else round(s.clock_offset_ms)),
        (
            "clock_offset_age_ms",
            -1 if s.clock_offset_age_s is None else int(s.clock_offset_age_s * 1000),
        ),
        ("clock_in_bounds", int(s.clock_in_bounds)),
        ("clock_writes_refused", int(s.clock_writes_refused)),
    ]


def _anti_entropy(s: InfoSnapshot) -> Fields:
    if not s.anti_entropy:
        return [("anti_entropy_status", "no sidecar has reported a round yet")]
    return [(f"anti_entropy_{name}", value) for name, value in s.anti_entropy]


SECTIONS: dict[str, tuple[str, Callable[[InfoSnapshot], Fields]]] = {
    "server": ("Server", _server),
    "clients": ("Clients", _clients),
    "memory": ("Memory", _memory),
    "stats": ("Stats", _stats),
    "replication": ("Replication", _replication),
    "commandstats": ("Commandstats", _commandstats),
    "cluster": ("Cluster", _cluster),
    "keyspace": ("Keyspace", _keyspace),
    "leaderless": ("Leaderless", _leaderless),
    "anti_entropy": ("AntiEntropy", _anti_entropy),
}


NOT_DEFAULT = frozenset({"commandstats"})
"""The sections only "all" and "everything" (or their own names) give."""


def chosen_sections(sections: list[str]) -> list[str]:
    """The sections INFO [section ...] gives, in our order: none named means "default"."""
    wanted = {section.lower() for section in sections} or {"default"}
    if wanted & {"all", "everything"}:
        return list(SECTIONS)
    if "default" in wanted:
        wanted |= SECTIONS.keys() - NOT_DEFAULT
    return [name for name in SECTIONS if name in wanted]


def render_info(snapshot: InfoSnapshot, sections: list[str]) -> bytes:
    """INFO [section ...]'s text (see `chosen_sections`)."""
    blocks = []
    for name in chosen_sections(sections):
        heading, fields = SECTIONS[name]
        lines = [f"# {heading}", *(f"{key}:{value}" for key, value in fields(snapshot))]
        blocks.append("".join(line + "\r\n" for line in lines))
    return "\r\n".join(blocks).encode()
