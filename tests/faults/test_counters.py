"""Counters under faults: threads increment the same counters through two proxies while a
nemesis kills, pauses and wipes backends; then heal, one anti-entropy round, and the checks:
every counter lies between the sum of its acknowledged increments and the sum of all those
attempted (an increment that failed may or may not count, as in Redis), and the replicas hold
the same records.

    LEADERLESS_FAULT_SECONDS=600 .venv/bin/pytest tests/faults/test_counters.py -m faults
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Sequence

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.faults.harness import FaultCluster
from tests.faults.nemesis import Nemesis
from tests.faults.test_faults import CONVERGENCE_TIMEOUT_S, SECONDS, SEED
from tests.support.processes import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.faults,
    pytest.mark.timeout(SECONDS * 3 + 240),
]

COUNTERS = [f"counter:{i}" for i in range(12)]
WRITERS_PER_PROXY = 3
FAULTS = ("kill", "pause", "delay", "kill_wipe", "proxy_kill")


class Increments:
    """What the writers asked for and what the proxies acknowledged, per counter."""

    def __init__(self) -> None:
        self.attempted: Counter[str] = Counter()
        self.acknowledged: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, key: str, amount: int, acknowledged: bool, failure: str = "") -> None:
        with self._lock:
            self.attempted[key] += amount
            if acknowledged:
                self.acknowledged[key] += amount
            else:
                self.failed[failure] += 1


def _increment(port: int, seed: int, stop: threading.Event, increments: Increments) -> None:
    rng = random.Random(seed)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, retry=Retry(NoBackoff(), 0))
    try:
        while not stop.is_set():
            key, amount = rng.choice(COUNTERS), rng.randint(1, 5)
            try:
                client.incrby(key, amount)
            except redis.RedisError as error:
                increments.add(key, amount, False, type(error).__name__)
                client.close()
                stop.wait(0.05)
            else:
                increments.add(key, amount, True)
    finally:
        client.close()


def _identical(replicas: Sequence[dict[bytes, bytes]]) -> bool:
    return all(held == replicas[0] for held in replicas[1:])


def test_counters_count_every_acknowledged_increment_through_faults(
    fault_cluster: FaultCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    increments = Increments()
    stop = threading.Event()
    writers = [
        threading.Thread(
            target=_increment, args=(port, rng.getrandbits(64), stop, increments), daemon=True
        )
        for port in fault_cluster.ports
        for _ in range(WRITERS_PER_PROXY)
    ]
    nemesis = Nemesis(fault_cluster, rng, FAULTS)
    started = time.monotonic()
    for writer in writers:
        writer.start()
    try:
        nemesis.run(SECONDS)
    finally:
        stop.set()
        for writer in writers:
            writer.join(30)
        fault_cluster.heal()
    assert fault_cluster.wait_recovered()
    assert fault_cluster.anti_entropy().returncode == 0
    converged = wait_for(
        lambda: _identical(fault_cluster.replica_contents()), CONVERGENCE_TIMEOUT_S
    )
    final = fault_cluster.read_all(COUNTERS)
    outside = {
        key: (increments.acknowledged[key], final[key], increments.attempted[key])
        for key in COUNTERS
        if not increments.acknowledged[key] <= int(final[key] or 0) <= increments.attempted[key]
    }
    report = (
        f"counters under faults: seed={SEED}, {SECONDS:g} s of faults, "
        f"{time.monotonic() - started:.1f} s in all, faults {dict(nemesis.injected)}; "
        f"increments acknowledged {sum(increments.acknowledged.values())}, "
        f"attempted {sum(increments.attempted.values())}, failed {dict(increments.failed)}; "
        f"counters outside [acknowledged, attempted]: {outside}; replicas identical: {converged}"
    )
    with capsys.disabled():
        print("\n" + report)
    assert sum(increments.acknowledged.values()) > 0, report
    assert not outside, report
    assert converged, report
