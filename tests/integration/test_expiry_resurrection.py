"""An overwrite carrying a TTL that a replica missed never brings the older value back.

Three real redis-servers (kept on disk, so a killed one comes back with its data) behind two real
proxies. A replica is down while `SET k new EX 1` overwrites an older `k`; the proxy that wrote
it is stopped, taking its in-memory hint with it, so only read repair and anti-entropy can tell
the replica. Once the TTL has passed the other replicas still hold the expired record (for the
expired grace), so when the stale replica comes back, the expired record beats its older value:
a read through either proxy finds the key absent and repairs it, and so does an anti-entropy
round. After the grace every replica has dropped the key, so there is nothing left to resurrect.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.record import Record, decode_record

from tests.anti_entropy.support import now_ms, run_once
from tests.integration.conftest import ProxyProcess, start_proxy
from tests.support.processes import wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration

DURABLE = ["--appendonly", "yes", "--appendfsync", "always"]
GRACE_S = 15
"""Long enough for the replica to come back and be repaired, short enough to wait out."""
GRACE = ("--expired-grace-s", str(GRACE_S))


def stored(node: LocalRedisNode) -> Record | None:
    with node.client() as client:
        raw = client.get(b"k")
    return None if raw is None else decode_record(raw)


def holds_expired(node: LocalRedisNode, value: bytes = b"new") -> bool:
    """The node holds the record of `k = value`, past its expiry (Redis has not dropped it)."""
    record = stored(node)
    return record is not None and record.value == value and not record.is_visible(now_ms())


def up_everywhere(proxy: ProxyProcess, index: int) -> bool:
    with proxy.client() as client:
        return str(client.info("leaderless")[f"node{index}"]["state"]) == "up"


def absent_through(proxies: list[ProxyProcess]) -> bool:
    for proxy in proxies:
        with proxy.client() as client:
            if client.get("k") is not None or client.exists("k") != 0 or client.dbsize() != 0:
                return False
    return True


def stale_replica_back(
    redis_nodes: StartNodes,
) -> tuple[list[LocalRedisNode], list[ProxyProcess], Callable[[], None]]:
    """The nodes, with nodes[2] back holding `k = old` while the others hold the expired
    overwrite, and two proxies that hold no hint for it; and what stops the proxies."""
    nodes = redis_nodes(3, extra_args=DURABLE)
    writer = start_proxy(nodes, *GRACE)
    proxies = [start_proxy(nodes, *GRACE)]
    try:
        with writer.client() as client:
            assert client.set("k", "old") is True
            assert wait_for(lambda: stored(nodes[2]) is not None)
            nodes[2].kill()
            assert client.set("k", "new", ex=1) is True
        writer.stop()  # its hint for nodes[2] was kept in memory only
        assert wait_for(lambda: all(holds_expired(node) for node in nodes[:2]), timeout=5)
        nodes[2].restart()
        proxies.append(start_proxy(nodes, *GRACE))
        assert all(wait_for(lambda p=p: up_everywhere(p, 2)) for p in proxies)  # type: ignore[misc]
        record = stored(nodes[2])
        assert record is not None and record.value == b"old"
    except BaseException:
        for proxy in proxies:
            proxy.stop()
        raise

    def stop() -> None:
        for proxy in proxies:
            proxy.stop()

    return nodes, proxies, stop


def assert_nothing_comes_back(nodes: list[LocalRedisNode], proxies: list[ProxyProcess]) -> None:
    """After the grace every replica has dropped the key; it stays absent after another round."""
    assert wait_for(lambda: all(stored(node) is None for node in nodes), timeout=GRACE_S + 10)
    result = run_once(nodes, *GRACE)
    assert result.returncode == 0, result.stderr
    assert all(stored(node) is None for node in nodes)
    assert absent_through(proxies)


def test_read_repair_lets_the_expired_overwrite_beat_the_older_value(
    redis_nodes: StartNodes,
) -> None:
    nodes, proxies, stop = stale_replica_back(redis_nodes)
    try:
        nodes[0].kill()  # reads now need the stale replica's answer
        for proxy in proxies:
            with proxy.client() as client:
                assert client.get("k") is None
                assert client.exists("k") == 0
        assert holds_expired(nodes[2])  # repaired before the read answered
        nodes[0].restart()
        assert all(wait_for(lambda p=p: up_everywhere(p, 0)) for p in proxies)  # type: ignore[misc]
        assert absent_through(proxies)
        assert_nothing_comes_back(nodes, proxies)
    finally:
        stop()


def test_anti_entropy_lets_the_expired_overwrite_beat_the_older_value(
    redis_nodes: StartNodes,
) -> None:
    nodes, proxies, stop = stale_replica_back(redis_nodes)
    try:
        result = run_once(nodes, *GRACE)
        assert result.returncode == 0, result.stderr
        assert "anti-entropy round: converged" in result.stdout, result.stdout
        assert holds_expired(nodes[2])
        assert absent_through(proxies)
        nodes[0].kill()  # reads now need the repaired replica's answer
        assert absent_through(proxies)
        with nodes[2].client() as raw:
            assert raw.dbsize() > 0  # the record is still there, and DBSIZE leaves it out
        nodes[0].restart()
        assert all(wait_for(lambda p=p: up_everywhere(p, 0)) for p in proxies)  # type: ignore[misc]
        assert_nothing_comes_back(nodes, proxies)
    finally:
        stop()


def test_a_read_of_the_expired_key_through_a_client_sees_it_absent(
    redis_nodes: StartNodes,
) -> None:
    """redis-py's view: GET, EXISTS, TTL and DBSIZE of the key while its record is kept."""
    nodes = redis_nodes(3)
    proxy = start_proxy(nodes, *GRACE)
    try:
        with proxy.client() as client:
            client.set("k", "v", px=50)
            assert wait_for(lambda: all(holds_expired(node, b"v") for node in nodes))
            assert client.get("k") is None
            assert client.exists("k") == 0
            assert client.ttl("k") == -2
            assert client.dbsize() == 0
            assert client.set("k", "w", nx=True) is True
            assert client.get("k") == b"w"
            assert client.dbsize() == 1
    finally:
        proxy.stop()
