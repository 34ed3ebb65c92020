"""Replication through a real proxy in front of three real servers (N=3, W=2, R=2): quorum
writes and reads, failures of one and two nodes, read repair, tombstones, flushes, and a
replica that comes back empty. Every test runs on each backend family (`node_server`): the
pinned Valkey 8 and Redis 6.2, the oldest release the replicas' scripts run on."""

from __future__ import annotations

import random
import re
import subprocess
import time
from pathlib import Path

import pytest
import redis
from leaderless.config.settings import ReplicationSettings
from leaderless.proxy.app.local_nodes import LocalRedisNode, server_build
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import range_of
from leaderless.replication.record import Record, decode_record, encode_record
from leaderless.replication.scripts import (
    ALL_SCRIPTS,
    INTERNAL_KEYS,
    WRITE_IF_NEWER,
    write_if_newer_args,
)

from tests.integration.conftest import LEADERLESS, Cluster, start_proxy
from tests.support.processes import wait_for
from tests.support.redis_servers import BACKENDS, Backend, StartNodes, pinned_server

pytestmark = pytest.mark.integration

DURABLE = ["--appendonly", "yes", "--appendfsync", "always"]


@pytest.fixture(params=BACKENDS, ids=lambda backend: backend.name)
def node_server(request: pytest.FixtureRequest) -> Path:
    """The nodes of every cluster here run each backend in turn."""
    backend: Backend = request.param
    return pinned_server(backend)


def stored(node: LocalRedisNode, key: bytes) -> Record | None:
    with node.client() as client:
        raw = client.get(key)
    return None if raw is None else decode_record(raw)


def stored_value(node: LocalRedisNode, key: bytes) -> bytes | None:
    record = stored(node, key)
    return None if record is None or record.tombstone else record.value


@pytest.mark.parametrize("protocol", [2, 3])
def test_a_write_reaches_every_replica_with_one_timestamp(cluster: Cluster, protocol: int) -> None:
    with cluster.client(protocol) as client:
        assert client.set(b"k", b"\x00binary\r\nvalue\xff") is True
        assert client.get(b"k") == b"\x00binary\r\nvalue\xff"
    assert wait_for(lambda: all(stored(node, b"k") is not None for node in cluster.nodes))
    records = [stored(node, b"k") for node in cluster.nodes]
    assert len({record.ts for record in records if record}) == 1


def replica_state(client: redis.Redis, index: int) -> str:
    """The proxy's view of replica `index`, from INFO (it reconnects in the background)."""
    return str(client.info("leaderless")[f"node{index}"]["state"])


def restart_and_wait(client: redis.Redis, node: LocalRedisNode, index: int) -> None:
    node.restart()
    assert wait_for(lambda: replica_state(client, index) == "up")


def test_one_node_killed_reads_and_writes_still_succeed(cluster: Cluster) -> None:
    with cluster.client() as client:
        client.set("before", "1")
        cluster.nodes[0].kill()
        assert client.get("before") == b"1"
        assert client.set("after", "2") is True
        assert client.get("after") == b"2"
        assert client.delete("before") == 1
        assert client.get("before") is None


def test_two_nodes_killed_writes_fail_with_the_quorum_error(cluster: Cluster) -> None:
    cluster.nodes[0].kill()
    cluster.nodes[1].kill()
    with cluster.client() as client:  # socket_timeout bounds the wait: a hang fails the test
        with pytest.raises(redis.ResponseError) as failure:
            client.set("k", "v")
        assert re.match(
            r"NOQUORUM write quorum not reached: [01] of 2 required replicas acknowledged "
            r"\(3 replicas\); "
            r"127\.0\.0\.1:\d+: ",
            str(failure.value),
        )
        with pytest.raises(redis.ResponseError, match="read quorum not reached"):
            client.get("k")
        assert client.ping() is True  # the connection keeps serving


def test_a_node_down_during_writes_is_repaired_by_the_next_read(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(3, extra_args=DURABLE)
    proxy = start_proxy(nodes, "--max-hint-bytes", "1")  # no hints: only the read repairs it
    try:
        with proxy.client() as client:
            client.set("k", "old")
            assert wait_for(lambda: stored_value(nodes[2], b"k") == b"old")  # W=2 may not wait
            nodes[2].kill()
            for value in range(20):
                client.set("k", f"new-{value}")
            restart_and_wait(client, nodes[2], 2)
            assert stored_value(nodes[2], b"k") == b"old"
            nodes[0].kill()  # the next read must include the stale node
            assert client.get("k") == b"new-19"
            assert stored_value(nodes[2], b"k") == b"new-19"
    finally:
        proxy.stop()


def test_a_delete_is_not_undone_by_a_replica_that_missed_it(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(3, extra_args=DURABLE)
    proxy = start_proxy(nodes)
    try:
        with proxy.client() as client:
            client.set("k", "v")
            assert wait_for(lambda: stored_value(nodes[2], b"k") == b"v")
            nodes[2].kill()
            assert client.delete("k") == 1
            restart_and_wait(client, nodes[2], 2)
            nodes[0].kill()
            assert client.get("k") is None
            assert client.exists("k") == 0
            record = stored(nodes[2], b"k")
            assert record is not None and record.tombstone
    finally:
        proxy.stop()


def test_a_flush_is_not_undone_by_a_replica_that_missed_it(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(3, extra_args=DURABLE)
    proxy = start_proxy(nodes)
    try:
        with proxy.client() as client:
            client.mset({"a": "1", "b": "2"})
            assert wait_for(lambda: stored_value(nodes[2], b"b") == b"2")
            nodes[2].kill()
            assert client.flushdb() is True
            client.set("c", "3")
            restart_and_wait(client, nodes[2], 2)
            assert stored_value(nodes[2], b"a") == b"1"
            nodes[0].kill()
            assert client.mget("a", "b", "c") == [None, None, b"3"]
            assert client.dbsize() == 1
            assert stored(nodes[2], b"a") is None
            assert stored_value(nodes[2], b"c") == b"3"
    finally:
        proxy.stop()


def test_a_node_restarted_empty_keeps_working(cluster: Cluster) -> None:
    with cluster.client() as client:
        client.set("k", "v1")
        cluster.nodes[1].restart(wipe=True)  # its Lua scripts are gone with it
        assert wait_for(lambda: _writes_reach(client, cluster.nodes[1]))
        cluster.nodes[0].kill()
        # It lost "k": until refilled it does not count toward reads (tests/hints), so the
        # read refuses rather than answer from it and one node.
        with pytest.raises(redis.ResponseError, match="recovering"):
            client.get("k")


def test_the_replicas_run_the_backend_under_test_and_compile_every_script(
    cluster: Cluster, node_server: Path
) -> None:
    build = server_build(node_server)
    for node in cluster.nodes:
        with node.client() as raw:
            info = raw.info("server")
            assert info.get("valkey_version", info["redis_version"]) == build.version
            for script in ALL_SCRIPTS:
                assert raw.script_load(script.source) == script.sha.decode()


def test_the_write_script_keeps_the_newest_version_with_its_absolute_expiry(
    redis_nodes: StartNodes,
) -> None:
    """WRITE_IF_NEWER on one replica: GETRANGE of the stored header, SET ... PXAT (the expiry
    plus the grace), and a late older write refused, whatever the backend."""
    (node,) = redis_nodes(1)
    expires = int(time.time() * 1000) + 60_000
    newer = Record(Timestamp(2_000, 0, 1), False, expires, b"new")
    older = Record(Timestamp(1_000, 0, 1), False, 0, b"old")
    with node.client() as raw:
        assert apply(raw, b"k", newer) == 1
        assert apply(raw, b"k", older) == 0
        assert stored(node, b"k") == newer
        grace_ms = ReplicationSettings().expired_grace_s * 1000  # kept that long past expiry
        assert grace_ms < raw.pttl(b"k") <= 60_000 + grace_ms
        assert raw.getrange(b"k", 0, 19) == encode_record(newer, range_of(b"k"))[:20]


def apply(raw: redis.Redis, key: bytes, record: Record) -> int:
    encoded = encode_record(record, range_of(key))
    (applied,) = raw.eval(
        WRITE_IF_NEWER.source,
        1,
        key,
        *write_if_newer_args([key], [encoded], ReplicationSettings().expired_grace_s * 1000),
    )
    return int(applied)


def test_a_replica_that_lost_its_scripts_still_applies_writes(cluster: Cluster) -> None:
    with cluster.nodes[2].client() as raw:
        raw.script_flush()
    with cluster.client() as client:
        client.set("k", "after the flush")
    assert wait_for(lambda: stored_value(cluster.nodes[2], b"k") == b"after the flush")


def _writes_reach(client: redis.Redis, node: LocalRedisNode) -> bool:
    """The proxy reconnects in the background; true once a write lands on `node`."""
    client.set("probe", "x")
    return stored_value(node, b"probe") == b"x"


def test_expiry_is_one_absolute_moment_on_every_replica(cluster: Cluster) -> None:
    with cluster.client() as client:
        client.set("k", "v", px=60_000)
        assert 0 < client.pttl("k") <= 60_000
        assert 0 < client.ttl("k") <= 60
    assert wait_for(lambda: all(stored(node, b"k") is not None for node in cluster.nodes))
    expiries = {stored(node, b"k").expires_at_ms for node in cluster.nodes}  # type: ignore[union-attr]
    assert len(expiries) == 1
    grace_ms = ReplicationSettings().expired_grace_s * 1000  # kept that long past its expiry
    for node in cluster.nodes:
        with node.client() as raw:
            assert grace_ms < raw.pttl("k") <= grace_ms + 60_000


def test_replicas_hold_no_stray_keys_and_dbsize_counts_live_keys(cluster: Cluster) -> None:
    with cluster.client() as client:
        client.mset({"a": "1", "b": "2", "c": "3"})
        assert client.delete("b") == 1
        assert client.dbsize() == 2
    for node in cluster.nodes:
        with node.client() as raw:
            assert set(raw.keys()) <= {b"a", b"b", b"c", *INTERNAL_KEYS}


def test_internal_keys_are_reserved(cluster: Cluster) -> None:
    with cluster.client() as client:
        for attempt in (
            lambda: client.set("__leaderless:flush", "x"),
            lambda: client.get("__leaderless:digests"),
            lambda: client.mset({"ok": "1", "__leaderless:tombstones": "x"}),
        ):
            with pytest.raises(redis.ResponseError, match="reserved"):
                attempt()
        assert client.get("ok") is None


def test_info_shows_the_sidecars_counters(cluster: Cluster) -> None:
    with cluster.client() as client:
        client.set("k", "v")
        assert client.info("anti_entropy") == {
            "anti_entropy_status": "no sidecar has reported a round yet"
        }
        nodes = [arg for node in cluster.nodes for arg in ("--node", node.url)]
        done = subprocess.run(
            [str(LEADERLESS), "anti-entropy", "--once", *nodes], capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        counters = client.info("anti_entropy")
        assert counters["anti_entropy_rounds"] >= 1
        assert counters["anti_entropy_last_round_converged"] == 1


def test_a_pipeline_sees_its_own_writes_in_order(cluster: Cluster) -> None:
    """The requests of one pipeline share quorum rounds (a run of reads, a run of writes), yet
    every reply is what Redis would give running them one by one: each read sees the writes
    before it on the connection, whatever the runs it was batched into."""
    rng = random.Random(7)
    keys = [b"p%d" % i for i in range(20)]
    model: dict[bytes, bytes] = {}
    expected: list[object] = []
    with cluster.client() as client:
        pipe = client.pipeline(transaction=False)
        for step in range(2000):
            key = rng.choice(keys)
            action = rng.random()
            if action < 0.4:
                value = b"v%d" % step
                pipe.set(key, value)
                model[key] = value
                expected.append(True)
            elif action < 0.5:
                pipe.delete(key)
                expected.append(1 if model.pop(key, None) is not None else 0)
            elif action < 0.6:
                chosen = rng.sample(keys, 3)
                pipe.mget(chosen)
                expected.append([model.get(k) for k in chosen])
            else:
                pipe.get(key)
                expected.append(model.get(key))
        assert pipe.execute() == expected
