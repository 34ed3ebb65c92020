"""redis-py's own tests of the commands the proxy serves, run through the proxy.

`make dev` unpacks the test suite of the installed redis-py release (its sdist ships it) into
the virtualenv. From its `TestRedisCommands`, the tests named after a served command
(`test_getex`, `test_set_keepttl`, `test_client_list_type`, ...) run twice per protocol: against
the reference Valkey, then through a proxy over three replicas. A test that passes on the
reference must pass through the proxy, unless `DIVERGENT` names it with the reason. Tests that
the reference itself fails or skips (features newer than Redis 7.2, Redis Enterprise, modules)
say nothing about the proxy and are only counted.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.proxy.commands.table import COMMAND_TABLE

from tests.integration.conftest import Cluster

pytestmark = pytest.mark.integration

SUITE = Path(sys.prefix) / "redis-py-tests" / f"redis-{redis.__version__}"
TEST_FILE = "tests/test_commands.py"
TEST_CLASS = "TestRedisCommands"
RUN_TIMEOUT_S = 600

DIVERGENT: dict[str, str] = {
    "test_auth": "it sets requirepass with CONFIG SET; the proxy's users are in its settings",
    "test_command_count": "it expects Redis's whole command table; the proxy lists what it serves",
    "test_command_list": "it expects Redis's whole command table; the proxy lists what it serves",
    "test_client_tracking": "the proxy sends no invalidations, so CLIENT TRACKING ON is refused",
    "test_config_set": "CONFIG SET is refused: the proxy's settings are in its config file",
    "test_config_set_multi_params": "CONFIG SET is refused: the proxy's settings are in its "
    "config file",
    "test_config_get_multi_params": "it reads the replicas' encoding parameters "
    "(hash-max-listpack-entries), which the proxy does not report",
}
"""redis-py tests that pass on the reference but not through the proxy, by design: the reason."""

NOT_SERVED: dict[str, str] = {
    "test_get_set_bit": "GETBIT and SETBIT are bitmap commands",
    "test_command_getkeys": "it asks for the keys of commands the proxy does not serve",
    "test_client_kill_filter_by_user": "it creates its user with ACL SETUSER",
    "test_type": "it stores lists, sets, sorted sets and hashes",
    "test_scan_type": "it stores a set, a hash and a list",
}
"""Tests whose names start with a served command but that test commands the proxy does not
serve."""


def served_names() -> list[str]:
    """Every served command and subcommand as a test name part (`client|list` -> client_list)."""
    names = []
    for spec in COMMAND_TABLE.values():
        leaves = spec.subcommands.values() if spec.subcommands else [spec]
        names += [leaf.name.replace("|", "_").replace("-", "_") for leaf in leaves]
    return names


def selected_tests() -> list[str]:
    """The suite's tests of served commands: `test_<command>` and `test_<command>_<case>`."""
    tree = ast.parse((SUITE / TEST_FILE).read_text())
    commands = served_names()
    selected = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == TEST_CLASS:
            for item in node.body:
                if not isinstance(item, ast.FunctionDef) or not item.name.startswith("test_"):
                    continue
                rest = item.name.removeprefix("test_")
                ours = any(rest == name or rest.startswith(name + "_") for name in commands)
                if ours and item.name not in NOT_SERVED:
                    selected.append(item.name)
    return selected


def run_suite(port: int, protocol: int, node_ids: list[str], report: Path) -> dict[str, str]:
    """Run the tests (pytest node ids in the suite) against the server on `port`: each test's
    outcome by its name, passed, failed or skipped."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--tb=no",  # rendering redis-py's tracebacks takes most of a run's time
            f"--redis-url=redis://127.0.0.1:{port}/0",
            f"--protocol={protocol}",
            f"--junitxml={report}",
            *node_ids,
        ],
        cwd=SUITE,
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "passed"
        outcomes[case.attrib["name"]] = "skipped" if "skipped" in kinds else outcome
    return outcomes


@pytest.fixture(scope="module")
def suite() -> list[str]:
    if not (SUITE / TEST_FILE).exists():
        pytest.fail(f"redis-py's test suite is not at {SUITE}: run `make dev` to unpack it")
    return selected_tests()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_tests_that_pass_on_the_reference_pass_through_the_proxy(
    suite: list[str],
    shared_cluster: Cluster,
    shared_reference: LocalRedisNode,
    protocol: int,
    tmp_path: Path,
) -> None:
    node_ids = [f"{TEST_FILE}::{TEST_CLASS}::{name}" for name in suite]
    reference = run_suite(shared_reference.port, protocol, node_ids, tmp_path / "reference.xml")
    proxy = run_suite(shared_cluster.proxy.port, protocol, node_ids, tmp_path / "proxy.xml")
    expected = [name for name in suite if reference.get(name) == "passed"]
    failing = [name for name in expected if proxy.get(name) != "passed" and name not in DIVERGENT]
    print(
        f"redis-py {redis.__version__} RESP{protocol}: {len(suite)} tests of served commands; "
        f"{len(expected)} pass on the reference; "
        f"{sum(proxy.get(name) == 'passed' for name in expected)} of those pass through the proxy"
    )
    assert not failing, (
        f"{len(failing)} of {len(expected)} fail through the proxy: {failing}; to see why, run "
        f"them in {SUITE} with `pytest --redis-url=redis://127.0.0.1:<proxy port>/0 "
        f"{TEST_FILE}::{TEST_CLASS}::<name>`"
    )
    assert not [name for name in DIVERGENT if proxy.get(name) == "passed"], "stale DIVERGENT"
