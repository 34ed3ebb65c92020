"""Membership changes under a running workload, with writers on two proxies: grow 3 -> 5,
shrink 5 -> 4, and a node killed while keys stream. After the move and one anti-entropy
round, no acknowledged write is lost and every key is on exactly its N owners."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.anti_entropy.support import LEADERLESS, run_once
from tests.faults.harness import AOF
from tests.integration.conftest import ProxyProcess, start_proxy
from tests.ring.test_ring_serving import placement_of
from tests.ring.workload import Workload, misplaced
from tests.support.processes import LineReader
from tests.support.redis_servers import StartNodes

MOVE_TIMEOUT_S = 180
PRELOADED = 20_000


def ring_move(
    members: Sequence[LocalRedisNode], current: Sequence[LocalRedisNode], *extra: str
) -> list[str]:
    command = [str(LEADERLESS), "ring", "move", "--n", "3", *extra]
    command += [f"--node={node.url}" for node in members]
    command += [f"--from-node={node.url}" for node in current]
    return command


def moved(command: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=MOVE_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the new ring is in force" in done.stdout, done.stdout
    return done


@pytest.fixture
def proxies() -> Iterator[list[ProxyProcess]]:
    started: list[ProxyProcess] = []
    yield started
    for proxy in started:
        proxy.stop()


def preload(proxy: ProxyProcess, count: int) -> None:
    """Keys enough that streaming them takes a while at the paced rate."""
    with proxy.client() as client:
        pipe = client.pipeline(transaction=False)
        for index in range(count):
            pipe.set(f"preloaded:{index}", index)
            if index % 1000 == 999:
                pipe.execute()
        pipe.execute()


def settle(nodes: Sequence[LocalRedisNode], workload: Workload, proxy: ProxyProcess) -> None:
    """One anti-entropy round, then the checks every move must pass."""
    swept = run_once(list(nodes), "--n", "3")
    assert swept.returncode == 0, swept.stdout + swept.stderr
    with proxy.client() as client:
        assert workload.lost(client) == []
        assert client.mget([f"preloaded:{i}" for i in range(0, PRELOADED, 97)]) == [
            str(i).encode() for i in range(0, PRELOADED, 97)
        ]


def test_grow_from_three_to_five_nodes_under_writers_on_two_proxies(
    redis_nodes: StartNodes, proxies: list[ProxyProcess]
) -> None:
    nodes = redis_nodes(5)
    proxies += [start_proxy(nodes[:3]), start_proxy(nodes[:3])]
    preload(proxies[0], PRELOADED)
    workload = Workload(proxies)
    workload.start()
    try:
        workload.run_for(200)
        before = workload.operations()
        moved(ring_move(nodes, nodes[:3]))
        assert workload.operations() > before  # the writers wrote while keys moved
        workload.run_for(200)
    finally:
        workload.stop()
    settle(nodes, workload, proxies[1])
    assert misplaced(nodes, placement_of(nodes)) == []
    assert sum(workload.errors().values()) < workload.operations() / 2, workload.errors()
    with proxies[0].client() as client:
        assert client.info("leaderless")["ring_epoch"] == 2


def test_shrink_from_five_to_four_nodes_under_writers_on_two_proxies(
    redis_nodes: StartNodes, proxies: list[ProxyProcess]
) -> None:
    nodes = redis_nodes(5)
    proxies += [start_proxy(nodes, "--n", "3"), start_proxy(nodes, "--n", "3")]
    preload(proxies[0], PRELOADED)
    workload = Workload(proxies)
    workload.start()
    try:
        workload.run_for(200)
        moved(ring_move(nodes[:4], nodes))
        workload.run_for(200)
    finally:
        workload.stop()
    settle(nodes[:4], workload, proxies[0])
    assert misplaced(nodes[:4], placement_of(nodes[:4])) == []
    with redis.Redis(port=nodes[4].port) as removed:
        assert [key for key in removed.scan_iter() if not key.startswith(b"__leaderless:")] == []


def test_a_node_killed_while_keys_stream_under_writers_then_the_move_is_run_again(
    redis_nodes: StartNodes, proxies: list[ProxyProcess]
) -> None:
    nodes = redis_nodes(5, AOF)
    proxies += [start_proxy(nodes[:3]), start_proxy(nodes[:3])]
    preload(proxies[0], PRELOADED)
    workload = Workload(proxies)
    workload.start()
    try:
        workload.run_for(200)
        command = ring_move(nodes, nodes[:3], "--max-keys-per-s", "5000")
        first = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert first.stdout is not None
        output = LineReader(first.stdout)
        output.wait_for_line("ring move (epoch 1) stream:")
        nodes[1].kill()
        assert first.wait(MOVE_TIMEOUT_S) == 1  # stopped: a node it streams from or to is gone
        output.wait_for_line("leaderless: error: ring move:")
        workload.run_for(100)  # W=2 of each key's owners are still up
        nodes[1].restart()
        workload.run_for(100)
        moved(command)
        workload.run_for(200)
    finally:
        workload.stop()
    settle(nodes, workload, proxies[1])
    assert misplaced(nodes, placement_of(nodes)) == []
    assert sum(workload.errors().values()) < workload.operations() / 2, workload.errors()
