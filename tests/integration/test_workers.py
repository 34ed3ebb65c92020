"""`leaderless proxy --workers 2` over three real redis-servers: both workers serve the one
port, each stamps writes with its own proxy id and keeps its own hints, a write through one is
read through the other, and the parent stops them all (SIGTERM), fails when one dies, and leaves
none behind when it is killed itself."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.record import decode_record

from tests.integration.conftest import ProxyProcess, start_proxy
from tests.support.processes import children, is_alive, wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration


def worker_ids(proxy: ProxyProcess, count: int) -> dict[int, int]:
    """Each worker's pid and proxy id, from the start-up lines."""
    found = {}
    for index in range(count):
        line = proxy.output.wait_for_line(f"  worker {index}: ")
        pid, proxy_id = line.removeprefix(f"  worker {index}: pid ").split(", proxy id ")
        found[int(pid)] = int(proxy_id)
    return found


def connection_to_each_worker(proxy: ProxyProcess, count: int) -> dict[int, redis.Redis]:
    """One connection per worker, by its pid: the kernel spreads connections by a hash of their
    ports, so a few tries reach every worker (200 all to one: a chance of 2**-199)."""
    found: dict[int, redis.Redis] = {}
    for _ in range(200):
        client = proxy.client(single_connection_client=True)
        pid = int(client.info("server")["process_id"])
        if pid in found:
            client.close()
        else:
            found[pid] = client
        if len(found) == count:
            break
    return found


def writer_of(nodes: list[LocalRedisNode], key: str) -> set[int]:
    """The proxy ids in the timestamps the replicas hold for `key`."""
    writers = set()
    for node in nodes:
        with node.client() as replica:
            raw = replica.get(key)
        if isinstance(raw, bytes):
            writers.add(decode_record(raw).ts.node)
    return writers


def test_two_workers_serve_one_port_with_their_own_ids_and_hints(
    redis_nodes: StartNodes, tmp_path: Path
) -> None:
    nodes = redis_nodes(3)
    hints = tmp_path / "hints"
    proxy = start_proxy(nodes, "--workers", "2", "--proxy-id", "100", "--hints-dir", str(hints))
    try:
        ids = worker_ids(proxy, 2)
        assert sorted(ids.values()) == [100, 101]
        assert set(ids) == children(proxy.process.pid)
        clients = connection_to_each_worker(proxy, 2)
        assert set(clients) == set(ids)
        for pid, client in clients.items():
            assert client.info("leaderless")["proxy_id"] == ids[pid]
            assert client.info("clients")["maxclients"] == 5000  # half of max_clients each
        first, second = (clients[pid] for pid in sorted(clients))
        assert first.set("shared", "first")
        assert second.get("shared") == b"first"
        assert second.set("shared", "second")
        assert first.get("shared") == b"second"
        for pid, client in clients.items():
            assert client.set(f"by-{pid}", "v")
            assert writer_of(nodes, f"by-{pid}") == {ids[pid]}
        for client in clients.values():
            client.close()
        assert {path.name for path in hints.iterdir()} == {"worker-0", "worker-1"}

        proxy.process.send_signal(signal.SIGTERM)
        assert proxy.process.wait(timeout=30) == 0
        assert not any(is_alive(pid) for pid in ids)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=5).close()
    finally:
        proxy.stop()
        kill_left_behind(ids)


def test_a_worker_that_dies_stops_the_others_and_the_proxy_fails(
    redis_nodes: StartNodes,
) -> None:
    proxy = start_proxy(redis_nodes(3), "--workers", "2")
    ids: dict[int, int] = {}
    try:
        ids = worker_ids(proxy, 2)
        survivor, victim = ids
        os.kill(victim, signal.SIGKILL)
        assert proxy.process.wait(timeout=30) == 1
        assert not is_alive(survivor)
        failure = f"worker 1 (pid {victim}) was killed by SIGKILL; the other workers were stopped"
        assert wait_for(lambda: failure in proxy.output.text())
    finally:
        proxy.stop()
        kill_left_behind(ids)


def test_workers_stop_when_their_parent_is_killed(redis_nodes: StartNodes) -> None:
    proxy = start_proxy(redis_nodes(3), "--workers", "2")
    ids: dict[int, int] = {}
    try:
        ids = worker_ids(proxy, 2)
        proxy.process.kill()
        proxy.process.wait()
        assert wait_for(lambda: not any(is_alive(pid) for pid in ids), timeout=30)
    finally:
        proxy.stop()
        kill_left_behind(ids)


def kill_left_behind(pids: dict[int, int]) -> None:
    """Whatever a failed test left running, so that no worker outlives it."""
    for pid in pids:
        if is_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
