"""The Prometheus endpoint: a proxy's (or a sidecar's) counters as metrics, at /metrics.

How it works: nothing here runs per request. The proxy already counts everything INFO shows in
plain integers (`ProxyState`, the coordinator's `ReplicationStats`, the hint ledger, each
command's `CommandStats` with its duration buckets), and the collectors below read those
integers when Prometheus scrapes, building the metric families afresh each time. So serving
metrics costs the hot path nothing beyond what INFO already costs it.

prometheus-client's HTTP server answers scrapes from a thread of its own; a collector there
only reads integers and copies the few dicts and lists it walks (one C-level copy each, which
the event loop's thread cannot interleave with), so it needs no lock. A counter that CONFIG
RESETSTAT sets back to zero looks to Prometheus like a restart of the process, which its
`rate()` handles.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from leaderless.config.settings import format_endpoint, parse_endpoint
from leaderless.proxy.state import DURATION_BOUNDS_USEC, ProxyState
from leaderless.replication.anti_entropy import SidecarTotals
from leaderless.replication.membership import Health
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

REPLICA_STATES = ("up", "suspect", "down", "connecting")
HEALTHS = tuple(health.value for health in Health)
_BUCKET_BOUNDS = (*(f"{bound / 1e6:g}" for bound in DURATION_BOUNDS_USEC), "+Inf")


class ProxyCollector(Collector):
    """One proxy process's figures, read from its state at each scrape."""

    def __init__(self, state: ProxyState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        yield from _command_families(self._state)
        yield from _replication_families(self._state)
        yield from _replica_families(self._state)
        yield from _clock_families(self._state)
        connections = GaugeMetricFamily(
            "leaderless_client_connections", "Client connections open now."
        )
        connections.add_metric([], len(self._state.clients))
        yield connections


def _command_families(state: ProxyState) -> Iterator[Metric]:
    commands = CounterMetricFamily(
        "leaderless_commands",
        "Requests per command and outcome: ok, error (answered with an error) or rejected "
        "(refused before running: arity, authentication, a reserved key, the clock).",
        labels=["command", "outcome"],
    )
    durations = HistogramMetricFamily(
        "leaderless_command_duration_seconds",
        "Time from a request to its reply, the replicas' round trips included.",
        labels=["command"],
    )
    for name, stats in sorted(list(state.command_stats.items())):
        calls, failed, rejected = stats.calls, stats.failed, stats.rejected
        commands.add_metric([name, "ok"], calls - failed)
        commands.add_metric([name, "error"], failed)
        commands.add_metric([name, "rejected"], rejected)
        if calls:
            cumulative, buckets = 0, []
            for bound, count in zip(_BUCKET_BOUNDS, list(stats.buckets), strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            durations.add_metric([name], buckets, stats.observed_usec / 1e6)
    yield commands
    yield durations


def _replication_families(state: ProxyState) -> Iterator[Metric]:
    coordinator = state.coordinator
    stats = coordinator.stats
    failures = CounterMetricFamily(
        "leaderless_quorum_failures",
        "Requests answered NOQUORUM: too few replicas answered in time (a read whose repair "
        "went unacknowledged counts as a read).",
        labels=["kind"],
    )
    failures.add_metric(["read"], stats.read_quorum_failures)
    failures.add_metric(["write"], stats.write_quorum_failures)
    yield failures
    repairs = CounterMetricFamily(
        "leaderless_read_repairs",
        "Stale replicas repaired by reads: blocking (the read waited for the repair) or "
        "background (found after the read answered).",
        labels=["mode"],
    )
    repairs.add_metric(["blocking"], stats.read_repairs)
    repairs.add_metric(["background"], stats.background_repairs)
    yield repairs
    yield CounterMetricFamily(
        "leaderless_restamped_writes",
        "Writes stamped again because a replica held a newer timestamp for the key.",
        value=stats.restamped_writes,
    )
    hints = coordinator.handoff
    pending = GaugeMetricFamily(
        "leaderless_hints_pending",
        "Writes kept for a replica that missed them, not yet replayed.",
        labels=["replica"],
    )
    for backend in coordinator.backends:
        pending.add_metric([backend.name], hints.pending(backend.name))
    yield pending
    totals = hints.ledger.stats
    yield CounterMetricFamily(
        "leaderless_hints_stored", "Hints kept for replicas that missed a write.", totals.stored
    )
    yield CounterMetricFamily(
        "leaderless_hints_replayed", "Hints replayed to their replica.", totals.replayed
    )
    yield CounterMetricFamily(
        "leaderless_hints_dropped",
        "Hints not kept (past the hint window or the size limit): left to anti-entropy.",
        totals.dropped,
    )


def _replica_families(state: ProxyState) -> Iterator[Metric]:
    coordinator = state.coordinator
    up = GaugeMetricFamily(
        "leaderless_replica_up", "1 if the replica answers, else 0.", labels=["replica"]
    )
    replica_state = GaugeMetricFamily(
        "leaderless_replica_state",
        "1 for the replica's connection state (up, suspect: connected but not answering, down, "
        "connecting), 0 for the others.",
        labels=["replica", "state"],
    )
    health = GaugeMetricFamily(
        "leaderless_replica_health",
        "1 for the replica's health, 0 for the others: in_sync, recovering (emptied, left out "
        "of reads until refilled) or checking.",
        labels=["replica", "health"],
    )
    for backend in coordinator.backends:
        status, judged = backend.status, coordinator.health(backend.index).value
        up.add_metric([backend.name], int(status == "up"))
        for name in REPLICA_STATES:
            replica_state.add_metric([backend.name, name], int(status == name))
        for name in HEALTHS:
            health.add_metric([backend.name, name], int(judged == name))
    yield up
    yield replica_state
    yield health


def _clock_families(state: ProxyState) -> Iterator[Metric]:
    check = state.clock_check
    offset = GaugeMetricFamily(
        "leaderless_clock_offset_seconds",
        "NTP time minus this proxy's clock, as last measured (no sample until measured).",
    )
    if check.offset_ms is not None:
        offset.add_metric([], check.offset_ms / 1000)
    yield offset
    yield GaugeMetricFamily(
        "leaderless_clock_in_bounds",
        "1 while the clock's offset is within replication.max_clock_offset_ms.",
        int(check.in_bounds),
    )
    yield CounterMetricFamily(
        "leaderless_clock_writes_refused",
        "Writes refused because the clock was out of bounds.",
        state.clock_refused_writes,
    )


class SidecarCollector(Collector):
    """One anti-entropy sidecar's rounds since it started."""

    def __init__(self, totals: SidecarTotals) -> None:
        self._totals = totals

    def collect(self) -> Iterator[Metric]:
        totals = self._totals
        yield CounterMetricFamily(
            "leaderless_anti_entropy_rounds", "Rounds this sidecar finished.", totals.rounds
        )
        yield CounterMetricFamily(
            "leaderless_anti_entropy_rounds_failed",
            "Rounds that stopped on a replica's failure.",
            totals.rounds_failed,
        )
        yield CounterMetricFamily(
            "leaderless_anti_entropy_keys_repaired",
            "Keys this sidecar copied to replicas that lacked their newest version.",
            totals.keys_repaired,
        )
        last = GaugeMetricFamily(
            "leaderless_anti_entropy_last_round_seconds",
            "How long the last finished round took (no sample before one).",
        )
        converged = GaugeMetricFamily(
            "leaderless_anti_entropy_last_round_converged",
            "1 if every replica answered the last finished round and all agreed.",
        )
        if totals.last_round_s is not None:
            last.add_metric([], totals.last_round_s)
            converged.add_metric([], int(totals.last_round_converged))
        yield last
        yield converged


@dataclass
class MetricsEndpoint:
    """A running /metrics server; `close()` stops it."""

    server: WSGIServer

    @property
    def port(self) -> int:
        return self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_endpoint(address: str, collector: Collector) -> MetricsEndpoint:
    """Serve `collector`'s families, with the process's CPU and memory, at http://address/metrics.
    Raises OSError if the address cannot be bound."""
    host, port = parse_endpoint(address)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    server, _ = start_http_server(port, host, registry)
    return MetricsEndpoint(server)


def endpoint_url(host: str, port: int) -> str:
    return f"http://{format_endpoint(host, port)}/metrics"


def offset_port(address: str, offset: int) -> str:
    """`address` with its port moved up by `offset` (port 0 stays 0: each picks a free one)."""
    host, port = parse_endpoint(address)
    return format_endpoint(host, port + offset if port else 0)
