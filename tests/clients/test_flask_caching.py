"""Flask-Caching's own Redis tests, from its sdist, run with pytest against each server.

Its tests reach Redis on port 6360 (a `redis_server` fixture starts a redis-server there
through pytest-xprocess unless one already listens). Each run takes a copy of the tests with
that port replaced by the server's, so the fixture finds it listening and starts nothing.
The Redis tests are those whose names say redis (`-k redis`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clients.conftest import CLIENT_SOURCES, CLIENTS_PYTHON, RunSuite, require
from tests.clients.outcomes import Comparison, Outcomes, junit_outcomes

pytestmark = [pytest.mark.integration, pytest.mark.clients]

FLASK_CACHING_VERSION = "2.5.1"
ITS_PORT = "6360"
RUN_TIMEOUT_S = 300


def flask_caching_run(sdist: Path, work: Path) -> RunSuite:
    def run(port: int) -> Outcomes:
        copy = work / f"flask-caching-{port}"
        shutil.copytree(sdist / "tests", copy / "tests")
        shutil.copy(sdist / "pyproject.toml", copy)  # its pytest settings
        for test_file in (copy / "tests").glob("*.py"):
            test_file.write_text(test_file.read_text().replace(ITS_PORT, str(port)))
        report = work / f"flask-caching-{port}.xml"
        result = subprocess.run(
            [
                str(CLIENTS_PYTHON),
                "-m",
                "pytest",
                "-q",
                "--tb=short",
                "-o",
                f"cache_dir={copy / '.cache'}",
                "-o",
                "asyncio_default_fixture_loop_scope=function",
                "-k",
                "redis",
                f"--junitxml={report}",
                "tests",
            ],
            cwd=copy,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
            text=True,
            check=False,
        )
        return junit_outcomes(report, result.stdout + result.stderr)

    return run


def test_flask_caching_redis_tests_that_pass_on_the_reference_pass_through_the_proxy(
    compare_suite: Callable[[str, RunSuite], Comparison], tmp_path: Path
) -> None:
    sdist = require(CLIENT_SOURCES / f"flask_caching-{FLASK_CACHING_VERSION}")
    require(CLIENTS_PYTHON)
    compare_suite("flask-caching-redis", flask_caching_run(sdist, tmp_path))
