"""Django's own tests of its Redis cache backend (`cache.tests.RedisCacheTests`), from Django's
sdist, run with Django's `runtests.py` against each server.

Django's test settings find the backend to test in `CACHES`; a settings module written per run
takes Django's `test_sqlite` settings and adds a `RedisCache` whose LOCATION is the server.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clients.conftest import CLIENT_SOURCES, CLIENTS_PYTHON, RunSuite, require
from tests.clients.outcomes import Comparison, Outcomes

pytestmark = [pytest.mark.integration, pytest.mark.clients]

DJANGO_VERSION = "5.2.19"
TEST_CASE = "cache.tests.RedisCacheTests"
RUN_TIMEOUT_S = 300

_HEADER = re.compile(rf"^(test_\w+) \({re.escape(TEST_CASE)}\.\1\)")
_STATUS = re.compile(r" \.\.\. (ok|skipped|FAIL|ERROR|expected failure|unexpected success)")
_REPORTED = re.compile(rf"^(?:FAIL|ERROR): (test_\w+) \({re.escape(TEST_CASE)}\.\1\)", re.M)
_OUTCOME = {"ok": "passed", "skipped": "skipped", "expected failure": "passed"}


def unittest_outcomes(output: str) -> Outcomes:
    """Each test's outcome in a verbose (`-v 2`) unittest run's output: a test's status follows
    its header on the same line, or after its docstring's first line; a test with a failing
    subtest is also named in a FAIL or ERROR report."""
    outcomes: Outcomes = {}
    current = None
    for line in output.splitlines():
        header = _HEADER.match(line)
        if header:
            current = header.group(1)
            outcomes[current] = "failed"
        status = _STATUS.search(line)
        if current is not None and status:
            outcomes[current] = _OUTCOME.get(status.group(1), "failed")
            current = None
    for name in _REPORTED.findall(output):
        outcomes[name] = "failed"
    return outcomes


def django_run(tests_dir: Path, work: Path) -> RunSuite:
    def run(port: int) -> Outcomes:
        settings = work / f"redis_settings_{port}.py"
        settings.write_text(
            "from test_sqlite import *  # noqa: F403\n"
            "CACHES = {'default': {'BACKEND': 'django.core.cache.backends.redis.RedisCache',"
            f" 'LOCATION': 'redis://127.0.0.1:{port}'}}}}\n"
        )
        result = subprocess.run(
            [
                str(CLIENTS_PYTHON),
                "runtests.py",
                f"--settings={settings.stem}",
                "--parallel=1",
                "--verbosity=2",
                TEST_CASE,
            ],
            cwd=tests_dir,
            env={"PYTHONPATH": str(work), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        (work / f"django-{port}.log").write_text(result.stdout + result.stderr)
        return unittest_outcomes(result.stderr)

    return run


def test_django_redis_cache_tests_that_pass_on_the_reference_pass_through_the_proxy(
    compare_suite: Callable[[str, RunSuite], Comparison], tmp_path: Path
) -> None:
    tests_dir = require(CLIENT_SOURCES / f"django-{DJANGO_VERSION}" / "tests")
    require(CLIENTS_PYTHON)
    compare_suite("django-redis-cache", django_run(tests_dir, tmp_path))
