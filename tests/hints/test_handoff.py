"""Hinted handoff and the emptied-replica rule through a real proxy over real redis-servers
(N=3, W=2, R=2): a replica that missed writes gets them back without any client read and
without the anti-entropy sidecar, hints survive a proxy killed with SIGKILL, the hint window
and the size limit hold, a paused replica slows no request, and a replica that came back
empty does not count toward reads until it is refilled."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.hint_store import FILE_NAME
from leaderless.replication.record import decode_record
from leaderless.replication.scripts import MEMBERS_KEY

from tests.integration.conftest import LEADERLESS, ProxyProcess, start_proxy
from tests.support.processes import wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration

DURABLE = ["--appendonly", "yes", "--appendfsync", "always"]


def value_on(node: LocalRedisNode, key: str) -> bytes | None:
    with node.client() as client:
        raw = client.get(key)
    if raw is None:
        return None
    record = decode_record(raw)
    return None if record.tombstone else record.value


def holds(node: LocalRedisNode, expected: dict[str, bytes]) -> bool:
    return all(value_on(node, key) == value for key, value in expected.items())


def pending_hints(folder: Path) -> int:
    """Hints committed to the proxy's file (SQLite allows this reader beside the proxy)."""
    with sqlite3.connect(folder / FILE_NAME) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM hints").fetchone()
    return int(count)


def logged(proxy: ProxyProcess, text: str) -> bool:
    return text in proxy.output.text()


@pytest.fixture
def proxies() -> Iterator[list[ProxyProcess]]:
    """Proxies a test starts (append them); each is stopped at teardown."""
    started: list[ProxyProcess] = []
    try:
        yield started
    finally:
        for proxy in started:
            proxy.stop()


def write_many(client: redis.Redis, prefix: str, count: int) -> dict[str, bytes]:
    written = {f"{prefix}{i}": f"value-{prefix}{i}".encode() for i in range(count)}
    for key, value in written.items():
        assert client.set(key, value) is True
    return written


@pytest.mark.parametrize("wiped", [False, True], ids=["with-its-data", "empty"])
def test_a_replica_back_after_missing_writes_gets_them_without_reads(
    redis_nodes: StartNodes, proxies: list[ProxyProcess], tmp_path: Path, wiped: bool
) -> None:
    nodes = redis_nodes(3, extra_args=DURABLE)
    hints = tmp_path / "hints"
    proxies.append(proxy := start_proxy(nodes, "--hints-dir", str(hints)))
    with proxy.client() as client:
        before = write_many(client, "before-", 20)
        assert wait_for(lambda: holds(nodes[2], before))
        nodes[2].kill()
        missed = write_many(client, "missed-", 200)
        assert client.delete("before-0") == 1
        assert wait_for(lambda: pending_hints(hints) == 201)
        nodes[2].restart(wipe=wiped)
        assert wait_for(lambda: pending_hints(hints) == 0)
    assert holds(nodes[2], missed)
    assert value_on(nodes[2], "before-0") is None
    if not wiped:
        assert holds(nodes[2], {k: v for k, v in before.items() if k != "before-0"})


def test_hints_survive_a_proxy_killed_while_a_replica_is_down(
    redis_nodes: StartNodes, proxies: list[ProxyProcess], tmp_path: Path
) -> None:
    nodes = redis_nodes(3, extra_args=DURABLE)
    hints = tmp_path / "hints"
    proxies.append(first := start_proxy(nodes, "--hints-dir", str(hints)))
    nodes[1].kill()
    with first.client() as client:
        missed = write_many(client, "k", 50)
    assert wait_for(lambda: pending_hints(hints) == 50)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    proxies.append(second := start_proxy(nodes, "--hints-dir", str(hints)))
    assert wait_for(lambda: logged(second, "hints: kept in") and logged(second, "50 pending"))
    nodes[1].restart()
    assert wait_for(lambda: pending_hints(hints) == 0)
    assert holds(nodes[1], missed)


def test_no_hints_past_the_window_and_the_replica_is_left_to_anti_entropy(
    redis_nodes: StartNodes, proxies: list[ProxyProcess], tmp_path: Path
) -> None:
    nodes = redis_nodes(3, extra_args=DURABLE)
    hints = tmp_path / "hints"
    proxies.append(proxy := start_proxy(nodes, "--hints-dir", str(hints), "--hint-window-s", "1"))
    nodes[2].kill()
    with proxy.client() as client:
        client.set("first", "hinted")
        late: list[str] = []

        def refused() -> bool:  # writes until one comes after the window has passed
            late.append(f"late-{len(late)}")
            client.set(late[-1], "x")
            return logged(proxy, "down for longer than the hint window")

        assert wait_for(refused)
        # the refused ones (the log may lag a write or two behind the first) are not among
        # them; the others are committed in the background
        stored = 1 + len(late) - int(client.info("leaderless")["hints_dropped"])
        assert stored <= len(late)
        assert wait_for(lambda: pending_hints(hints) == stored)
        nodes[2].restart()
        assert wait_for(lambda: pending_hints(hints) == 0)
    assert value_on(nodes[2], "first") == b"hinted"
    assert value_on(nodes[2], late[-1]) is None
    subprocess.run(
        [str(LEADERLESS), "anti-entropy", "--once", *(f"--node={n.url}" for n in nodes)],
        check=True,
        capture_output=True,
    )
    assert value_on(nodes[2], late[-1]) == b"x"


def test_hints_past_the_size_limit_are_refused(
    redis_nodes: StartNodes, proxies: list[ProxyProcess], tmp_path: Path
) -> None:
    nodes = redis_nodes(3, extra_args=DURABLE)
    hints = tmp_path / "hints"
    limit = ["--max-hint-bytes", "2000"]  # room for about 25 of these hints
    proxies.append(proxy := start_proxy(nodes, "--hints-dir", str(hints), *limit))
    nodes[2].kill()
    with proxy.client() as client:
        written = write_many(client, "k", 60)
    assert logged(proxy, "hints at their size limit")
    kept = pending_hints(hints)
    assert 0 < kept < 60
    nodes[2].restart()
    assert wait_for(lambda: pending_hints(hints) == 0)
    held = [key for key in written if value_on(nodes[2], key) is not None]
    assert held == list(written)[:kept]  # the oldest were kept, the newest refused


def test_a_paused_replica_slows_no_request_and_catches_up_after(
    redis_nodes: StartNodes, proxies: list[ProxyProcess], tmp_path: Path
) -> None:
    nodes = redis_nodes(3)
    proxies.append(proxy := start_proxy(nodes, "--hints-dir", str(tmp_path / "hints")))
    nodes[0].pause()
    try:
        with proxy.client() as client:  # its socket timeout (10 s) bounds every request
            written = write_many(client, "k", 100)
            assert client.mget(list(written)) == list(written.values())
    finally:
        nodes[0].resume()
    assert wait_for(lambda: holds(nodes[0], written))


def test_a_replica_back_empty_does_not_count_toward_reads_until_refilled(
    redis_nodes: StartNodes, proxies: list[ProxyProcess], tmp_path: Path
) -> None:
    """N=3 W=2 R=2: a write acknowledged by A and B; B comes back empty; a read from B and C
    must not miss it. C missed the write and gets no hint (no room for hints here)."""
    a, b, c = nodes = redis_nodes(3, extra_args=DURABLE)
    proxies.append(proxy := start_proxy(nodes, "--max-hint-bytes", "1"))
    # Each replica must know itself (its mark made durable) before one is killed, or a restart
    # that keeps its data would look like one that lost it.
    assert wait_for(lambda: all(knows_itself(node) for node in nodes))
    with proxy.client() as client:
        c.kill()
        assert client.set("k", "acknowledged") is True
        c.restart()
        assert wait_for(lambda: client.info("leaderless")["node2"]["state"] == "up")
        a.kill()
        b.restart(wipe=True)
        assert wait_for(lambda: logged(proxy, f"replica 127.0.0.1:{b.port} lost its data"))
        advice = f"replica 127.0.0.1:{b.port} is recovering .* run `leaderless anti-entropy"
        with pytest.raises(redis.ResponseError, match=advice):
            client.get("k")  # never None: B does not count, and A is down
        assert client.set("during", "recovery") is True  # B takes writes meanwhile
        assert wait_for(lambda: value_on(b, "during") == b"recovery")
        a.restart()
        assert wait_for(lambda: _answers(client, "k") == b"acknowledged")
        subprocess.run(
            [str(LEADERLESS), "anti-entropy", "--once", *(f"--node={n.url}" for n in nodes)],
            check=True,
            capture_output=True,
        )
        assert value_on(b, "k") == b"acknowledged"
        a.kill()  # B and C now answer reads together, from the very next read on
        assert client.get("k") == b"acknowledged"
        # the proxy has logged it; its output is read by another thread
        assert wait_for(lambda: logged(proxy, f"replica 127.0.0.1:{b.port} is refilled"))


def test_a_new_cluster_is_never_held_back(
    redis_nodes: StartNodes, proxies: list[ProxyProcess]
) -> None:
    nodes = redis_nodes(3)
    proxies.append(proxy := start_proxy(nodes))
    with proxy.client() as client:
        client.set("k", "v")
        nodes[0].kill()  # reads now need both of the others
        assert client.get("k") == b"v"
    assert not logged(proxy, "lost its data")


def knows_itself(node: LocalRedisNode) -> bool:
    with node.client() as raw:
        return bool(raw.hexists(MEMBERS_KEY, f"127.0.0.1:{node.port}"))


def _answers(client: redis.Redis, key: str) -> bytes | None:
    try:
        value: bytes | None = client.get(key)
    except redis.ResponseError:
        return None
    return value
