"""Membership changes against real servers: growing 3 -> 5 and shrinking 5 -> 4 leave every key
on exactly its new owners with its newest version and every node's bookkeeping true; a move
stopped after installing the moving ring, or by a node killed while keys stream, resumes and
completes; a move with a node down is refused before anything changes; `leaderless ring`
shows the ring and moves it."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator, Sequence

import pytest
import redis
from leaderless.config.loader import load_settings
from leaderless.config.settings import Settings
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.proxy.app.ring_command import ring_report
from leaderless.replication.merkle import range_of
from leaderless.replication.move_plan import MoveIncomplete, MoveProgress, MoveRefused, next_state
from leaderless.replication.placement import Placement
from leaderless.replication.record import Record, encode_record
from leaderless.replication.ring_move import finish_move, move
from leaderless.replication.ring_nodes import DROPPING_FIELD, MoveNodes, install, read_stored
from leaderless.replication.ring_state import (
    INSTALL_RING,
    INSTALL_RING_KEYS,
    READ_RING,
    RingMember,
    RingState,
    configured,
    newest,
)
from leaderless.replication.scripts import EPOCH_KEY, RING_KEY

from tests.anti_entropy.support import (
    LEADERLESS,
    bookkeeping_is_true,
    contents,
    deletion,
    load_scripts,
    now_ms,
    value,
    write,
)
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration

N, W, VNODES = 3, 2, 16
KEYS = 1500
DATABASES = (0, 3)


def settings_of(nodes: Sequence[LocalRedisNode], **extra: object) -> Settings:
    overrides: dict[str, object] = {
        "replication.nodes": [node.url for node in nodes],
        "replication.n": N,
        "replication.w": W,
        "replication.r": W,
        "replication.vnodes": VNODES,
        **extra,
    }
    return load_settings(None, overrides)


def client(node: LocalRedisNode, db: int = 0) -> redis.Redis:
    address = node.address
    return redis.Redis(address.host, address.port, db=db, socket_timeout=10)


def placement(members: Sequence[LocalRedisNode], everyone: Sequence[LocalRedisNode]) -> Placement:
    positions = {node.address.endpoint: i for i, node in enumerate(everyone)}
    state = configured([node.address for node in members], N, VNODES)
    built = state.placement(positions)
    assert isinstance(built, Placement)
    return built


def seed(
    members: Sequence[LocalRedisNode], everyone: Sequence[LocalRedisNode]
) -> dict[tuple[int, bytes], bytes]:
    """Write KEYS keys in each of DATABASES to their owners among `members`, straight through
    WRITE_IF_NEWER: the newest version on W owners and an older one on the others (or none),
    some deleted, some with an expiry. Returns the newest encoded record of each key."""
    owners = placement(members, everyone)
    base = now_ms()
    newest_of: dict[tuple[int, bytes], bytes] = {}
    for db in DATABASES:
        clients = [client(node, db) for node in everyone]
        for c in clients:
            load_scripts(c)
        for i in range(KEYS):
            key = b"db%d:key:%d" % (db, i)
            newer: Record
            if i % 7 == 0:
                newer = deletion(base + 2)
            elif i % 5 == 0:
                newer = value(base + 2, b"new%d" % i, expires_at_ms=base + 3_600_000)
            else:
                newer = value(base + 2, b"new%d" % i)
            holders = owners.owners_of(key)
            for rank, position in enumerate(holders):
                if rank < W:
                    write(clients[position], key, newer)
                elif i % 3:
                    write(clients[position], key, value(base + 1, b"old%d" % i))
            newest_of[(db, key)] = encode_record(newer, range_of(key))
        for c in clients:
            c.close()
    return newest_of


def snapshot(everyone: Sequence[LocalRedisNode]) -> dict[int, list[dict[bytes, bytes]]]:
    """Every node's records, by database."""
    held: dict[int, list[dict[bytes, bytes]]] = {}
    for db in DATABASES:
        for node in everyone:
            with client(node, db) as c:
                held.setdefault(db, []).append(contents(c))
    return held


def assert_moved(
    old: Sequence[LocalRedisNode],
    new: Sequence[LocalRedisNode],
    everyone: Sequence[LocalRedisNode],
    newest_of: dict[tuple[int, bytes], bytes],
    before: dict[int, list[dict[bytes, bytes]]],
    epoch: int,
) -> None:
    """Every key of a range whose owners changed on exactly its N owners among `new`, with its
    newest record, and the keys of the other ranges as they were (repairing those is
    anti-entropy's work); every node's bookkeeping true; the ring stable at `epoch`
    everywhere, with no drop pending."""
    old_owners, owners = placement(old, everyone), placement(new, everyone)
    after = snapshot(everyone)
    for db in DATABASES:
        held = after[db]
        for node in everyone:
            with client(node, db) as c:
                assert bookkeeping_is_true(c), f"{node} db {db}"
        for (key_db, key), record in newest_of.items():
            if key_db != db:
                continue
            if old_owners.owners_of(key) == owners.owners_of(key):
                assert [h.get(key) for h in held] == [h.get(key) for h in before[db]], key
                continue
            where = {p for p, content in enumerate(held) if key in content}
            assert where == set(owners.owners_of(key)), key
            assert all(held[p][key] == record for p in where), key
    expected = RingState(epoch, N, VNODES, tuple(RingMember.of(n.address) for n in new))
    for node in everyone:
        with client(node) as c:
            assert newest([c.execute_command(*READ_RING)]) == expected
            assert c.get(EPOCH_KEY) == b"%d" % epoch
            assert not c.hexists(RING_KEY, DROPPING_FIELD)


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


@pytest.fixture
def lines() -> Iterator[list[str]]:
    yield []


def test_grow_3_to_5_with_no_stored_ring(redis_nodes: StartNodes, lines: list[str]) -> None:
    nodes = redis_nodes(5)
    newest_of = seed(nodes[:3], nodes)
    before = snapshot(nodes)
    progress: list[MoveProgress] = []
    state = run(
        move(
            settings_of(nodes),
            current=[node.address for node in nodes[:3]],
            wall_ms=now_ms,
            on_line=lines.append,
            on_progress=progress.append,
        )
    )
    assert isinstance(state, RingState) and state.epoch == 2
    assert_moved(nodes[:3], nodes, nodes, newest_of, before, 2)
    assert any("the new ring is in force" in line for line in lines)
    streamed = [p for p in progress if p.step == "stream"][-1]
    assert streamed.done == streamed.total > 0
    assert streamed.keys > 0 and streamed.changes > 0


def test_shrink_5_to_4_empties_the_removed_node(redis_nodes: StartNodes, lines: list[str]) -> None:
    nodes = redis_nodes(5)
    stored = RingState(4, N, VNODES, tuple(RingMember.of(n.address) for n in nodes))
    for node in nodes:
        with client(node) as c:
            c.eval(INSTALL_RING.source, 2, *INSTALL_RING_KEYS, stored.epoch, stored.encode())
    newest_of = seed(nodes, nodes)
    before = snapshot(nodes)
    run(move(settings_of(nodes[:4]), current=None, wall_ms=now_ms, on_line=lines.append))
    assert_moved(nodes, nodes[:4], nodes, newest_of, before, 6)
    for db in DATABASES:
        with client(nodes[4], db) as c:
            assert contents(c) == {}


def test_a_move_stopped_after_installing_the_moving_ring_resumes(
    redis_nodes: StartNodes, lines: list[str]
) -> None:
    nodes = redis_nodes(5)
    newest_of = seed(nodes[:3], nodes)
    before = snapshot(nodes)
    settings = settings_of(nodes)
    current = [RingMember.of(node.address) for node in nodes[:3]]
    target = [RingMember.of(node.address) for node in nodes]

    async def install_only() -> None:
        mover = MoveNodes([node.address for node in nodes], connect_timeout_s=1)
        try:
            stored = await read_stored(mover, [node.address.endpoint for node in nodes])
            state = next_state(stored.state, stored.pending, current, target, N, VNODES)
            await install(mover, state, state.endpoints())
        finally:
            await mover.close()

    run(install_only())
    with client(nodes[4]) as c:
        assert newest([c.execute_command(*READ_RING)]) == RingState(
            1, N, VNODES, tuple(target), previous=tuple(current)
        )
    with pytest.raises(MoveRefused, match="in progress"):
        run(move(settings_of(nodes[:4]), current=None, wall_ms=now_ms, on_line=lines.append))
    finished = run(finish_move(settings, wall_ms=now_ms, on_line=lines.append))
    assert isinstance(finished, RingState) and finished.epoch == 2
    assert_moved(nodes[:3], nodes, nodes, newest_of, before, 2)
    assert run(finish_move(settings, wall_ms=now_ms, on_line=lines.append)) is None


def test_a_node_killed_while_keys_stream_stops_the_move_and_a_rerun_completes_it(
    redis_nodes: StartNodes, lines: list[str]
) -> None:
    nodes = redis_nodes(5)
    newest_of = seed(nodes[:3], nodes)
    before = snapshot(nodes)
    current = [node.address for node in nodes[:3]]

    def kill_a_new_node(progress: MoveProgress) -> None:
        if progress.step == "stream":
            nodes[3].kill()

    with pytest.raises(MoveIncomplete, match=nodes[3].address.endpoint):
        run(
            move(
                settings_of(nodes),
                current=current,
                wall_ms=now_ms,
                on_line=lines.append,
                on_progress=kill_a_new_node,
            )
        )
    with client(nodes[0]) as c:
        assert json.loads(c.hget(RING_KEY, b"ring") or b"{}").get("previous")
    nodes[3].restart(wipe=True)
    run(move(settings_of(nodes), current=current, wall_ms=now_ms, on_line=lines.append))
    assert any("resuming the move at epoch 1" in line for line in lines)
    assert_moved(nodes[:3], nodes, nodes, newest_of, before, 2)


def test_a_move_with_a_node_down_is_refused_and_changes_nothing(
    redis_nodes: StartNodes, lines: list[str]
) -> None:
    nodes = redis_nodes(5)
    newest_of = seed(nodes[:3], nodes)
    before = snapshot(nodes)
    nodes[4].stop()
    with pytest.raises(MoveRefused, match=f"{nodes[4].address.endpoint} unreachable"):
        run(
            move(
                settings_of(nodes),
                current=[node.address for node in nodes[:3]],
                wall_ms=now_ms,
                on_line=lines.append,
            )
        )
    for node in nodes[:4]:
        with client(node) as c:
            assert not c.exists(RING_KEY)
    after = snapshot(nodes[:4])
    assert all(after[db] == before[db][:4] for db in DATABASES)
    assert sum(map(len, after[DATABASES[0]])) > len(newest_of) // len(DATABASES)


def test_the_ring_command_moves_and_shows_the_ring(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(4)
    seed(nodes[:3], nodes)

    def leaderless(
        *args: str, members: Sequence[LocalRedisNode]
    ) -> subprocess.CompletedProcess[str]:
        command = [str(LEADERLESS), "ring", *args, "--vnodes", str(VNODES)]
        for node in members:
            command += ["--node", node.url]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    refused = leaderless("move", members=nodes)
    assert refused.returncode == 1
    assert "--from-config" in refused.stderr
    moved = leaderless("move", *[f"--from-node={n.url}" for n in nodes[:3]], members=nodes)
    assert moved.returncode == 0, moved.stderr
    assert "epoch 1: from" in moved.stdout
    assert "epoch 2: the new ring is in force" in moved.stdout
    assert "epoch 2: done" in moved.stdout
    assert "stream:" in moved.stderr and "ranges done" in moved.stderr
    shown = leaderless("show", members=nodes[:1])
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout.splitlines()
    assert out[0] == f"stored ring: epoch 2, stable, n {N}, vnodes {VNODES}"
    rows = [line.split() for line in out[2:6]]
    assert [row[0] for row in rows] == [n.address.endpoint for n in nodes]
    assert abs(sum(float(row[3]) for row in rows) - N) <= 0.002  # printed to 3 places
    assert all(row[-1] == "member" for row in rows)
    assert all(int(row[4]) > 0 for row in rows)


class Interrupted(Exception):
    """Stands for the move's process stopping at that point."""


def test_a_move_stopped_while_dropping_is_finished_by_finish_move(
    redis_nodes: StartNodes, lines: list[str]
) -> None:
    nodes = redis_nodes(5)
    newest_of = seed(nodes[:3], nodes)
    before = snapshot(nodes)

    def stop_in_the_drop(progress: MoveProgress) -> None:
        if progress.step == "drop":
            raise Interrupted()

    with pytest.raises(Interrupted):
        run(
            move(
                settings_of(nodes[1:]),
                current=[node.address for node in nodes[:3]],
                wall_ms=now_ms,
                on_line=lines.append,
                on_progress=stop_in_the_drop,
            )
        )
    with client(nodes[1]) as c:
        assert c.hget(RING_KEY, DROPPING_FIELD) is not None
    report = run(ring_report(settings_of(nodes[1:])))
    assert isinstance(report, list)
    headline = "stored ring: epoch 2, stable; dropping moved records from "
    assert report[0].startswith(headline + nodes[0].address.endpoint)
    assert any(line.startswith("progress: ring move (epoch 2) drop:") for line in report)
    finished = run(finish_move(settings_of(nodes[1:]), wall_ms=now_ms, on_line=lines.append))
    assert isinstance(finished, RingState) and finished.epoch == 2
    assert_moved(nodes[:3], nodes[1:], nodes, newest_of, before, 2)
    for db in DATABASES:
        with client(nodes[0], db) as c:
            assert contents(c) == {}


def test_a_newer_ring_installed_while_keys_stream_stops_the_move(
    redis_nodes: StartNodes, lines: list[str]
) -> None:
    nodes = redis_nodes(5)
    seed(nodes[:3], nodes)
    other = RingState(9, N, VNODES, tuple(RingMember.of(n.address) for n in nodes[:4]))

    def another_change(progress: MoveProgress) -> None:
        with client(nodes[3]) as c:
            c.eval(INSTALL_RING.source, 2, *INSTALL_RING_KEYS, other.epoch, other.encode())

    with pytest.raises(MoveRefused, match="RINGEPOCH 9"):
        run(
            move(
                settings_of(nodes),
                current=[node.address for node in nodes[:3]],
                wall_ms=now_ms,
                on_line=lines.append,
                on_progress=another_change,
            )
        )
    with client(nodes[0]) as c:
        assert not c.hexists(RING_KEY, DROPPING_FIELD)  # it stopped before the stable ring
