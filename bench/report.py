"""The benchmark's pure parts: reading redis-benchmark's CSV and /proc's CPU counters, the key
skew of the mixed workload, the send schedule of the fixed-load latency case, percentiles, and
the tables the benchmark prints.

`leaderless bench` (proxy.py) runs the processes and measures; everything here is arithmetic
and text, so it is tested without starting anything. A case is measured against one plain
redis-server ("direct") and against the proxy over N replicas, in the same run; the table
puts the two side by side with the ratio proxy/direct, the latencies, and the proxy's own
CPU time per operation (user + system, all of its processes, from /proc/<pid>/stat). The
latency case has its own table: at the same offered load, proxy and direct latencies are
comparable where throughput-bound runs are not.
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Measurement:
    """One run of one case against one system."""

    ops: int
    seconds: float
    p50_ms: float | None
    """None where the load generator does not report it (resp-benchmark)."""
    p99_ms: float
    cpu_s: float | None = None
    """The proxy's CPU seconds over the run; None for the direct redis-server."""
    p999_ms: float | None = None
    """Taken where every request's latency is known (not from redis-benchmark)."""

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


def latency_measurement(
    latencies_s: list[float], seconds: float, cpu_s: float | None = None
) -> Measurement:
    """A run's figures from each request's latency in seconds (sorted here, in place)."""
    latencies_s.sort()

    def ms(fraction: float) -> float:
        return percentile(latencies_s, fraction) * 1000

    return Measurement(len(latencies_s), seconds, ms(0.5), ms(0.99), cpu_s, ms(0.999))


@dataclass(frozen=True, slots=True)
class Pacing:
    """An open-loop schedule: operation `op` is due `op / rate` seconds after the start,
    whether or not earlier ones have been answered, and its latency counts from then. A
    closed loop (send, wait, send) lets a slow server slow the load and hides the queueing it
    caused ("coordinated omission"); this one does not, and it counts the load generator's own
    lateness against the server measured, as a real client would see it."""

    rate: float
    ops: int

    def due(self, op: int) -> float:
        return op / self.rate

    def due_by(self, elapsed: float) -> int:
        """How many operations are due `elapsed` seconds after the start."""
        count = min(self.ops, max(0, math.floor(elapsed * self.rate) + 1))
        # The product may round the other way than the quotient: due() decides.
        while count < self.ops and self.due(count) <= elapsed:
            count += 1
        while count > 0 and self.due(count - 1) > elapsed:
            count -= 1
        return count


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


def median_run(
    runs: Sequence[Measurement], by: Callable[[Measurement], float] = lambda run: run.rps
) -> Measurement:
    """The run with the median figure `by` (throughput unless told; the lower middle one for
    an even count): one whole run, so its figures belong together."""
    ordered = sorted(runs, key=by)
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
                _pair(result.direct.p50_ms, result.proxy.p50_ms, ".3f"),
                _pair(result.direct.p99_ms, result.proxy.p99_ms, ".3f"),
                "-" if cpu is None else f"{cpu:.1f}",
            )
        )
    return _markdown(rows)


@dataclass(frozen=True, slots=True)
class LatencyResult:
    """The latency case, measured against both systems at the same offered rate."""

    name: str
    rate: float
    direct: Measurement
    proxy: Measurement

    @property
    def p99_ratio(self) -> float:
        return self.proxy.p99_ms / self.direct.p99_ms if self.direct.p99_ms else 0.0


_LATENCY_HEADER = (
    "latency at a fixed load",
    "offered ops/s",
    "achieved ops/s direct/proxy",
    "p50 ms direct/proxy",
    "p99 ms direct/proxy",
    "p99.9 ms direct/proxy",
    "p99 proxy/direct",
    "proxy CPU us/op",
)


def render_latency(results: Sequence[LatencyResult]) -> str:
    """A Markdown table, one row per latency case."""
    rows = [_LATENCY_HEADER]
    for result in results:
        direct, proxy = result.direct, result.proxy
        cpu = proxy.cpu_us_per_op
        rows.append(
            (
                result.name,
                f"{result.rate:,.0f}",
                _pair(direct.rps, proxy.rps, ",.0f"),
                _pair(direct.p50_ms, proxy.p50_ms, ".3f"),
                _pair(direct.p99_ms, proxy.p99_ms, ".3f"),
                _pair(direct.p999_ms, proxy.p999_ms, ".3f"),
                f"{result.p99_ratio:.2f}",
                "-" if cpu is None else f"{cpu:.1f}",
            )
        )
    return _markdown(rows)


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """used_memory (INFO memory) around loading `keys` keys and deleting `deleted` of them, on
    one replica and on the plain redis-server, with the same keys and values. The figures hold
    for the allocators named (INFO mem_allocator) alone."""

    direct_allocator: str
    replica_allocator: str
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
        (
            "memory (INFO used_memory)",
            f"plain redis ({result.direct_allocator})",
            f"one replica ({result.replica_allocator})",
            "overhead",
        ),
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


def _pair(direct: float | None, proxy: float | None, form: str) -> str:
    """One cell for both systems: "direct / proxy"."""
    return " / ".join("-" if value is None else format(value, form) for value in (direct, proxy))


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
