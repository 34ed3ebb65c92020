"""The `--json` document: the tables' figures as numbers, and the run they were taken on."""

from __future__ import annotations

import json

from leaderless.bench.document import SCHEMA, RunInfo, document, measurement
from leaderless.bench.report import CaseResult, LatencyResult, Measurement, MemoryResult

INFO = RunInfo(
    cpus=2,
    python="3.11.7",
    server="valkey-server 8.1.8 (libc)",
    nodes=3,
    copies=3,
    w=2,
    r=2,
    workers=1,
    repeat=3,
    load_generators=("resp-benchmark",),
    requests=20000,
    clients=50,
    pipeline=16,
)
DIRECT = Measurement(20000, 0.5, None, 2.5)
PROXY = Measurement(20000, 2.0, None, 9.0, cpu_s=1.0)


def test_a_measurement_gives_throughput_cpu_per_op_and_null_for_what_was_not_taken() -> None:
    assert measurement(PROXY) == {
        "ops": 20000,
        "seconds": 2.0,
        "ops_per_s": 10000.0,
        "p50_ms": None,
        "p99_ms": 9.0,
        "p999_ms": None,
        "cpu_us_per_op": 50.0,
    }
    assert measurement(DIRECT)["cpu_us_per_op"] is None


def test_the_document_holds_the_run_the_cases_and_their_ratios() -> None:
    figures = document(INFO, [CaseResult("SET plain", DIRECT, PROXY)], [], None)
    assert figures["schema"] == SCHEMA
    assert figures["run"] == {
        "cpus": 2,
        "python": "3.11.7",
        "server": "valkey-server 8.1.8 (libc)",
        "nodes": 3,
        "copies": 3,
        "w": 2,
        "r": 2,
        "workers": 1,
        "repeat": 3,
        "load_generators": ["resp-benchmark"],
        "requests": 20000,
        "clients": 50,
        "pipeline": 16,
    }
    (case,) = figures["cases"]  # type: ignore[misc]
    assert case["name"] == "SET plain" and case["ratio"] == 0.25
    assert figures["latency"] == [] and figures["memory"] is None


def test_latency_and_memory_parts_when_measured_and_all_of_it_is_json() -> None:
    direct = Measurement(5000, 1.0, 0.1, 0.2, p999_ms=0.3)
    proxy = Measurement(5000, 1.0, 0.2, 0.5, cpu_s=0.25, p999_ms=0.9)
    memory = MemoryResult("libc", "libc", 1000, 100, 100, 100_000, 150_000, -9_000, 2_000)
    figures = document(INFO, [], [LatencyResult("GET/SET", 5000, direct, proxy)], memory)
    (latency,) = figures["latency"]  # type: ignore[misc]
    assert latency["p99_ratio"] == 2.5 and latency["proxy"]["cpu_us_per_op"] == 50.0
    assert figures["memory"] == {
        "keys": 1000,
        "value_bytes": 100,
        "deleted": 100,
        "direct_allocator": "libc",
        "replica_allocator": "libc",
        "direct_bytes_per_key": 100.0,
        "replica_bytes_per_key": 150.0,
        "overhead_bytes_per_key": 50.0,
        "direct_bytes_per_deleted_key": 10.0,
        "replica_bytes_per_deleted_key": 170.0,
    }
    assert json.loads(json.dumps(figures)) == figures
