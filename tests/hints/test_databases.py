"""A replica that missed writes to database 2 gets them back into database 2: by hints, and,
where no hint was kept, by an anti-entropy round; the same keys in database 0 stay apart; a
replica that serves fewer than 16 databases is not used. A real proxy over real redis-servers
(N=3, W=2, R=2), as in test_handoff."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.record import decode_record

from tests.hints.test_handoff import DURABLE, pending_hints, proxies
from tests.integration.conftest import LEADERLESS, ProxyProcess, start_proxy
from tests.support.processes import wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration

__all__ = ["proxies"]  # the fixture, used by name


def values_on(node: LocalRedisNode, db: int, keys: list[str]) -> list[bytes | None]:
    with node.client() as client:
        client.select(db)
        raws = client.mget(keys)
    return [None if raw is None else decode_record(raw).value or None for raw in raws]


def write(proxy: ProxyProcess, db: int, written: dict[str, bytes]) -> None:
    with redis.Redis(port=proxy.port, db=db, socket_timeout=10) as client:
        for key, value in written.items():
            assert client.set(key, value) is True


def in_db(db: int, count: int) -> dict[str, bytes]:
    return {f"k{i}": f"db{db}-{i}".encode() for i in range(count)}


def test_hints_for_database_2_are_replayed_into_database_2(
    redis_nodes: StartNodes, proxies: list[ProxyProcess], tmp_path: Path
) -> None:
    nodes = redis_nodes(3, extra_args=DURABLE)
    hints = tmp_path / "hints"
    proxies.append(proxy := start_proxy(nodes, "--hints-dir", str(hints)))
    nodes[2].kill()
    two, zero = in_db(2, 40), in_db(0, 10)
    write(proxy, 2, two)
    write(proxy, 0, zero)
    assert wait_for(lambda: pending_hints(hints) == 50)
    nodes[2].restart()
    assert wait_for(lambda: pending_hints(hints) == 0)
    assert values_on(nodes[2], 2, list(two)) == list(two.values())
    assert values_on(nodes[2], 0, list(zero)) == list(zero.values())
    assert values_on(nodes[2], 0, list(two)[10:]) == [None] * 30


def test_an_anti_entropy_round_refills_database_2(
    redis_nodes: StartNodes, proxies: list[ProxyProcess]
) -> None:
    nodes = redis_nodes(3, extra_args=DURABLE)
    proxies.append(proxy := start_proxy(nodes, "--max-hint-bytes", "1"))  # no room for hints
    write(proxy, 0, in_db(0, 5))
    nodes[2].kill()
    two = in_db(2, 30)
    write(proxy, 2, two)
    nodes[2].restart()
    assert values_on(nodes[2], 2, list(two)) == [None] * 30
    round_ = subprocess.run(
        [str(LEADERLESS), "anti-entropy", "--once", *(f"--node={n.url}" for n in nodes)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "converged" in round_.stdout and "NOT converged" not in round_.stdout
    assert values_on(nodes[2], 2, list(two)) == list(two.values())
    assert (
        values_on(nodes[2], 0, list(two))
        == [b"db0-0", b"db0-1", b"db0-2", b"db0-3", b"db0-4"] + [None] * 25
    )


def test_a_replica_serving_fewer_databases_is_kept_down_and_says_why(
    redis_nodes: StartNodes, proxies: list[ProxyProcess]
) -> None:
    nodes = [*redis_nodes(2), *redis_nodes(1, extra_args=["--databases", "4"])]
    proxies.append(proxy := start_proxy(nodes))
    reason = f"replica 127.0.0.1:{nodes[2].port} is down: it does not serve 16 databases"
    assert wait_for(lambda: reason in proxy.output.text())
    write(proxy, 5, {"k": b"five"})  # the other two make the quorum
    assert values_on(nodes[0], 5, ["k"]) == [b"five"]
