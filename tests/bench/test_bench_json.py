"""`leaderless bench --json` end to end, as a user runs it: a tiny SET/GET run with
resp-benchmark (installed with leaderless), its figures one JSON document on stdout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LEADERLESS = Path(sys.executable).with_name("leaderless")


CASES = ["SET plain", "GET plain", "SET -P 16", "GET -P 16"]


def _bench_json(*generators: str) -> tuple[dict[str, object], str]:
    """The JSON document of a tiny SET/GET run, and stderr."""
    chosen = [arg for generator in generators for arg in ("--load-generator", generator)]
    done = subprocess.run(
        [
            str(LEADERLESS),
            "bench",
            *("--only", "redis-benchmark", "--requests", "2000", "--repeat", "1"),
            *chosen,
            *("--nodes", "1", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr  # the whole of stdout: tables went to stderr


def test_a_tiny_run_prints_one_json_document_with_every_case() -> None:
    figures, stderr = _bench_json("resp-benchmark")
    assert "| SET plain " in stderr
    assert figures["run"]["load_generators"] == ["resp-benchmark"]
    assert figures["run"]["requests"] == 2000
    cases = figures["cases"]
    assert [case["name"] for case in cases] == CASES
    for case in cases:
        for system in ("direct", "proxy"):
            assert case[system]["ops"] == 2000 and case[system]["ops_per_s"] > 0
        assert case["proxy"]["cpu_us_per_op"] > 0  # read from /proc
        assert case["direct"]["cpu_us_per_op"] is None
        assert case["ratio"] == pytest.approx(
            case["proxy"]["ops_per_s"] / case["direct"]["ops_per_s"], rel=1e-3
        )
    assert figures["latency"] == [] and figures["memory"] is None


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark not on PATH")
def test_given_both_generators_each_case_is_measured_with_each() -> None:
    generators = ("resp-benchmark", "redis-benchmark")
    figures, _ = _bench_json(*generators)
    assert figures["run"]["load_generators"] == list(generators)
    names = [case["name"] for case in figures["cases"]]
    assert names == [f"{case} ({generator})" for case in CASES for generator in generators]
    by_name = {case["name"]: case for case in figures["cases"]}
    assert by_name["SET plain (resp-benchmark)"]["proxy"]["p50_ms"] is None
    assert by_name["SET plain (redis-benchmark)"]["proxy"]["p50_ms"] > 0
