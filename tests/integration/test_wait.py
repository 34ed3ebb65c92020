"""WAIT end to end: it counts the replicas that hold the client's last write, answers at once
when enough do, waits for a replica that is late, and gives up at its timeout."""

from __future__ import annotations

import select
import time

import pytest

from tests.integration.conftest import Cluster
from tests.support.compat import connect, request
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def test_every_replica_up_answers_n_at_once(cluster: Cluster) -> None:
    with cluster.client() as client:
        assert client.wait(0, 0) == 3  # nothing written yet: the replicas that answer
        client.set("k", "v")
        started = time.monotonic()
        assert client.wait(3, 5000) == 3
        assert client.wait(0, 0) == 3
        client.mset({"a": "1", "b": "2"})
        assert client.wait(3, 0) == 3
        assert time.monotonic() - started < 2.0


def test_a_replica_down_answers_the_others_after_the_timeout(cluster: Cluster) -> None:
    cluster.nodes[2].kill()
    with cluster.client() as client:
        client.set("k", "v")
        assert client.wait(2, 0) == 2
        started = time.monotonic()
        assert client.wait(3, 300) == 2
        assert time.monotonic() - started >= 0.3
        assert client.wait(0, 0) == 2


def test_a_late_replica_is_waited_for(cluster: Cluster) -> None:
    """A paused replica misses the write's quorum; WAIT 3 0 waits until it has applied it."""
    cluster.nodes[2].pause()
    try:
        with connect(cluster.proxy.port) as connection:
            connection.send(request("SET", "k", "v"))
            assert connection.read_reply() == b"+OK\r\n"
            connection.send(request("WAIT", 3, 0))
            readable, _, _ = select.select([connection.sock], [], [], 0.3)
            assert not readable, "WAIT answered while a replica lacked the write"
            cluster.nodes[2].resume()
            assert connection.read_reply() == b":3\r\n"
    finally:
        cluster.nodes[2].resume()


def test_the_last_write_is_the_one_counted(cluster: Cluster) -> None:
    """A later write through another connection does not count for this one, and a write of
    the same key newer than this client's counts as holding it."""
    with cluster.client() as writer, cluster.client() as other:
        writer.set("k", "1")
        other.set("k", "2")
        assert writer.wait(3, 1000) == 3
        assert other.wait(3, 1000) == 3


def test_a_wait_without_timeout_stops_asking_when_its_client_leaves(cluster: Cluster) -> None:
    cluster.nodes[2].kill()
    replica = cluster.nodes[0].client()

    def polls() -> int:
        return int(replica.info("commandstats").get("cmdstat_mget", {}).get("calls", 0))

    with connect(cluster.proxy.port) as connection:
        connection.send(request("SET", "k", "v"))
        assert connection.read_reply() == b"+OK\r\n"
        before = polls()
        connection.send(request("WAIT", 3, 0))
        assert wait_for(lambda: polls() > before + 1), "WAIT asks the replicas again"
    with cluster.client() as client:
        assert wait_for(lambda: client.info("clients")["connected_clients"] == 1)
    left = polls()
    assert not wait_for(lambda: polls() > left + 1, timeout=1.5)
