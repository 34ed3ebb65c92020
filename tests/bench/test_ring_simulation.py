"""`bench/ring_simulation.py` on small inputs: every key is counted once per replica, and
adding or removing a node moves about one node's share."""

from __future__ import annotations

from leaderless.bench.ring_simulation import simulate


def test_the_ring_simulation_counts_every_key_and_moves_about_one_share() -> None:
    figures = simulate(nodes=20, keys=20_000, replicas=3, vnodes=32, seed=1)
    assert figures["nodes"] == 20
    assert 1.0 <= figures["balance"]["replica"]["max_over_mean"] < 1.6
    assert 0.4 < figures["balance"]["primary"]["min_over_mean"] <= 1.0
    for step in ("add_one", "remove_one"):
        moved = figures[step]
        assert 0.5 / 21 <= moved["placements_moved"] <= 2 / 19
        assert 0.5 * 3 / 21 <= moved["keys_changed"] <= 2 * 3 / 19
        assert moved["keys_copied"] == round(moved["placements_moved"] * 3 * 20_000)
        assert moved["stream_seconds"]["default_limit"] == round(moved["keys_copied"] / 20_000, 1)


def test_the_ring_simulation_is_seeded() -> None:
    one = simulate(nodes=10, keys=5_000, replicas=2, vnodes=16, seed=4)
    other = simulate(nodes=10, keys=5_000, replicas=2, vnodes=16, seed=4)
    one.pop("seconds")
    other.pop("seconds")
    assert one == other
