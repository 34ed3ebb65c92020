"""`bench/keyspace_scan.py` end to end on a few keys: the proxy's iteration must list every
key it loaded, and each figure it prints must be there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "keyspace_scan.py"


def test_the_keyspace_scan_benchmark_lists_every_key_it_loaded() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--keys", "3000", "--count", "500", "--loaders", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines[0]["load"]["keys"] == 3000
    scan = lines[1]["scan"]
    assert scan["count"] == 500
    assert scan["proxy"]["distinct"] == 3000
    assert scan["proxy"]["returned"] >= 3000
    assert scan["replica"]["distinct"] > 3000  # the records and the internal keys
    assert lines[2]["keys"]["proxy"]["returned"] == 3000
