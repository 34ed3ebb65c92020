"""`leaderless status`'s report, from the nodes' and proxies' answers, without sockets."""

from __future__ import annotations

import json

import pytest
from leaderless.proxy.app.status_report import (
    EXIT_HEALTHY,
    EXIT_UNHEALTHY,
    NodeFacts,
    ProxyFacts,
    build_report,
    render_json,
    render_table,
)
from leaderless.replication.ring_state import RingMember, RingState

NAMES = ("10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379")
NOW_MS = 1_700_000_100_000


def round_fields(
    at_ms: int, *, converged: bool, took_ms: int = 1250
) -> tuple[tuple[str, str], ...]:
    return (
        ("keys_repaired", "7"),
        ("last_round_at", str(at_ms)),
        ("last_round_converged", "1" if converged else "0"),
        ("last_round_ms", str(took_ms)),
        ("rounds", "12"),
    )


def node(name: str, members: tuple[str, ...] = NAMES, **facts: object) -> NodeFacts:
    defaults: dict[str, object] = {
        "version": "valkey 8.1.8",
        "keys": 1000,
        "memory": "1.50M",
        "members": frozenset(members),
        "anti_entropy": round_fields(NOW_MS - 30_000, converged=True),
    }
    return NodeFacts(name, **{**defaults, **facts})  # type: ignore[arg-type]


def test_all_up_and_converged_is_healthy() -> None:
    report = build_report([node(name) for name in NAMES], [], NOW_MS)
    assert report.exit_status == EXIT_HEALTHY
    assert [n.health for n in report.nodes] == ["in_sync"] * 3
    table = render_table(report)
    assert table.splitlines()[0].split() == [
        "NODE",
        "REACHABLE",
        "VERSION",
        "KEYS",
        "MEMORY",
        "HEALTH",
        "RING",
        "KEY",
        "SHARE",
    ]
    assert table.splitlines()[1].split() == [
        NAMES[0],
        "yes",
        "valkey",
        "8.1.8",
        "1000",
        "1.50M",
        "in_sync",
        "-",
        "33.3%",
    ]
    assert "anti-entropy: last round 30 s ago, took 1.25 s, converged; 12 rounds" in table
    assert "see each proxy's INFO" in table
    assert table.endswith("status: ok")


def test_a_node_that_does_not_answer_is_down_and_unhealthy() -> None:
    down = NodeFacts(NAMES[2], error="Error 111 connecting to 10.0.0.3:6379. Connection refused.")
    report = build_report([node(NAMES[0]), node(NAMES[1]), down], [], NOW_MS)
    assert report.exit_status == EXIT_UNHEALTHY
    table = render_table(report)
    assert f"{NAMES[2]}  no" in table
    assert table.splitlines()[3].split()[-3:] == ["down", "-", "-"]  # no ring shares known
    assert "Connection refused" in table
    assert table.endswith("status: NOT ok")


def test_an_emptied_node_is_recovering_as_the_proxies_judge_it() -> None:
    others_name_it = [node(NAMES[0]), node(NAMES[1])]
    emptied = node(NAMES[2], members=(), keys=0, anti_entropy=())
    report = build_report([*others_name_it, emptied], [], NOW_MS)
    assert [n.health for n in report.nodes] == ["in_sync", "in_sync", "recovering"]


def test_the_newest_round_any_node_recorded_counts() -> None:
    old = node(NAMES[0], anti_entropy=round_fields(NOW_MS - 600_000, converged=True))
    new = node(NAMES[1], anti_entropy=round_fields(NOW_MS - 5_000, converged=False, took_ms=80))
    report = build_report([old, new, node(NAMES[2], anti_entropy=())], [], NOW_MS)
    assert report.last_round is not None
    assert not report.last_round.converged
    assert report.exit_status == EXIT_UNHEALTHY
    assert "last round 5 s ago, took 0.08 s, NOT converged" in render_table(report)


def test_no_round_recorded_is_said_and_not_a_failure() -> None:
    report = build_report([node(name, anti_entropy=()) for name in NAMES], [], NOW_MS)
    assert report.last_round is None
    assert report.exit_status == EXIT_HEALTHY
    assert "no round recorded on the nodes" in render_table(report)


def test_proxies_show_their_hints_and_the_nodes_they_find_unwell() -> None:
    proxies = [
        ProxyFacts(
            "10.0.1.1:6380",
            proxy_id="7",
            hints_pending=42,
            nodes=((NAMES[0], "up", "in_sync"), (NAMES[1], "down", "in_sync")),
        ),
        ProxyFacts("10.0.1.2:6380", error="Connection refused."),
    ]
    report = build_report([node(name) for name in NAMES], proxies, NOW_MS)
    table = render_table(report)
    rows = {
        line.split()[0]: line.split() for line in table.splitlines() if line.startswith("10.0.1")
    }
    assert rows["10.0.1.1:6380"] == ["10.0.1.1:6380", "yes", "7", "42", NAMES[1], "down/in_sync"]
    assert rows["10.0.1.2:6380"][1] == "no"
    assert report.exit_status == EXIT_UNHEALTHY  # a proxy asked about did not answer


def test_json_carries_the_same_report() -> None:
    down = NodeFacts(NAMES[2], error="timed out")
    document = json.loads(
        render_json(build_report([node(NAMES[0]), node(NAMES[1]), down], [], NOW_MS))
    )
    assert document["healthy"] is False
    assert [n["reachable"] for n in document["nodes"]] == [True, True, False]
    assert document["nodes"][2]["health"] == "down"
    assert document["nodes"][0]["keys"] == 1000
    assert document["last_round"]["converged"] is True
    assert document["last_round"]["seconds"] == 1.25
    assert document["proxies"] == []


def test_the_ring_each_node_s_share_of_it_and_a_move_in_progress_show() -> None:
    old = tuple(RingMember(name) for name in NAMES)
    new = (*old, RingMember("10.0.0.4:6379"), RingMember("10.0.0.5:6379"))
    moving = RingState(4, 3, 128, new, previous=old)
    stored = [b"4", moving.encode()]
    names = [*NAMES, "10.0.0.4:6379", "10.0.0.5:6379"]
    progress = "ring move (epoch 4) stream: 120 keys, 80 copies written, 10/700 ranges done"
    facts = [node(name, tuple(names), ring=tuple(stored)) for name in names]
    facts[1] = node(names[1], tuple(names), ring=tuple(stored), move_progress=progress)
    report = build_report(facts, [], NOW_MS)
    shares = [n.ring_share for n in report.nodes]
    assert all(share is not None and 0.4 < share < 0.8 for share in shares)
    assert sum(share or 0 for share in shares) == pytest.approx(3)
    table = render_table(report)
    assert (
        "ring: epoch 4, 5 nodes, 3 copies of each key; keys moving from a ring of 3 nodes" in table
    )
    assert f"\n  move: {progress}\n" in table
    assert json.loads(render_json(report))["ring"] == {
        "epoch": 4,
        "members": 5,
        "copies": 3,
        "moving_from": 3,
        "progress": progress,
    }


def test_without_a_stored_ring_the_configured_one_shows() -> None:
    configured = RingState(0, 3, 128, tuple(RingMember(name) for name in NAMES))
    report = build_report([node(name) for name in NAMES], [], NOW_MS, configured)
    assert [n.ring_share for n in report.nodes] == [1.0, 1.0, 1.0]
    assert "ring: epoch 0, 3 nodes, 3 copies of each key" in render_table(report)
