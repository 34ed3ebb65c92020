"""The load generators of the SET and GET cases: resp-benchmark (a PyPI package, so `pip install
leaderless` brings it) or redis-benchmark (from the system's Redis tools, where installed).

Both run the same load: C connections, N requests of one command on keys drawn from 100,000
(`-r 100000`; `{key uniform 100000}`), values of 3 bytes (redis-benchmark's default), pipelined
P deep. Their figures differ in kind, not only in source: redis-benchmark reports the p50 and
p99 latencies itself and its own throughput; resp-benchmark reports a p99 from a coarser
histogram and no p50, and its own throughput, except for runs too short for it (under about
half a second), where it reports 0. Those are timed here from the call's start to its end,
which includes starting its threads and connections, 0.03 to 0.15 s measured: enough to
understate a short fast run several times over, so give them more requests. Each runs one
system flat out, so the ratio proxy/direct is what compares; `--load-generator` picks one, and
a missing one gives way to the other with a line saying so.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from leaderless.bench.report import Measurement, parse_benchmark_csv

Name = Literal["resp-benchmark", "redis-benchmark"]
NAMES: tuple[Name, ...] = ("resp-benchmark", "redis-benchmark")
DEFAULT: Name = "resp-benchmark"
KEY_RANGE = 100_000
VALUE_BYTES = 3

REDIS_BENCHMARK_HINT = (
    "redis-benchmark is not on PATH (Debian/Ubuntu: `apt-get install redis-tools`, Fedora: "
    "`dnf install redis`, macOS: `brew install redis`)"
)
RESP_BENCHMARK_HINT = "resp-benchmark is not installed (`pip install resp-benchmark`)"


class LoadGeneratorMissing(Exception):
    """Neither load generator is available; the message says how to install them."""


@dataclass(frozen=True, slots=True)
class Load:
    """One run's shape: `test` is "set" or "get"."""

    test: str
    clients: int
    requests: int
    pipeline: int


Runner = Callable[[int, Load], Measurement]
"""Runs one load against the server on 127.0.0.1:port; raises RuntimeError if it fails."""


@dataclass(frozen=True, slots=True)
class LoadGenerator:
    name: Name
    run: Runner


def installed() -> dict[Name, Runner | None]:
    """Each load generator's runner, None for one not installed here."""
    return {name: _find(name) for name in NAMES}


def choose(
    wanted: Name, available: Mapping[Name, Runner | None], note: Callable[[str], None]
) -> LoadGenerator:
    """`wanted` if it is available, else the other one, after telling `note` why."""
    runner = available[wanted]
    if runner is not None:
        return LoadGenerator(wanted, runner)
    other: Name = next(name for name in NAMES if name != wanted)
    fallback = available[other]
    if fallback is None:
        hints = f"{RESP_BENCHMARK_HINT}; {REDIS_BENCHMARK_HINT}"
        raise LoadGeneratorMissing(f"no load generator: {hints}")
    note(f"{_HINTS[wanted]}: using {other} instead")
    return LoadGenerator(other, fallback)


def _find(name: Name) -> Runner | None:
    if name == "resp-benchmark":
        return _resp_benchmark if importlib.util.find_spec("resp_benchmark") else None
    path = shutil.which("redis-benchmark")
    return None if path is None else _redis_benchmark(path)


_HINTS: dict[Name, str] = {
    "resp-benchmark": RESP_BENCHMARK_HINT,
    "redis-benchmark": REDIS_BENCHMARK_HINT,
}


def resp_benchmark_command(test: str) -> str:
    """resp-benchmark's command template for the test, keys and values as redis-benchmark's."""
    key = f"{{key uniform {KEY_RANGE}}}"
    return f"SET {key} {{value {VALUE_BYTES}}}" if test == "set" else f"GET {key}"


def _resp_benchmark(port: int, load: Load) -> Measurement:
    from resp_benchmark import Benchmark

    benchmark = Benchmark(host="127.0.0.1", port=port)
    start = time.perf_counter()
    result = benchmark.bench(
        resp_benchmark_command(load.test),
        connections=load.clients,
        pipeline=load.pipeline,
        count=load.requests,
        quiet=True,
    )
    seconds = load.requests / result.qps if result.qps > 0 else time.perf_counter() - start
    return Measurement(load.requests, seconds, None, result.p99_latency_ms)


def _redis_benchmark(path: str) -> Runner:
    def run(port: int, load: Load) -> Measurement:
        command = [path, "-h", "127.0.0.1", "-p", str(port), "-c", str(load.clients)]
        command += ["-n", str(load.requests), "-r", str(KEY_RANGE), "-d", str(VALUE_BYTES)]
        command += ["-t", load.test, "-P", str(load.pipeline), "--csv"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}")
        (line,) = parse_benchmark_csv(done.stdout)
        return Measurement(load.requests, load.requests / line.rps, line.p50_ms, line.p99_ms)

    return run
