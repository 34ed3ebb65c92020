"""A replicated cluster for integration tests: three real server nodes (the pinned Valkey, or
the backend a module's `node_server` names) and a real `leaderless proxy` process in front of
them (N=3, W=2, R=2), started per test and stopped by its teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode, start_on_free_port

from tests.support.processes import LineReader
from tests.support.redis_servers import VALKEY_8, StartNodes, pinned_server

LEADERLESS = Path(sys.executable).with_name("leaderless")
TIMEOUT_MS = 500


@dataclass
class ProxyProcess:
    """One `leaderless proxy` child process."""

    args: list[str]
    process: subprocess.Popen[str] = field(init=False)
    port: int = field(init=False)
    output: LineReader = field(init=False)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(LEADERLESS), "proxy", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.output = LineReader(self.process.stdout)  # type: ignore[arg-type]
        line = self.output.wait_for_line("leaderless proxy ")
        self.port = int(line.split(" listening on ")[1].split()[0].rpartition(":")[2])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self, protocol: int = 2, **options: object) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, protocol=protocol, socket_timeout=10, **options
        )


@dataclass
class Cluster:
    nodes: list[LocalRedisNode]
    proxy: ProxyProcess

    def client(self, protocol: int = 2, **options: object) -> redis.Redis:
        return self.proxy.client(protocol, **options)


def start_proxy(nodes: list[LocalRedisNode], *extra: str) -> ProxyProcess:
    args = ["--listen", "127.0.0.1:0", "--n", str(len(nodes)), "--w", "2", "--r", "2"]
    args += ["--timeout-ms", str(TIMEOUT_MS)]
    for node in nodes:
        args += ["--node", node.url]
    proxy = ProxyProcess([*args, *extra])
    proxy.start()
    return proxy


@pytest.fixture
def cluster(redis_nodes: StartNodes) -> Iterator[Cluster]:
    nodes = redis_nodes(3)
    proxy = start_proxy(nodes)
    try:
        yield Cluster(nodes, proxy)
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`cluster`, one for a whole module: for tests that flush what they use first, and never
    stop, pause or partition a node."""
    base = tmp_path_factory.mktemp("shared-cluster")
    server = pinned_server(VALKEY_8)
    nodes = [start_on_free_port(base / f"node-{index}", executable=server) for index in range(3)]
    try:
        proxy = start_proxy(nodes)
        try:
            yield Cluster(nodes, proxy)
        finally:
            proxy.stop()
    finally:
        for node in nodes:
            node.stop()
