"""redis-py's own tests of pipelines (with and without MULTI/EXEC), `Lock` and `scan_iter`,
sync and asyncio, in RESP2 and RESP3, from the sdist `make dev` unpacks (as
tests/integration/test_redis_py_suite.py runs its command tests), with pytest-asyncio from the
client suites' virtualenv.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clients.conftest import CLIENTS_PYTHON, RunSuite, require
from tests.clients.outcomes import Comparison, Outcomes, junit_outcomes
from tests.integration.test_redis_py_suite import SUITE

pytestmark = [pytest.mark.integration, pytest.mark.clients]

TESTS = [
    "tests/test_pipeline.py",
    "tests/test_lock.py",
    "tests/test_commands.py::TestRedisCommands::test_scan_iter",
    "tests/test_asyncio/test_pipeline.py",
    "tests/test_asyncio/test_lock.py",
    "tests/test_asyncio/test_commands.py::TestRedisCommands::test_scan_iter",
]
RUN_TIMEOUT_S = 300


def redis_py_run(protocol: int, work: Path) -> RunSuite:
    def run(port: int) -> Outcomes:
        report = work / f"redis-py-{port}.xml"
        result = subprocess.run(
            [
                str(CLIENTS_PYTHON),
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--tb=line",  # longer tracebacks take most of a run's time through the proxy
                f"--redis-url=redis://127.0.0.1:{port}/0",
                f"--protocol={protocol}",
                f"--junitxml={report}",
                *TESTS,
            ],
            cwd=SUITE,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        return junit_outcomes(report, result.stdout + result.stderr)

    return run


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_pipeline_lock_and_scan_tests_that_pass_on_the_reference_pass_through_the_proxy(
    compare_suite: Callable[[str, RunSuite], Comparison], tmp_path: Path, protocol: int
) -> None:
    require(SUITE / "tests")
    require(CLIENTS_PYTHON)
    compare_suite(f"redis-py-resp{protocol}", redis_py_run(protocol, tmp_path))
