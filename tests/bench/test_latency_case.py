"""The latency case end to end: a proxy over one redis-server and a direct one, paced for a
fraction of a second (no redis-benchmark needed)."""

from __future__ import annotations

import argparse

import pytest
from leaderless.bench import proxy as bench

pytestmark = pytest.mark.integration


def test_latency_part_prints_both_systems_at_the_offered_rate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(
        [
            *("--only", "latency", "--latency-rate", "1000", "--latency-seconds", "0.5"),
            *("--repeat", "1", "--nodes", "1"),
        ]
    )
    bench.run(args)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3].startswith("| latency at a fixed load ")
    cells = [cell.strip() for cell in lines[-1].strip("|").split("|")]
    assert cells[:2] == ["GET/SET 50/50, 100 B", "1,000"]
    achieved = [float(rate.replace(",", "")) for rate in cells[2].split(" / ")]
    assert all(900 < rate < 1100 for rate in achieved)
    assert cells[-1] != "-"  # the proxy's CPU time was read
