"""`leaderless bench --json`: the run's figures as one JSON document, for tracking over time.

The document holds what the tables show, as numbers rather than text, and what is needed to
compare two runs fairly: the machine's CPUs, the Python and server build, the proxy's shape
(nodes, W, R, workers), the load generator and the load. Figures a run did not take (the
parts left out with `--only`, resp-benchmark's p50) are null or absent, never invented.
Building it is pure: the shell prints `json.dumps(document)` on stdout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leaderless.bench.report import CaseResult, LatencyResult, Measurement, MemoryResult

SCHEMA = 1
"""Bumped when a field changes meaning or goes, so that tracking tools can tell."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the run measured on, and with which load."""

    cpus: int | None
    python: str
    server: str
    nodes: int
    copies: int
    w: int
    r: int
    workers: int
    repeat: int
    load_generators: tuple[str, ...]
    """Those that sent the SET and GET cases (none if they were not run); given several, each
    case's name ends with the generator's in brackets."""
    requests: int
    clients: int
    pipeline: int


def measurement(run: Measurement) -> dict[str, float | int | None]:
    return {
        "ops": run.ops,
        "seconds": round(run.seconds, 6),
        "ops_per_s": round(run.rps, 1),
        "p50_ms": run.p50_ms,
        "p99_ms": run.p99_ms,
        "p999_ms": run.p999_ms,
        "cpu_us_per_op": None if run.cpu_us_per_op is None else round(run.cpu_us_per_op, 2),
    }


def document(
    info: RunInfo,
    cases: Sequence[CaseResult],
    latency: Sequence[LatencyResult],
    memory: MemoryResult | None,
) -> dict[str, object]:
    """The whole run; `cases` are the closed-loop cases (SET/GET and mixed)."""
    return {
        "schema": SCHEMA,
        "run": {
            "cpus": info.cpus,
            "python": info.python,
            "server": info.server,
            "nodes": info.nodes,
            "copies": info.copies,
            "w": info.w,
            "r": info.r,
            "workers": info.workers,
            "repeat": info.repeat,
            "load_generators": list(info.load_generators),
            "requests": info.requests,
            "clients": info.clients,
            "pipeline": info.pipeline,
        },
        "cases": [
            {
                "name": case.name,
                "direct": measurement(case.direct),
                "proxy": measurement(case.proxy),
                "ratio": round(case.ratio, 4),
            }
            for case in cases
        ],
        "latency": [
            {
                "name": result.name,
                "offered_ops_per_s": result.rate,
                "direct": measurement(result.direct),
                "proxy": measurement(result.proxy),
                "p99_ratio": round(result.p99_ratio, 4),
            }
            for result in latency
        ],
        "memory": None if memory is None else _memory(memory),
    }


def _memory(result: MemoryResult) -> dict[str, object]:
    return {
        "keys": result.keys,
        "value_bytes": result.value_bytes,
        "deleted": result.deleted,
        "direct_allocator": result.direct_allocator,
        "replica_allocator": result.replica_allocator,
        "direct_bytes_per_key": round(result.direct_per_key, 1),
        "replica_bytes_per_key": round(result.replica_per_key, 1),
        "overhead_bytes_per_key": round(result.overhead_per_key, 1),
        "direct_bytes_per_deleted_key": round(result.direct_deleted_bytes, 1),
        "replica_bytes_per_deleted_key": round(result.tombstone_bytes, 1),
    }
