"""Scripts and functions through proxies: redis-py's Lock (sync and asyncio, and its
exclusion among one proxy's clients), a script's writes reaching the replicas together at its
end, each proxy's own script cache, libraries visible through every proxy, DUMP and RESTORE,
redis-py's own lock, scripting and function tests, the time limit, SCRIPT KILL and FUNCTION
KILL."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
import redis
import redis.asyncio
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record, decode_record

from tests.integration.conftest import Cluster, start_proxy
from tests.integration.test_compat_scripting import ECHO_LIBRARY, READER_LIBRARY, WRITER_LIBRARY
from tests.integration.test_redis_py_suite import SUITE, run_suite
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def test_redis_py_lock_acquires_extends_reacquires_and_releases(shared_cluster: Cluster) -> None:
    with shared_cluster.client() as client, shared_cluster.client() as other:
        client.flushall()
        lock = client.lock("resource", timeout=5)
        assert lock.acquire(blocking=False)
        assert not other.lock("resource", timeout=5).acquire(blocking=False)
        assert lock.owned()
        assert lock.extend(10)
        assert 10_000 < client.pttl("resource") <= 15_000
        assert lock.reacquire()
        assert 4_000 < client.pttl("resource") <= 5_000
        assert lock.extend(20, replace_ttl=True)
        assert 19_000 < client.pttl("resource") <= 20_000
        lock.release()
        assert client.exists("resource") == 0
        taken = client.lock("resource", timeout=5)
        assert taken.acquire(blocking=False)
        other.set("resource", "someone else's token")
        with pytest.raises(redis.exceptions.LockNotOwnedError):
            taken.extend(1)
        with pytest.raises(redis.exceptions.LockNotOwnedError):
            taken.release()
        assert other.get("resource") == b"someone else's token"


def test_redis_py_lock_blocks_until_the_holders_lock_expires(shared_cluster: Cluster) -> None:
    with shared_cluster.client() as client, shared_cluster.client() as other:
        client.flushall()
        held = client.lock("resource", timeout=0.5)
        assert held.acquire()
        waiting = other.lock("resource", timeout=5, blocking_timeout=5)
        assert waiting.acquire()
        with pytest.raises(redis.exceptions.LockNotOwnedError):
            held.release()
        assert waiting.owned()
        waiting.release()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_asyncio_lock(shared_cluster: Cluster, protocol: int) -> None:
    async def use_lock() -> list[object]:
        client = redis.asyncio.Redis(port=shared_cluster.proxy.port, protocol=protocol)
        try:
            await client.flushall()
            lock = client.lock("resource", timeout=5)
            steps: list[object] = [await lock.acquire(blocking=False)]
            steps.append(await client.lock("resource").acquire(blocking=False))
            steps.append(await lock.extend(5))
            steps.append(await lock.reacquire())
            await lock.release()
            steps.append(await client.exists("resource"))
            return steps
        finally:
            await client.aclose()

    assert asyncio.run(use_lock()) == [True, False, True, True, 0]


BUSY_THEN_WRITE = """
redis.call('set', 'a', '1')
redis.call('set', 'b', '2')
local started = os.clock()
while os.clock() - started < 0.5 do end
redis.call('set', 'c', '3')
return redis.call('mget', 'a', 'b', 'c')
"""


def test_a_scripts_writes_reach_the_replicas_together_when_it_ends(
    shared_cluster: Cluster,
) -> None:
    """The script writes a and b, computes for half a second, then writes c: no replica has a
    while it computes (written command by command, a would be there within milliseconds)."""
    with shared_cluster.client() as client:
        client.flushall()
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            running = pool.submit(client.eval, BUSY_THEN_WRITE, 0)
            early_polls = 0
            replicas = [node.client() for node in shared_cluster.nodes]
            try:
                while time.monotonic() < started + 0.4:
                    assert all(replica.get(b"a") is None for replica in replicas)
                    early_polls += 1
            finally:
                for replica in replicas:
                    replica.close()
            assert running.result() == [b"1", b"2", b"3"]
        assert early_polls > 10
        assert wait_for(
            lambda: all(
                stored(node, key) is not None
                for node in shared_cluster.nodes
                for key in (b"a", b"b", b"c")
            )
        )
        stamps = sorted(stored_stamp(shared_cluster.nodes[0], key) for key in (b"a", b"b", b"c"))
        assert stamps[2].physical_ms - stamps[0].physical_ms < 100


def stored(node: LocalRedisNode, key: bytes) -> Record | None:
    with node.client() as raw:
        found = raw.get(key)
    return None if found is None else decode_record(found)


def stored_stamp(node: LocalRedisNode, key: bytes) -> Timestamp:
    record = stored(node, key)
    assert record is not None
    return record.ts


def test_a_script_loaded_through_one_proxy_is_unknown_to_another(shared_cluster: Cluster) -> None:
    second = start_proxy(shared_cluster.nodes)
    try:
        with shared_cluster.client() as first_client, second.client() as second_client:
            sha = first_client.script_load("return 'loaded here'")
            assert first_client.evalsha(sha, 0) == b"loaded here"
            with pytest.raises(redis.exceptions.NoScriptError):
                second_client.evalsha(sha, 0)
            assert second_client.register_script("return 'loaded here'")() == b"loaded here"
            assert second_client.script_exists(sha) == [True]
    finally:
        second.stop()


def race(start: threading.Barrier, client: redis.Redis) -> bool:
    start.wait()
    return bool(client.set("resource", "token", nx=True, px=10_000))


def test_set_nx_racing_on_one_proxy_has_one_winner(shared_cluster: Cluster) -> None:
    clients = [shared_cluster.client() for _ in range(8)]
    try:
        for trial in range(10):
            clients[0].delete("resource")
            start = threading.Barrier(len(clients))
            with ThreadPoolExecutor(len(clients)) as pool:
                winners = sum(pool.map(partial(race, start), clients))
            assert winners == 1, f"trial {trial}: {winners} clients acquired"
    finally:
        for client in clients:
            client.close()


def test_redis_py_lock_excludes_the_clients_of_one_proxy(shared_cluster: Cluster) -> None:
    holders: list[int] = []
    most = [0]
    guard = threading.Lock()

    def work(index: int) -> None:
        with shared_cluster.client() as client:
            for _ in range(3):
                with client.lock("resource", timeout=5, sleep=0.01, blocking_timeout=20):
                    with guard:
                        holders.append(index)
                        most[0] = max(most[0], len(holders))
                    time.sleep(0.01)
                    with guard:
                        holders.remove(index)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert most[0] == 1


def test_a_library_loaded_through_one_proxy_is_called_through_another(
    shared_cluster: Cluster,
) -> None:
    second = start_proxy(shared_cluster.nodes)
    try:
        with shared_cluster.client() as first_client, second.client() as second_client:
            first_client.function_flush()
            assert first_client.function_load(WRITER_LIBRARY) == b"writer"
            assert second_client.fcall("writer", 1, "k", "through the second") == b"OK"
            assert first_client.get("k") == b"through the second"
            listed = second_client.function_list()
            assert [entry[:2] for entry in listed] == [[b"library_name", b"writer"]]
            second_client.function_delete("writer")
            with pytest.raises(redis.ResponseError, match="Function not found"):
                first_client.fcall("writer", 1, "k", "v")
    finally:
        second.stop()


def test_function_dump_restores_through_any_proxy(shared_cluster: Cluster) -> None:
    second = start_proxy(shared_cluster.nodes)
    try:
        with shared_cluster.client() as first_client, second.client() as second_client:
            first_client.function_flush()
            first_client.function_load(ECHO_LIBRARY)
            first_client.function_load(READER_LIBRARY)
            payload = first_client.function_dump()
            second_client.function_flush()
            with pytest.raises(redis.ResponseError, match="Function not found"):
                first_client.fcall("echo_keys", 1, "k", "a")
            assert second_client.function_restore(payload)
            assert first_client.fcall("echo_keys", 1, "k", "a") == [b"k", b"a"]
            with pytest.raises(redis.ResponseError, match="Library 'echo' already exists"):
                second_client.function_restore(payload)
            assert second_client.function_restore(payload, "REPLACE")
            with pytest.raises(redis.ResponseError, match="payload version or checksum"):
                second_client.function_restore(payload[:-1] + b"x")
    finally:
        second.stop()


REDIS_PY_SCRIPT_TESTS = ["tests/test_lock.py", "tests/test_scripting.py", "tests/test_function.py"]
REDIS_PY_DIVERGENT: dict[str, str] = {}
"""redis-py's tests of locks, scripts and functions that pass on the reference but not through
the proxy: the reason."""


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_lock_script_and_function_tests_pass_through_the_proxy(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int, tmp_path: Path
) -> None:
    if not (SUITE / REDIS_PY_SCRIPT_TESTS[0]).exists():
        pytest.fail(f"redis-py's test suite is not at {SUITE}: run `make dev` to unpack it")
    for port in (shared_reference.port, shared_cluster.proxy.port):
        with redis.Redis(port=port) as client:
            client.function_flush()
    reference = run_suite(
        shared_reference.port, protocol, REDIS_PY_SCRIPT_TESTS, tmp_path / "reference.xml"
    )
    proxy = run_suite(
        shared_cluster.proxy.port, protocol, REDIS_PY_SCRIPT_TESTS, tmp_path / "proxy.xml"
    )
    expected = [name for name, outcome in reference.items() if outcome == "passed"]
    assert len(expected) > 50
    failing = [n for n in expected if proxy.get(n) != "passed" and n not in REDIS_PY_DIVERGENT]
    assert not failing, f"{len(failing)} of {len(expected)} fail through the proxy: {failing}"
    assert all(proxy.get(name) != "passed" for name in REDIS_PY_DIVERGENT), "stale divergence"


def test_a_script_past_the_time_limit_is_stopped_and_the_proxy_serves_again(
    shared_cluster: Cluster,
) -> None:
    """A proxy with a 300 ms limit: another client's GET, sent while the endless script runs,
    waits for it and then sees the write the script made before its loop."""
    limited = start_proxy(shared_cluster.nodes, "--script-time-limit-ms", "300")
    try:
        with limited.client() as client, limited.client() as other:
            client.flushall()
            with ThreadPoolExecutor(1) as pool:
                started = time.monotonic()
                looping = pool.submit(
                    client.eval, "redis.call('set', 'before', '1') while true do end", 0
                )
                assert wait_for(
                    lambda: any(entry["cmd"] == "eval" for entry in other.client_list())
                )
                assert other.get("before") == b"1"
                waited = time.monotonic() - started
                with pytest.raises(redis.ResponseError) as stopped:
                    looping.result()
            assert str(stopped.value).startswith(
                "Script killed: it ran longer than the proxy's script time limit script: "
            )
            assert 0.3 <= waited < 5
            assert client.eval("return 1", 0) == 1
    finally:
        limited.stop()


def kill(client: redis.Redis, container: str) -> str:
    """SCRIPT KILL or FUNCTION KILL's reply, an error's text included."""
    try:
        reply = client.execute_command(container, "KILL")
    except redis.ResponseError as error:
        return str(error)
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def busy(client: redis.Redis, container: str) -> str:
    """`kill`'s reply once a script runs (until then, it is NOTBUSY)."""
    replies: list[str] = []
    assert wait_for(
        lambda: not replies.append(kill(client, container)) and "NOTBUSY" not in replies[-1]
    )
    return replies[-1]


def test_script_kill_and_function_kill_stop_the_one_running(shared_cluster: Cluster) -> None:
    limited = start_proxy(shared_cluster.nodes, "--script-time-limit-ms", "2000")
    try:
        with limited.client() as client, limited.client() as other:
            client.flushall()
            client.function_flush()
            client.function_load(
                "#!lua name=spin\nredis.register_function('spin', function() while true do end end)"
            )
            with ThreadPoolExecutor(1) as pool:
                looping = pool.submit(client.eval, "while true do end", 0)
                assert "only call SCRIPT KILL" in busy(other, "FUNCTION")
                assert kill(other, "SCRIPT") == "OK"
                with pytest.raises(redis.ResponseError) as killed:
                    looping.result()
            sha = "694a5fe1ddb97a4c6a1bf299d9537c7d3d0f84e7"
            assert str(killed.value) == (
                f"Script killed by user with SCRIPT KILL. script: {sha}, on @user_script:1."
            )
            with ThreadPoolExecutor(1) as pool:
                spinning = pool.submit(client.fcall, "spin", 0)
                assert "only call FUNCTION KILL" in busy(other, "SCRIPT")
                assert kill(other, "FUNCTION") == "OK"
                with pytest.raises(redis.ResponseError) as killed:
                    spinning.result()
            assert str(killed.value) == (
                "Script killed by user with FUNCTION KILL. script: spin, on @user_function:2."
            )
            with pytest.raises(redis.ResponseError, match=r"^NOTBUSY"):
                other.script_kill()
            client.function_flush()
    finally:
        limited.stop()
