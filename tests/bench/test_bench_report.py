"""The benchmark's pure parts: redis-benchmark's CSV, /proc's CPU counters, the key skew,
percentiles and the tables. The benchmark itself is run by hand (`leaderless bench`)."""

from __future__ import annotations

import random

import pytest
from leaderless.proxy.bench_report import (
    CaseResult,
    HotKeys,
    Measurement,
    MemoryResult,
    cpu_ticks,
    median_run,
    parent_pid,
    parse_benchmark_csv,
    percentile,
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
    table = render_memory(result)
    assert "+20.0" in table
    assert "+100.0" in table
