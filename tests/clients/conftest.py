"""The servers every client suite runs against, and the comparison of its two runs.

One reference server (the pinned Valkey, as `valkey_reference`) and one proxy over three
replicas (as `shared_cluster`) serve the whole session, each behind a `RecordingRelay` so that
the errors each answered are counted per suite. `compare_suite` runs a suite on the reference,
then through the proxy, from an empty keyspace each time; the test fails if a test that passed
on the reference failed through the proxy and `expectations.toml` does not list it. The
terminal summary gives every suite's counts and the listed tests that now pass.

`make clients` installs what the suites need (a virtualenv of their Python packages, Django's
and Flask-Caching's sdists, the Node.js packages) and runs `pytest -m clients tests/clients`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from leaderless.proxy.app.local_nodes import start_on_free_port

from tests.clients.outcomes import Comparison, Outcomes, expected_failures, refused_by_proxy_only
from tests.clients.recording_relay import RecordingRelay
from tests.integration.conftest import start_proxy
from tests.support.redis_servers import VALKEY_8, pinned_server

CLIENTS_VENV = Path(sys.prefix) / "clients"
CLIENTS_PYTHON = CLIENTS_VENV / "bin" / "python"
CLIENT_SOURCES = Path(sys.prefix) / "client-sources"
NODE_CLIENTS = Path(__file__).with_name("node")
INSTALL_HINT = "run `make clients`, which installs the client suites"

RunSuite = Callable[[int], Outcomes]
"""Runs a suite against the server on a loopback port: each test's outcome."""


@dataclass(frozen=True)
class ClientServers:
    """The reference and the proxy, each behind the relay that counts its errors."""

    reference: RecordingRelay
    proxy: RecordingRelay


def flush_all(port: int) -> None:
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=10) as client:
        client.flushall()


@pytest.fixture(scope="session")
def client_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientServers]:
    base = tmp_path_factory.mktemp("client-servers")
    server = pinned_server(VALKEY_8)
    started = [
        start_on_free_port(
            base / "reference", ["--extended-redis-compatibility", "yes"], executable=server
        )
    ]
    try:
        started += [start_on_free_port(base / f"node-{i}", executable=server) for i in range(3)]
        proxy = start_proxy(started[1:])
        try:
            relays = ClientServers(RecordingRelay(started[0].port), RecordingRelay(proxy.port))
            try:
                yield relays
            finally:
                relays.reference.close()
                relays.proxy.close()
        finally:
            proxy.stop()
    finally:
        for node in started:
            node.stop()


def require(path: Path) -> Path:
    """`path`, or a failure saying how to install it."""
    if not path.exists():
        pytest.fail(f"{path} is missing: {INSTALL_HINT}")
    return path


COMPARISONS = pytest.StashKey[list[Comparison]]()
"""The session's comparisons, for the terminal summary."""


@pytest.fixture
def compare_suite(
    client_servers: ClientServers, pytestconfig: pytest.Config
) -> Callable[[str, RunSuite], Comparison]:
    """Run a suite on the reference, then through the proxy, and check the two agree."""

    def compare(suite: str, run: RunSuite) -> Comparison:
        outcomes, errors = [], []
        for relay in (client_servers.reference, client_servers.proxy):
            flush_all(relay.upstream_port)
            relay.take_errors()
            outcomes.append(run(relay.port))
            errors.append(relay.take_errors())
        comparison = Comparison(
            suite,
            outcomes[0],
            outcomes[1],
            expected_failures(suite),
            refused_by_proxy_only(errors[0], errors[1]),
        )
        pytestconfig.stash.setdefault(COMPARISONS, []).append(comparison)
        print(comparison.summary())
        assert comparison.passing_on_reference, f"{suite}: no test passed on the reference"
        failing = comparison.unexpected_failures
        assert not failing, (
            f"{suite}: {len(failing)} tests pass on the reference but fail through the proxy "
            f"and are not in tests/clients/expectations.toml: {failing}"
        )
        assert not comparison.now_passing, (
            f"{suite}: listed in tests/clients/expectations.toml but passing through the proxy "
            f"now, remove them: {comparison.now_passing}"
        )
        return comparison

    return compare


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    comparisons = config.stash.get(COMPARISONS, [])
    if not comparisons:
        return
    terminalreporter.section("client suites: reference and proxy")
    for comparison in comparisons:
        terminalreporter.line(comparison.summary())
    for comparison in comparisons:
        for name in comparison.now_passing:
            terminalreporter.line(
                f"EXPECTED FAILURE NOW PASSES: [{comparison.suite}] {name} "
                f"({comparison.expected[name]}): remove it from tests/clients/expectations.toml"
            )
