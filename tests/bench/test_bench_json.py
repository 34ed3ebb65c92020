"""`leaderless bench --json` end to end, as a user runs it: a tiny SET/GET run with
resp-benchmark (installed with leaderless), its figures one JSON document on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

LEADERLESS = Path(sys.executable).with_name("leaderless")


def test_a_tiny_run_prints_one_json_document_with_every_case() -> None:
    done = subprocess.run(
        [
            str(LEADERLESS),
            "bench",
            *("--only", "redis-benchmark", "--requests", "2000", "--repeat", "1"),
            *("--load-generator", "resp-benchmark", "--nodes", "1", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)  # the whole of stdout: the tables went to stderr
    assert "| SET plain " in done.stderr
    assert figures["run"]["load_generator"] == "resp-benchmark"
    assert figures["run"]["requests"] == 2000
    cases = figures["cases"]
    assert [case["name"] for case in cases] == ["SET plain", "GET plain", "SET -P 16", "GET -P 16"]
    for case in cases:
        for system in ("direct", "proxy"):
            assert case[system]["ops"] == 2000 and case[system]["ops_per_s"] > 0
        assert case["proxy"]["cpu_us_per_op"] > 0  # read from /proc
        assert case["direct"]["cpu_us_per_op"] is None
        assert case["ratio"] == pytest.approx(
            case["proxy"]["ops_per_s"] / case["direct"]["ops_per_s"], rel=1e-3
        )
    assert figures["latency"] == [] and figures["memory"] is None
