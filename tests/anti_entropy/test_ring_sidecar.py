"""The sidecar over a ring of 5 real redis-servers with N=3: every key ends on exactly its
owners with the newest version they held, a newer stray copy on a non-owner is neither a
source nor a target, a round with no difference reads each backend's own digests and scans
nothing, an emptied node is refilled with its own ranges, a down node holds back only the marks
of the nodes it shares ranges with, a part's lease is judged by its owners, and `leaderless
anti-entropy --n 3` over 5 nodes compares on the configured ring."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import pytest
import redis
from leaderless.config.settings import AntiEntropySettings, ReplicationSettings
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.anti_entropy import DIGEST_BATCH, AntiEntropy, RoundReport
from leaderless.replication.backend import Backend
from leaderless.replication.merkle import range_of
from leaderless.replication.placement import Placement
from leaderless.replication.range_owners import RangeOwners
from leaderless.replication.record import Record
from leaderless.replication.ring import Ring, RingNode
from leaderless.replication.scripts import ANTI_ENTROPY_KEY, TAKE_LEASE

from tests.anti_entropy.support import (
    EXPIRED_GRACE_MS,
    deletion,
    digests_are_true,
    load_scripts,
    now_ms,
    records,
    run_once,
    value,
    write,
)
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration
TOMBSTONE_GRACE_MS = ReplicationSettings().tombstone_grace_s * 1000


def ring_of(nodes: Sequence[LocalRedisNode]) -> Placement:
    names = [node.address.endpoint for node in nodes]
    ring = Ring([RingNode(name) for name in names])
    return Placement(ring, 3, {name: index for index, name in enumerate(names)})


def clients(nodes: Sequence[LocalRedisNode]) -> list[redis.Redis]:
    result = [node.client() for node in nodes]
    for client in result:
        load_scripts(client)
    return result


async def rounds(
    nodes: Sequence[LocalRedisNode], placement: Placement, sidecars: int = 1
) -> list[RoundReport]:
    """One round of each of `sidecars` sidecars, all at once, each with its own connections."""
    fleets = [
        [Backend(i, node.address, connect_timeout_s=5) for i, node in enumerate(nodes)]
        for _ in range(sidecars)
    ]
    every = [backend for fleet in fleets for backend in fleet]
    try:
        await asyncio.gather(*(backend.connect() for backend in every))
        return list(
            await asyncio.gather(
                *(
                    AntiEntropy(
                        fleet,
                        AntiEntropySettings(),
                        tombstone_grace_ms=TOMBSTONE_GRACE_MS,
                        expired_grace_ms=EXPIRED_GRACE_MS,
                        wall_ms=now_ms,
                        placement=placement,
                    ).run_round(finish_leased=True)
                    for fleet in fleets
                )
            )
        )
    finally:
        for backend in every:
            await backend.close()


def one_round(nodes: Sequence[LocalRedisNode], placement: Placement) -> RoundReport:
    (report,) = asyncio.run(rounds(nodes, placement))
    return report


def diverge(
    conns: list[redis.Redis], placement: Placement, count: int
) -> list[dict[bytes, Record]]:
    """`count` keys whose owners disagree: the newest version (a deletion for some) on one
    owner, an older one on another, none on the third; every fifth key also has a newer stray
    copy on a non-owner. Returns what each node should hold after a round."""
    t = now_ms()
    expected: list[dict[bytes, Record]] = [{} for _ in conns]
    for i in range(count):
        key = b"key%d" % i
        owners = placement.owners_of(key)
        newest = deletion(t + 1) if i % 7 == 0 else value(t + 1, b"new%d" % i)
        write(conns[owners[i % 3]], key, newest)
        write(conns[owners[(i + 1) % 3]], key, value(t, b"old%d" % i))
        for position in owners:
            expected[position][key] = newest
        if i % 5 == 0:
            stranger = next(p for p in range(len(conns)) if p not in owners)
            stray = value(t + 2, b"stray%d" % i)
            write(conns[stranger], key, stray)
            expected[stranger][key] = stray
    return expected


def test_every_key_ends_on_exactly_its_owners_with_their_newest_version(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(5)
    placement = ring_of(nodes)
    conns = clients(nodes)
    expected = diverge(conns, placement, 900)
    report = one_round(nodes, placement)
    assert report.converged, report.summary()
    assert report.keys_repaired == 2 * 900  # the stale owner and the missing one, no stray
    assert report.ranges_differing > 0
    for conn, wanted in zip(conns, expected, strict=True):
        assert records(conn) == wanted
        assert digests_are_true(conn)


def test_a_round_with_no_difference_reads_each_backends_own_digests_and_scans_nothing(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(5)
    placement = ring_of(nodes)
    conns = clients(nodes)
    diverge(conns, placement, 300)
    for conn in conns:
        conn.config_resetstat()
    assert one_round(nodes, placement).keys_scanned >= 300
    assert any("cmdstat_scan" in conn.info("commandstats") for conn in conns)  # seen when it scans
    for conn in conns:
        conn.config_resetstat()
    report = one_round(nodes, placement)
    assert (report.ranges_differing, report.keys_scanned, report.keys_compared) == (0, 0, 0)
    assert report.converged
    owned = RangeOwners.of(placement, len(nodes)).owned
    for position, conn in enumerate(conns):
        stats = conn.info("commandstats")
        assert "cmdstat_scan" not in stats
        digest_reads = math.ceil(len(owned[position]) / DIGEST_BATCH)
        assert len(owned[position]) < 0.8 * 65536
        assert stats["cmdstat_hmget"]["calls"] == 2 * digest_reads  # a look, and a recheck


def test_an_emptied_node_gets_back_exactly_the_keys_of_its_ranges(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(5)
    placement = ring_of(nodes)
    conns = clients(nodes)
    expected = diverge(conns, placement, 600)
    assert one_round(nodes, placement).converged
    nodes[2].kill()
    nodes[2].restart(wipe=True)
    conns[2].close()
    conns[2] = clients([nodes[2]])[0]
    report = one_round(nodes, placement)
    assert report.converged, report.summary()
    assert report.emptied == [nodes[2].address.endpoint]
    assert records(conns[2]) == {
        key: record for key, record in expected[2].items() if 2 in placement.owners_of(key)
    }
    assert all(conn.hget(ANTI_ENTROPY_KEY, "synced_at") for conn in conns)


def test_with_a_node_down_the_owners_that_are_up_are_repaired_and_only_covered_nodes_marked(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(5)
    placement = ring_of(nodes)
    conns = clients(nodes)
    t = now_ms()
    keys = [b"k%d" % i for i in range(400)]
    for key in keys:  # on its lowest owner only, never node 4, the one that goes down
        write(conns[placement.owners_of(key)[0]], key, value(t, b"v"))
    nodes[4].kill()
    report = one_round(nodes, placement)
    assert not report.converged
    assert report.replicas_up == 4
    for position in range(4):
        mine = {key for key in keys if position in placement.owners_of(key)}
        assert set(records(conns[position])) == mine
    covered = RangeOwners.of(placement, 5).covered(range(4), [])
    marked = [p for p in range(4) if conns[p].hget(ANTI_ENTROPY_KEY, "synced_at")]
    assert marked == covered


def test_a_part_leased_by_a_dead_sidecar_on_a_majority_of_its_owners_waits_for_the_lease(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(5)
    placement = ring_of(nodes)
    conns = clients(nodes)
    owners = RangeOwners.of(placement, 5)
    key = next(
        b"k%d" % i
        for i in range(100_000)
        if b"." in owners.part_of(range_of(b"k%d" % i)).lease_field  # not the segment's first
    )
    part = owners.part_of(range_of(key))
    source, *others = part.replicas
    write(conns[source], key, value(now_ms(), b"v"))
    for position in others:  # two of three owners: a majority of the part's owners
        assert conns[position].evalsha(TAKE_LEASE.sha, 0, part.lease_field, "dead", 1500) == 1
    report = one_round(nodes, placement)
    assert report.converged, report.summary()
    assert report.seconds >= 1.0  # it waited for the lease to expire
    assert all(key in records(conns[p]) for p in part.replicas)


def test_two_sidecars_at_once_both_finish_converged(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(5)
    placement = ring_of(nodes)
    conns = clients(nodes)
    expected = diverge(conns, placement, 1500)
    reports = asyncio.run(rounds(nodes, placement, sidecars=2))
    assert all(report.converged for report in reports), [r.summary() for r in reports]
    assert sum(report.keys_repaired for report in reports) == 2 * 1500  # none twice
    for conn, wanted in zip(conns, expected, strict=True):
        assert records(conn) == wanted


def test_leaderless_anti_entropy_compares_among_the_owners_on_the_configured_ring(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(5)
    placement = ring_of(nodes)
    conns = clients(nodes)
    expected = diverge(conns, placement, 300)
    result = run_once(nodes, "--n", "3")
    assert result.returncode == 0, result.stderr
    assert "converged: 5/5 replicas" in result.stdout
    for conn, wanted in zip(conns, expected, strict=True):
        assert records(conn) == wanted
