"""The benchmark's pure parts: redis-benchmark's CSV, /proc's CPU counters, the key skew, the
latency case's send schedule, percentiles and the tables. The benchmark itself is run by hand
(`leaderless bench`)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from leaderless.bench.report import (
    CaseResult,
    HotKeys,
    LatencyResult,
    Measurement,
    MemoryResult,
    Pacing,
    cpu_ticks,
    latency_measurement,
    median_run,
    parent_pid,
    parse_benchmark_csv,
    percentile,
    render_latency,
    render_memory,
    render_table,
)

# As redis-benchmark 7.0 prints it with --csv.
CSV = (
    '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
    '"p99_latency_ms","max_latency_ms"\n'
    '"SET","112359.55","0.236","0.072","0.223","0.367","0.615","1.071"\n'
    '"GET","111731.84","0.238","0.056","0.223","0.287","0.607","2.807"\n'
)


def test_parses_each_test_line_of_redis_benchmark_csv() -> None:
    lines = parse_benchmark_csv(CSV)
    assert [(line.test, line.rps, line.p50_ms, line.p99_ms) for line in lines] == [
        ("SET", 112359.55, 0.223, 0.615),
        ("GET", 111731.84, 0.223, 0.607),
    ]


@pytest.mark.parametrize("text", ["", '"test","rps"\n', '"test","rps"\n"SET","1.0"\n'])
def test_output_without_results_or_columns_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_benchmark_csv(text)


def test_cpu_ticks_counts_fields_after_the_command_name() -> None:
    # The name may hold spaces and parentheses; utime and stime are fields 14 and 15.
    line = "4242 (a (b) c) S 17 " + " ".join(str(n) for n in range(5, 14)) + " 300 45 1 2"
    assert cpu_ticks(line) == 345
    assert parent_pid(line) == 17


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) == 0.0
    assert percentile([7.0], 0.99) == 7.0


def test_hot_keys_send_most_operations_to_the_hot_set() -> None:
    keys = HotKeys(10_000, random.Random(1), hot_fraction=0.01, hot_share=0.9)
    picks = [keys.next() for _ in range(10_000)]
    assert all(0 <= pick < 10_000 for pick in picks)
    hot = sum(1 for pick in picks if pick < 100)
    assert 8_500 < hot < 9_500


def test_median_run_and_derived_figures() -> None:
    runs = [Measurement(1000, seconds, 0.1, 0.2, 0.01) for seconds in (1.0, 0.5, 2.0)]
    median = median_run(runs)
    assert median.seconds == 1.0
    assert median.rps == 1000.0
    assert median.cpu_us_per_op == pytest.approx(10.0)
    assert Measurement(10, 1.0, 0.1, 0.2).cpu_us_per_op is None


def test_table_has_one_row_per_case_with_ratio_and_cpu() -> None:
    result = CaseResult(
        "SET plain",
        Measurement(100_000, 1.0, 0.2, 0.5),
        Measurement(100_000, 2.0, 0.4, 0.9, cpu_s=1.2),
    )
    assert result.ratio == 0.5
    lines = render_table([result]).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("| case ")
    assert lines[1].startswith("|---")
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert cells == ["SET plain", "100,000", "50,000", "0.50", "0.200 / 0.400", "0.500 / 0.900",
                     "12.0"]  # fmt: skip
    assert len({len(line) for line in lines}) == 1


def test_memory_figures_per_key_and_per_tombstone() -> None:
    result = MemoryResult(
        direct_allocator="jemalloc-5.3.0",
        replica_allocator="libc",
        keys=1000,
        value_bytes=100,
        deleted=100,
        direct_loaded=180_000,
        replica_loaded=200_000,
        direct_after_delete=-18_000,
        replica_after_delete=-10_000,
    )
    assert result.overhead_per_key == 20.0
    assert result.direct_deleted_bytes == 0.0
    assert result.tombstone_bytes == 100.0
    lines = render_memory(result).splitlines()
    assert len({len(line) for line in lines}) == 1
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    # The figures depend on the allocator: each column names the one it was measured with.
    assert header[1:3] == ["plain redis (jemalloc-5.3.0)", "one replica (libc)"]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[1:] for row in rows] == [["180.0", "200.0", "+20.0"], ["0.0", "100.0", "+100.0"]]


def test_pacing_spreads_operations_evenly_from_the_start() -> None:
    pacing = Pacing(rate=4000, ops=10)
    assert [pacing.due(op) for op in range(3)] == [0.0, 0.00025, 0.0005]
    assert pacing.due_by(-0.001) == 0
    assert pacing.due_by(0.0) == 1
    assert pacing.due_by(0.0006) == 3
    assert pacing.due_by(60.0) == 10


@given(
    rate=st.integers(min_value=1, max_value=200_000),
    ops=st.integers(min_value=1, max_value=10_000),
    op=st.integers(min_value=0, max_value=9_999),
)
def test_pacing_due_by_agrees_with_due(rate: int, ops: int, op: int) -> None:
    # The sender sends every operation counted by due_by and sets its timer by due(): the two
    # must agree exactly, or an operation is sent early, late or never.
    pacing = Pacing(rate, ops)
    op = min(op, ops - 1)
    at = pacing.due(op)
    assert pacing.due_by(at) == op + 1
    assert pacing.due_by(math.nextafter(at, -math.inf)) == op


def test_latency_measurement_reports_milliseconds_and_the_tail() -> None:
    latencies = [n / 1e6 for n in range(2000, 0, -1)]  # 1 us .. 2 ms, unsorted
    run = latency_measurement(latencies, 0.4, cpu_s=0.1)
    assert (run.ops, run.rps, run.cpu_us_per_op) == (2000, 5000.0, 50.0)
    assert run.p50_ms == pytest.approx(1.0)
    assert run.p99_ms == pytest.approx(1.98)
    assert run.p999_ms == pytest.approx(1.998)
    assert latency_measurement([0.001], 1.0).cpu_s is None


def test_median_run_by_another_figure() -> None:
    runs = [Measurement(1000, 1.0 + p99, 0.1, p99) for p99 in (0.9, 0.3, 0.5)]
    assert median_run(runs, by=lambda run: run.p99_ms).p99_ms == 0.5
    assert median_run(runs[:2], by=lambda run: run.p99_ms).p99_ms == 0.3


def test_latency_table_compares_the_tails_at_the_same_rate() -> None:
    result = LatencyResult(
        "GET/SET 50/50, 100 B",
        5000,
        Measurement(50_000, 10.0, 0.1, 0.4, p999_ms=1.0),
        Measurement(50_000, 10.002, 0.5, 1.0, cpu_s=2.5, p999_ms=3.0),
    )
    assert result.p99_ratio == 2.5
    lines = render_latency([result]).splitlines()
    assert len(lines) == 3
    assert len({len(line) for line in lines}) == 1
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert cells == ["GET/SET 50/50, 100 B", "5,000", "5,000 / 4,999", "0.100 / 0.500",
                     "0.400 / 1.000", "1.000 / 3.000", "2.50", "50.0"]  # fmt: skip
