"""Proxies whose wall clocks disagree, in front of the same three real redis-servers (N=3, W=2,
R=2): last-write-wins by hybrid logical clock must still keep every acknowledged write.

A client that writes through one proxy and then through another expects the second write to
win. Within `max_clock_offset_ms` the lagging proxy's write is refused by the replicas, looks at
the newer version that blocked it and goes again above it (Coordinator.write). Beyond the bound
the lagging proxy must not adopt the far-future timestamp (that would drag its clock, and every
clock it talks to, into the future): the write fails with an error instead, and is never
acknowledged and then invisible. The clocks are injected into in-process proxies
(tests/clock/proxies.py); the test steps them between writes.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record, decode_record
from leaderless.replication.scripts import INTERNAL_PREFIX

from tests.anti_entropy.support import load_scripts, write
from tests.clock.proxies import (
    CLOCK_ERROR,
    RunningProxy,
    SkewedClock,
    real_ms,
    replica_clients,
    running_proxies,
    stored_records,
    stored_version_of,
)
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration

ROUNDS = 200
Values = dict[bytes, bytes | None]


def attempt(client: redis.Redis, operation: str, keys: Sequence[bytes], value: bytes) -> bool:
    """Run one write; True if acknowledged, False if refused because a key holds a version
    from a clock too far ahead (any other error fails the test)."""
    try:
        if operation == "set":
            (key,) = keys
            assert client.set(key, value) is True
        elif operation == "mset":
            assert client.mset(dict.fromkeys(keys, value)) is True
        else:
            assert operation == "del"
            client.delete(*keys)
    except redis.ResponseError as error:
        assert CLOCK_ERROR in str(error)
        return False
    return True


def effect(operation: str, keys: Sequence[bytes], value: bytes) -> Values:
    return dict.fromkeys(keys, None if operation == "del" else value)


def assert_reads(clients: Sequence[redis.Redis], expected: Values) -> None:
    for client in clients:
        for key, value in expected.items():
            assert client.get(key) == value, key


def restamped_writes(proxy: RunningProxy) -> int:
    with proxy.client() as client:
        return int(client.info("leaderless")["restamped_writes"])


def stamps_by(nodes: Sequence[LocalRedisNode], proxy_id: int) -> list[Record]:
    """Every record on every replica that `proxy_id` stamped."""
    found = []
    with replica_clients(nodes) as replicas:
        for replica in replicas:
            keys = [k for k in replica.scan_iter(count=1000) if not k.startswith(INTERNAL_PREFIX)]
            found += [decode_record(raw) for raw in replica.mget(keys) if isinstance(raw, bytes)]
    return [record for record in found if record.ts.node == proxy_id]


def test_writes_in_turn_through_proxies_skewed_within_the_bound_are_never_lost(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(3)
    clocks = [SkewedClock(+300), SkewedClock(-150)]
    with running_proxies(nodes, clocks) as proxies:
        with proxies[0].client() as ahead, proxies[1].client() as behind:
            for round_ in range(ROUNDS):
                writers = (ahead, behind) if round_ % 2 == 0 else (behind, ahead)
                for turn, writer in enumerate(writers):
                    value = b"%d:%d" % (round_, turn)
                    assert writer.set(b"k", value) is True
                assert_reads((ahead, behind), {b"k": value})
        assert restamped_writes(proxies[1]) > 0  # its writes met newer versions and went again


def test_a_pipelined_run_of_writes_restamps_only_the_refused_ones(
    redis_nodes: StartNodes,
) -> None:
    """The writes of one pipeline share a round: those the replicas refuse (their keys hold a
    version from the proxy ahead) go again on their own, the others are acknowledged at once."""
    nodes = redis_nodes(3)
    with running_proxies(nodes, [SkewedClock(+300), SkewedClock(-150)]) as proxies:
        with proxies[0].client() as ahead, proxies[1].client() as behind:
            held = [b"held-%d" % i for i in range(50)]
            fresh = [b"fresh-%d" % i for i in range(50)]
            for key in held:
                assert ahead.set(key, b"old") is True
            pipe = behind.pipeline(transaction=False)
            for pair in zip(held, fresh, strict=True):
                for key in pair:
                    pipe.set(key, b"new")
            assert pipe.execute() == [True] * 100
            assert_reads((ahead, behind), dict.fromkeys(held + fresh, b"new"))
        assert restamped_writes(proxies[1]) == len(held)


def test_a_write_through_a_proxy_seconds_behind_is_applied_or_fails_never_lost(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(3)
    ahead_clock, behind_clock = SkewedClock(+5000), SkewedClock(-5000)
    operations = ("set", "mset", "del")
    with running_proxies(nodes, [ahead_clock, behind_clock]) as proxies:
        behind_proxy = proxies[1]
        refused_before = behind_proxy.refused_clock_observations()
        with proxies[0].client() as ahead, behind_proxy.client() as behind:
            for round_ in range(ROUNDS):
                operation = operations[round_ % len(operations)]
                keys = [b"r%d:%s" % (round_, name) for name in (b"a", b"b")]
                if operation == "set":
                    keys = keys[:1]
                first, second = (ahead, behind) if round_ % 2 == 0 else (behind, ahead)
                assert attempt(first, "mset", keys, b"%d:first" % round_)
                expected = effect("mset", keys, b"%d:first" % round_)
                acknowledged = attempt(second, operation, keys, b"%d:second" % round_)
                # 10 s apart: the proxy behind always loses to the one ahead, and says so
                assert acknowledged == (second is ahead)
                if acknowledged:
                    expected = effect(operation, keys, b"%d:second" % round_)
                assert_reads((ahead, behind), expected)
            for index in range(10):
                assert behind.set(b"after:%d" % index, b"fresh") is True
        assert behind_proxy.refused_clock_observations() > refused_before
    latest_allowed = real_ms() - 5000 + 500  # its wall clock plus the most it may accept
    stamped_behind = stamps_by(nodes, behind_proxy.proxy_id)
    assert any(record.value == b"fresh" for record in stamped_behind)
    assert all(record.ts.physical_ms <= latest_allowed for record in stamped_behind)


def test_clock_steps_never_move_stamps_backwards_nor_lose_writes(redis_nodes: StartNodes) -> None:
    """One proxy's wall clock steps forward 2 s, then back 3 s; the other's stays true. Each
    proxy writes a key of its own, which nothing can block, so every such write must be
    acknowledged, and a key both write, where a write may fail only with the clock error."""
    nodes = redis_nodes(3)
    stepped = SkewedClock(0)
    stamps: list[list[Timestamp]] = [[], []]
    with (
        running_proxies(nodes, [stepped, SkewedClock(0)]) as proxies,
        replica_clients(nodes) as replicas,
    ):
        clients = [proxy.client() for proxy in proxies]
        try:
            latest: bytes | None = None
            for phase, offset_ms in enumerate((0, +2000, -1000)):  # forward 2 s, back 3 s
                stepped.offset_ms = offset_ms
                for round_ in range(ROUNDS // 2):
                    order = (0, 1) if round_ % 2 == 0 else (1, 0)
                    for writer in order:
                        value = b"%d:%d:%d" % (phase, round_, writer)
                        own = b"own:%d" % writer
                        written = [own]
                        assert attempt(clients[writer], "set", [own], value)
                        if attempt(clients[writer], "set", [b"shared"], value):
                            latest = value
                            written.append(b"shared")
                        for key in written:
                            ts = stored_version_of(replicas, key, value).ts
                            if stamps[writer]:
                                assert ts > stamps[writer][-1], f"proxy {writer} went back"
                            stamps[writer].append(ts)
                        if writer == 0 and offset_ms < 0 and round_ == 0:
                            assert stamps[0][-1].physical_ms > stepped()  # held, not stepped
                    assert_reads(clients, {b"shared": latest})
        finally:
            for client in clients:
                client.close()


def test_a_version_stamped_an_hour_ahead_is_read_but_never_adopted(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(3)
    future = Record(Timestamp(real_ms() + 3_600_000, 0, 999), False, 0, b"from the future")
    with replica_clients(nodes) as replicas:
        for replica in replicas:
            load_scripts(replica)
            assert write(replica, b"k", future) == 1
        with running_proxies(nodes, [SkewedClock(0)]) as (proxy,), proxy.client() as client:
            refused_before = proxy.refused_clock_observations()
            assert client.get(b"k") == b"from the future"
            assert proxy.refused_clock_observations() > refused_before
            assert client.set(b"other", b"now") is True
            assert stored_version_of(replicas, b"other", b"now").ts.physical_ms <= real_ms() + 500
            for operation in ("set", "del"):
                assert not attempt(client, operation, [b"k"], b"lost?")
            assert client.get(b"k") == b"from the future"
        assert stored_records(replicas, b"k") == [future] * 3


def test_expiry_is_judged_by_the_proxys_own_clock(redis_nodes: StartNodes) -> None:
    """A proxy computes and checks expiry with the clock it stamps with. (The replicas drop a
    record at its absolute expiry plus the grace, by their own clocks; a proxy ahead of real
    time is shown judging differently: here one runs a minute ahead.)"""
    nodes = redis_nodes(3)
    with (
        running_proxies(nodes, [SkewedClock(+60_000), SkewedClock(0)]) as (ahead_proxy, proxy),
        ahead_proxy.client() as ahead,
        proxy.client() as real,
    ):
        assert real.set(b"real", b"v", px=30_000) is True
        assert real.get(b"real") == b"v"
        assert 0 < real.pttl(b"real") <= 30_000
        assert ahead.get(b"real") is None  # expired, by the clock a minute ahead
        assert ahead.pttl(b"real") == -2
        assert ahead.set(b"ahead", b"v", px=30_000) is True
        assert 0 < ahead.pttl(b"ahead") <= 30_000
        assert real.pttl(b"ahead") > 60_000
