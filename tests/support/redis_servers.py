"""Fixtures that start real redis-server processes, built on replication/local_nodes.py.

`redis_nodes(k)` starts k fresh nodes on free loopback ports; `redis_reference` is one plain
redis-server to compare the proxy's replies against. Every node a test starts is stopped (and
reaped) at its teardown, whatever the test did to it (killed, paused, restarted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from leaderless.replication.local_nodes import LocalRedisNode, start_on_free_port

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
