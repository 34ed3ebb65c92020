"""Seeded simulation of the consistent-hash ring (replication/ring.py) at 100 to 1,000 nodes.

    .venv/bin/python bench/ring_simulation.py [--nodes 100 --nodes 1000] [--keys 10000000]
        [--replicas 3] [--vnodes 128] [--seed 1]

For each --nodes M it builds a ring of M equal nodes, draws --keys random 64-bit key hashes
(random.Random(--seed)), and prints one JSON line with:
- balance: the fullest and the emptiest node's keys over the mean, as primary (first owner)
  and as replica (any of the first --replicas owners);
- adding one node and removing one (chosen with the seed): the fraction of the hash space whose
  owners change and the fraction of replica placements that move, computed exactly over the
  hash space (ring.movement), so about --replicas / M and 1 / M;
- the keys copied by that change (placements moved times replicas times --keys) and the
  seconds to stream them at each of the repair rates of README's anti-entropy figures:
  89,000 keys/s (an emptied replica refilled, no rate limit) and 20,000 keys/s (the sidecar's
  default max_keys_per_s).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from bisect import bisect_left
from typing import Any

from leaderless.replication.ring import Ring, RingNode, movement

REPAIR_RATES = {"unlimited_refill": 89_000, "default_limit": 20_000}
BATCH = 1_000_000


def ring_of(ids: list[str], vnodes: int) -> Ring:
    return Ring([RingNode(node) for node in ids], vnodes)


def keys_per_arc(ring: Ring, keys: int, rng: random.Random) -> list[int]:
    counts = [0] * len(ring.tokens)
    tokens, last = ring.tokens, len(ring.tokens)
    for start in range(0, keys, BATCH):
        for hash_value in [rng.getrandbits(64) for _ in range(min(BATCH, keys - start))]:
            arc = bisect_left(tokens, hash_value)
            counts[0 if arc == last else arc] += 1
    return counts


def spread(held: dict[str, int]) -> dict[str, float]:
    mean = sum(held.values()) / len(held)
    return {
        "max_over_mean": round(max(held.values()) / mean, 4),
        "min_over_mean": round(min(held.values()) / mean, 4),
    }


def change(before: Ring, after: Ring, replicas: int, keys: int) -> dict[str, Any]:
    moved = movement(before, after, replicas)
    primaries = movement(before, after, 1)
    copies = round(moved.placements_moved * replicas * keys)
    return {
        "keys_changed": round(moved.keys_changed, 5),
        "placements_moved": round(moved.placements_moved, 5),
        "primaries_moved": round(primaries.placements_moved, 5),
        "keys_copied": copies,
        "stream_seconds": {name: round(copies / rate, 1) for name, rate in REPAIR_RATES.items()},
    }


def simulate(nodes: int, keys: int, replicas: int, vnodes: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    rng = random.Random(seed)
    ids = [f"node-{i}" for i in range(nodes)]
    ring = ring_of(ids, vnodes)
    counts = keys_per_arc(ring, keys, rng)
    primary = dict.fromkeys(ids, 0)
    held = dict.fromkeys(ids, 0)
    for arc, count in enumerate(counts):
        owners = ring.preference_list_at(arc, replicas)
        primary[owners[0]] += count
        for owner in owners:
            held[owner] += count
    removed = rng.choice(ids)
    return {
        "nodes": nodes,
        "keys": keys,
        "replicas": replicas,
        "vnodes": vnodes,
        "seed": seed,
        "balance": {"primary": spread(primary), "replica": spread(held)},
        "add_one": change(ring, ring_of([*ids, f"node-{nodes}"], vnodes), replicas, keys),
        "remove_one": {
            "node": removed,
            **change(
                ring, ring_of([node for node in ids if node != removed], vnodes), replicas, keys
            ),
        },
        "expected": {
            "placements_moved": round(1 / nodes, 5),
            "keys_changed": round(replicas / nodes, 5),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, action="append", help="node count M (repeatable)")
    parser.add_argument("--keys", type=int, default=10_000_000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--vnodes", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for nodes in args.nodes or [100, 1000]:
        print(
            json.dumps(simulate(nodes, args.keys, args.replicas, args.vnodes, args.seed)),
            flush=True,
        )


if __name__ == "__main__":
    main()
