"""`leaderless anti-entropy` against real redis-servers: convergence in one round after a node
restarted empty, after divergence on every replica, with two sidecars, with a sidecar killed
mid-round, and with writes and deletes landing during a round; and the two rate limits, keys
scanned and keys compared or repaired, each holding its own work back."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.merkle import range_of, segment_field, segment_of
from leaderless.replication.record import decode_record, encode_record
from leaderless.replication.scripts import (
    ANTI_ENTROPY_KEY,
    LEASES_KEY,
    TAKE_LEASE,
    WRITE_IF_NEWER,
    write_if_newer_args,
)

from tests.anti_entropy.support import (
    EXPIRED_GRACE_MS,
    LEADERLESS,
    contents,
    deletion,
    digests_are_true,
    load_scripts,
    now_ms,
    records,
    run_once,
    value,
    write,
)
from tests.integration.conftest import start_proxy
from tests.support.processes import LineReader, wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration


def clients(nodes: list[LocalRedisNode]) -> list[redis.Redis]:
    result = [node.client() for node in nodes]
    for client in result:
        load_scripts(client)
    return result


def assert_converged(nodes: list[LocalRedisNode]) -> dict[bytes, bytes]:
    held = []
    for node in nodes:
        with node.client() as client:
            assert digests_are_true(client)
            held.append(contents(client))
    assert all(content == held[0] for content in held[1:])
    return held[0]


def test_a_node_restarted_empty_is_refilled_in_one_round(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(3)
    proxy = start_proxy(nodes)
    try:
        with proxy.client() as client:
            client.mset({f"k{i}": f"v{i}" for i in range(300)})
            assert run_once(nodes).returncode == 0  # marks every replica as synced
            nodes[2].kill()
            for i in range(0, 300, 2):
                client.set(f"k{i}", f"new{i}")
            client.delete(*[f"k{i}" for i in range(1, 300, 10)])
            nodes[2].restart(wipe=True)
            result = run_once(nodes)
            assert result.returncode == 0, result.stderr
            assert "converged" in result.stdout
            assert "emptied since last sync: " + nodes[2].address.endpoint in result.stdout
            held = assert_converged(nodes)
            assert len(held) == 300  # tombstones included
            for i in range(300):
                expected = None if i % 10 == 1 else (f"new{i}" if i % 2 == 0 else f"v{i}")
                got = client.get(f"k{i}")
                assert got == (expected.encode() if expected else None), i
    finally:
        proxy.stop()


def test_divergence_on_every_replica_converges_in_one_round(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(3)
    conns = clients(nodes)
    t = now_ms()
    newest: dict[bytes, object] = {}
    for i in range(600):
        key = b"key%d" % i
        old, new = value(t, b"old%d" % i), value(t + 1, b"new%d" % i)
        stale, missing = i % 3, (i + 1) % 3  # each replica is stale on some, missing others
        for r, conn in enumerate(conns):
            if r == stale:
                write(conn, key, old)
            elif r != missing:
                write(conn, key, new)
        newest[key] = new
    write(conns[0], b"gone", deletion(t + 5))
    write(conns[1], b"gone", value(t, b"zombie"))
    write(conns[2], b"ttl", value(t, b"soon", expires_at_ms=t + 3_600_000))
    result = run_once(nodes)
    assert result.returncode == 0, result.stderr
    held = assert_converged(nodes)
    for key, record in newest.items():
        assert decode_record(held[key]) == record
    assert decode_record(held[b"gone"]).tombstone
    assert decode_record(held[b"ttl"]).value == b"soon"
    again = run_once(nodes)
    assert "ranges differing 0, keys scanned 0, keys compared 0, keys repaired 0" in again.stdout
    with nodes[0].client() as client:
        assert int(client.hget(ANTI_ENTROPY_KEY, "rounds")) == 2
        assert int(client.hget(ANTI_ENTROPY_KEY, "keys_repaired")) > 0
        assert int(client.hget(ANTI_ENTROPY_KEY, "keys_scanned")) >= len(newest)


def test_two_sidecars_at_once_both_finish_converged(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(3)
    conns = clients(nodes)
    t = now_ms()
    for i in range(3000):
        write(conns[i % 3], b"k%d" % i, value(t, b"v"))
    args = [str(LEADERLESS), "anti-entropy", "--once", "--max-keys-per-s", "20000"]
    for node in nodes:
        args += ["--node", node.url]
    sidecars = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [sidecar.communicate(timeout=120)[0] for sidecar in sidecars]
    assert [sidecar.returncode for sidecar in sidecars] == [0, 0], outputs
    held = assert_converged(nodes)
    assert len(held) == 3000


def test_a_killed_sidecars_segments_are_taken_over(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(3)
    conns = clients(nodes)
    t = now_ms()
    for i in range(4000):
        write(conns[0], b"k%d" % i, value(t, b"v"))
    args = [str(LEADERLESS), "anti-entropy", "--once", "--max-keys-per-s", "500"]
    args += ["--lease-ms", "1000"]
    for node in nodes:
        args += ["--node", node.url]
    slow = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert slow.stdout is not None
        LineReader(slow.stdout).wait_for_line("anti-entropy: ")  # it has repaired a segment
        assert wait_for(lambda: conns[0].hlen(LEASES_KEY) > 0)
    finally:
        slow.send_signal(signal.SIGKILL)
        slow.wait()
    assert conns[0].hlen(LEASES_KEY) > 0  # the killed sidecar's lease is still there
    result = run_once(nodes)
    assert result.returncode == 0, result.stderr
    assert len(assert_converged(nodes)) == 4000


def test_a_segment_leased_by_a_dead_sidecar_is_finished_after_the_lease(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(3)
    conns = clients(nodes)
    write(conns[1], b"k", value(now_ms(), b"v"))
    segment = segment_field(segment_of(range_of(b"k")))
    for conn in conns:
        assert conn.evalsha(TAKE_LEASE.sha, 0, segment, "dead-sidecar", 1500) == 1
    result = run_once(nodes)
    assert result.returncode == 0, result.stderr
    assert len(assert_converged(nodes)) == 1


def test_writes_and_deletes_during_a_round_are_never_undone_by_older_data(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(3)
    conns = clients(nodes)
    t = now_ms()
    keys = [b"k%d" % i for i in range(2000)]
    for key in keys:
        write(conns[0], key, value(t, b"old"))
    args = [str(LEADERLESS), "anti-entropy", "--once", "--max-keys-per-s", "2000"]
    for node in nodes:
        args += ["--node", node.url]
    sidecar = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        for i, key in enumerate(keys):  # newer versions race with the repairs of the same keys
            newer = deletion(t + 1) if i % 3 == 0 else value(t + 1, b"new")
            for conn in conns:
                write(conn, key, newer)
                write(conn, b"added%d" % i, value(t, b"added"))
    finally:
        sidecar.communicate(timeout=120)
    for conn in conns:
        held = records(conn)
        assert len(held) == 2 * len(keys)
        for i, key in enumerate(keys):
            assert held[key].tombstone if i % 3 == 0 else held[key].value == b"new"
    assert_converged(nodes)


def test_once_fails_while_a_replica_is_down(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(3)
    nodes[2].kill()
    result = run_once(nodes)
    assert result.returncode == 1
    assert "NOT converged: 2/3 replicas" in result.stdout


def test_a_missed_flush_reaches_every_replica(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(2)
    conns = clients(nodes)
    t = now_ms()
    for conn in conns:
        write(conn, b"before", value(t, b"v"))
    from leaderless.replication.hlc import Timestamp
    from leaderless.replication.scripts import FLUSH

    conns[0].evalsha(FLUSH.sha, 0, Timestamp(t + 1, 0, 1).pack())
    result = run_once(nodes)
    assert result.returncode == 0, result.stderr
    assert assert_converged(nodes) == {}


def one_key_newer_among(nodes: list[LocalRedisNode], count: int) -> None:
    """`count` keys on every replica, one of them newer on replica 0 only: a scan of the whole
    keyspace finds one range that differs, holding about one key."""
    conns = clients(nodes)
    t = now_ms()
    for conn in conns:
        pipe = conn.pipeline(transaction=False)
        for i in range(count):
            key = b"k%d" % i
            encoded = encode_record(value(t, b"v"), range_of(key))
            pipe.evalsha(
                WRITE_IF_NEWER.sha, 1, key, *write_if_newer_args([key], [encoded], EXPIRED_GRACE_MS)
            )
        pipe.execute()
    write(conns[0], b"k0", value(t + 1, b"newer"))


def scanned_and_seconds(summary: str) -> tuple[int, float]:
    found = re.search(r"keys scanned (\d+).* ([\d.]+) s$", summary.strip())
    assert found is not None, summary
    return int(found.group(1)), float(found.group(2))


def test_keys_scanned_do_not_count_against_the_keys_compared_limit(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(3)
    one_key_newer_among(nodes, 3000)
    result = run_once(nodes, "--max-keys-per-s", "100")
    assert result.returncode == 0, result.stderr
    scanned, seconds = scanned_and_seconds(result.stdout)
    assert scanned >= 3000
    assert seconds < 10  # the scan alone would take 30 s at 100 keys/s
    assert_converged(nodes)


def test_keys_scanned_count_against_their_own_limit(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(3)
    one_key_newer_among(nodes, 3000)
    result = run_once(nodes, "--max-scan-keys-per-s", "1000")
    assert result.returncode == 0, result.stderr
    scanned, seconds = scanned_and_seconds(result.stdout)
    assert scanned >= 3000
    assert seconds >= scanned / 1000 - 0.1 - 0.05  # the burst allowed, and rounding to 0.01 s
    assert_converged(nodes)
