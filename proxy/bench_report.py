"""The benchmark's pure parts: reading redis-benchmark's CSV and /proc's CPU counters, the
key skew of the mixed workload, percentiles, and the tables the benchmark prints.

`leaderless bench` (bench.py) runs the processes and measures; everything here is arithmetic
and text, so it is tested without starting anything. A case is measured against one plain
redis-server ("direct") and against the proxy over N replicas, in the same run; the table
puts the two side by side with the ratio proxy/direct, the latencies, and the proxy's own
CPU time per operation (user + system, all of its processes, from /proc/<pid>/stat).
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Measurement:
    """One run of one case against one system."""

    ops: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_s: float | None = None
    """The proxy's CPU seconds over the run; None for the direct redis-server."""

    @property
    def rps(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_op(self) -> float | None:
        if self.cpu_s is None or not self.ops:
            return None
        return self.cpu_s * 1e6 / self.ops


@dataclass(frozen=True, slots=True)
class BenchmarkLine:
    """One test line of `redis-benchmark --csv`."""

    test: str
    rps: float
    p50_ms: float
    p99_ms: float


def parse_benchmark_csv(text: str) -> list[BenchmarkLine]:
    """The lines of redis-benchmark's CSV output (7.x: a header naming the columns, then
    one line per test); ValueError if a needed column is missing or the output has none."""
    rows = list(csv.DictReader(io.StringIO(text.strip())))
    if not rows:
        raise ValueError(f"no results in redis-benchmark output: {text[:200]!r}")
    try:
        return [
            BenchmarkLine(
                row["test"],
                float(row["rps"]),
                float(row["p50_latency_ms"]),
                float(row["p99_latency_ms"]),
            )
            for row in rows
        ]
    except (KeyError, TypeError) as missing:
        raise ValueError(f"redis-benchmark CSV lacks column {missing}: {text[:200]!r}") from None


def cpu_ticks(stat_line: str) -> int:
    """utime + stime from one /proc/<pid>/stat line, in clock ticks (the command name, in
    parentheses, may itself contain spaces and parentheses: fields are counted after the last
    ')')."""
    fields = stat_line.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def parent_pid(stat_line: str) -> int:
    return int(stat_line.rpartition(")")[2].split()[1])


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


class HotKeys:
    """Key choice with a hot set: `hot_share` of the operations go to the first `hot_fraction`
    of the keys, the rest spread over all of them (a cache's typical skew)."""

    def __init__(
        self, keys: int, rng: random.Random, hot_fraction: float = 0.01, hot_share: float = 0.9
    ) -> None:
        self.keys = keys
        self._hot = max(1, int(keys * hot_fraction))
        self._share = hot_share
        self._rng = rng

    def next(self) -> int:
        if self._rng.random() < self._share:
            return self._rng.randrange(self._hot)
        return self._rng.randrange(self.keys)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case measured against both systems (several runs each, interleaved)."""

    name: str
    direct: Measurement
    proxy: Measurement

    @property
    def ratio(self) -> float:
        return self.proxy.rps / self.direct.rps if self.direct.rps else 0.0


def median_run(runs: Sequence[Measurement]) -> Measurement:
    """The run with the median throughput (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda run: run.rps)
    return ordered[(len(ordered) - 1) // 2]


_HEADER = (
    "case",
    "direct ops/s",
    "proxy ops/s",
    "ratio",
    "p50 ms direct/proxy",
    "p99 ms direct/proxy",
    "proxy CPU us/op",
)


def render_table(results: Sequence[CaseResult]) -> str:
    """A Markdown table, one row per case."""
    rows = [_HEADER]
    for result in results:
        cpu = result.proxy.cpu_us_per_op
        rows.append(
            (
                result.name,
                f"{result.direct.rps:,.0f}",
                f"{result.proxy.rps:,.0f}",
                f"{result.ratio:.2f}",
                f"{result.direct.p50_ms:.3f} / {result.proxy.p50_ms:.3f}",
                f"{result.direct.p99_ms:.3f} / {result.proxy.p99_ms:.3f}",
                "-" if cpu is None else f"{cpu:.1f}",
            )
        )
    return _markdown(rows)


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """used_memory (INFO memory) around loading `keys` keys and deleting `deleted` of them, on
    one replica and on the plain redis-server, with the same keys and values."""

    keys: int
    value_bytes: int
    deleted: int
    direct_loaded: int
    """used_memory growth of the plain redis-server from loading the keys."""
    replica_loaded: int
    direct_after_delete: int
    """used_memory change of the plain redis-server from deleting `deleted` keys."""
    replica_after_delete: int

    @property
    def direct_per_key(self) -> float:
        return self.direct_loaded / self.keys

    @property
    def replica_per_key(self) -> float:
        return self.replica_loaded / self.keys

    @property
    def overhead_per_key(self) -> float:
        return self.replica_per_key - self.direct_per_key

    @property
    def tombstone_bytes(self) -> float:
        """What a deleted key still holds on a replica: its record shrinks to a tombstone and
        it joins the tombstone index, until the grace period lets the purge drop it."""
        return self.replica_per_key + self.replica_after_delete / self.deleted

    @property
    def direct_deleted_bytes(self) -> float:
        """What a deleted key still holds on plain Redis (about 0: the key is gone)."""
        return self.direct_per_key + self.direct_after_delete / self.deleted


def render_memory(result: MemoryResult) -> str:
    rows = [
        ("memory (INFO used_memory)", "plain redis", "one replica", "overhead"),
        (
            f"bytes per key ({result.keys:,} keys, {result.value_bytes}-byte values)",
            f"{result.direct_per_key:.1f}",
            f"{result.replica_per_key:.1f}",
            f"{result.overhead_per_key:+.1f}",
        ),
        (
            f"bytes per deleted key ({result.deleted:,} deleted)",
            f"{result.direct_deleted_bytes:.1f}",
            f"{result.tombstone_bytes:.1f}",
            f"{result.tombstone_bytes - result.direct_deleted_bytes:+.1f}",
        ),
    ]
    return _markdown(rows)


def _markdown(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            + " |"
        )

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])
