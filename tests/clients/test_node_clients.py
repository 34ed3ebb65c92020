"""Node.js clients (ioredis, node-redis in RESP2 and RESP3) and an Express session store
(connect-redis with express-session), installed by `npm ci` from tests/clients/node, run with
Node's own test runner: one usage script per client (get/set/expire/incr/multi/pipeline/scan/
eval, each asserted), and connect-redis's own store lifecycle test beside an Express app's
sessions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clients.conftest import NODE_CLIENTS, RunSuite, require
from tests.clients.outcomes import Comparison, Outcomes, junit_outcomes

pytestmark = [pytest.mark.integration, pytest.mark.clients]

RUN_TIMEOUT_S = 120


def node_run(script: Path, work: Path) -> RunSuite:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the client suites need Node.js 20 or later")

    def run(port: int) -> Outcomes:
        report = work / f"{script.stem}-{port}.xml"
        result = subprocess.run(
            [
                node,
                "--test",
                "--test-reporter=junit",
                f"--test-reporter-destination={report}",
                "--test-reporter=spec",
                "--test-reporter-destination=stdout",
                script.name,
            ],
            cwd=NODE_CLIENTS,
            env={**os.environ, "REDIS_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        return junit_outcomes(report, result.stdout + result.stderr)

    return run


@pytest.mark.parametrize("client", ["ioredis", "node-redis", "connect-redis"])
def test_node_client_checks_that_pass_on_the_reference_pass_through_the_proxy(
    compare_suite: Callable[[str, RunSuite], Comparison], tmp_path: Path, client: str
) -> None:
    require(NODE_CLIENTS / "node_modules" / ".package-lock.json")
    script = NODE_CLIENTS / f"{client}.test.mjs"
    compare_suite(client, node_run(script, tmp_path))
