"""`bench/anti_entropy.py` end to end on a few keys: it calls the replicas' scripts directly, so
it must keep up with their arguments, and every round it runs must converge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "anti_entropy.py"


def test_the_anti_entropy_benchmark_runs_every_round_to_convergence() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--keys", "2000", "--script-calls", "200", "--limits", "off", "--no-foreground"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    scripts = [line["script"] for line in lines if "script" in line]
    assert scripts == ["WRITE_IF_NEWER now"]
    rounds = {line["round"]: line for line in lines if "round" in line}
    assert set(rounds) == {
        "no difference",
        "0.1 % different",
        "10 % different",
        "no difference, after repairs",
        "replica 2 emptied",
    }
    assert all(line["converged"] for line in rounds.values())
    assert rounds["replica 2 emptied"]["keys_repaired"] == 2000
