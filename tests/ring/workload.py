"""Writers through several proxies while the ring changes, and the checks after it.

Each writer thread sets its own keys to rising sequence numbers and increments shared
counters, and records what was acknowledged. Afterwards no acknowledged write may be missing
(a key reads at least its last acknowledged number; a counter lies between its acknowledged
and its attempted increments), and every client key must be on exactly its owners under the
ring in force.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.placement import Placement
from leaderless.replication.scripts import INTERNAL_PREFIX

from tests.integration.conftest import ProxyProcess
from tests.support.processes import wait_for

KEYS_PER_WRITER = 40
COUNTERS = 4
WRITERS_PER_PROXY = 2


@dataclass
class Writer:
    proxy: ProxyProcess
    name: str
    acknowledged: dict[str, int] = field(default_factory=dict)
    increments_acknowledged: Counter[str] = field(default_factory=Counter)
    increments_attempted: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    operations: int = 0

    def run(self, stop: threading.Event) -> None:
        client = self.proxy.client()
        sequence = 0
        while not stop.is_set():
            sequence += 1
            key = f"{self.name}:{sequence % KEYS_PER_WRITER}"
            counter = f"counter:{sequence % COUNTERS}"
            try:
                client.set(key, str(sequence))
                self.acknowledged[key] = sequence
            except redis.RedisError as error:
                self.errors[str(error).split(":")[0]] += 1
            self.increments_attempted[counter] += 1
            try:
                client.incr(counter)
                self.increments_acknowledged[counter] += 1
            except redis.RedisError as error:
                self.errors[str(error).split(":")[0]] += 1
            self.operations += 1
        client.close()


class Workload:
    def __init__(self, proxies: list[ProxyProcess]) -> None:
        self.writers = [
            Writer(proxy, f"w{index}-{n}")
            for index, proxy in enumerate(proxies)
            for n in range(WRITERS_PER_PROXY)
        ]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=writer.run, args=(self._stop,), daemon=True)
            for writer in self.writers
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def operations(self) -> int:
        return sum(writer.operations for writer in self.writers)

    def run_for(self, operations: int) -> None:
        """Until `operations` more have been done by all writers together."""
        target = self.operations() + operations
        assert wait_for(lambda: self.operations() >= target, 60), "the writers stalled"

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def errors(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for writer in self.writers:
            total.update(writer.errors)
        return total

    def lost(self, client: redis.Redis) -> list[str]:
        """Acknowledged writes a read through `client` does not show."""
        missing = []
        for writer in self.writers:
            keys = sorted(writer.acknowledged)
            values = client.mget(keys) if keys else []
            for key, value in zip(keys, values, strict=True):
                if value is None or int(value) < writer.acknowledged[key]:
                    acknowledged_seq = writer.acknowledged[key]
                    missing.append(f"{key}: acknowledged {acknowledged_seq}, read {value!r}")
        acknowledged: Counter[str] = Counter()
        attempted: Counter[str] = Counter()
        for writer in self.writers:
            acknowledged.update(writer.increments_acknowledged)
            attempted.update(writer.increments_attempted)
        for counter in sorted(attempted):
            value = int(client.get(counter) or 0)
            if not acknowledged[counter] <= value <= attempted[counter]:
                missing.append(
                    f"{counter}: {value}, acknowledged {acknowledged[counter]}, "
                    f"attempted {attempted[counter]}"
                )
        return missing


def misplaced(nodes: list[LocalRedisNode], placement: Placement) -> list[str]:
    """Client keys not on exactly their owners (positions in `nodes`)."""
    holders: dict[bytes, set[int]] = {}
    for index, node in enumerate(nodes):
        with redis.Redis(port=node.port) as direct:
            for key in direct.scan_iter(count=1000):
                if not key.startswith(INTERNAL_PREFIX):
                    holders.setdefault(key, set()).add(index)
    return [
        f"{key!r} on {sorted(held)}, owned by {list(placement.owners_of(key))}"
        for key, held in sorted(holders.items())
        if held != set(placement.owners_of(key))
    ]
