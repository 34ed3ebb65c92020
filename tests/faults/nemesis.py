"""The nemesis: injects one fault at a time, holds it a while, heals it, and waits until every
proxy is connected to every backend again before the next.

Faults on a backend: `kill` (SIGKILL, restarted with its AOF), `kill_wipe` (SIGKILL,
restarted empty, then an anti-entropy round re-replicates what it lost before the next
fault), `pause` (SIGSTOP then SIGCONT: a hung host), and on the route in front of it `delay`,
`drop`, `reset`, `blackhole` and `one_way` (see tests/support/fault_proxy.py). On a proxy:
`proxy_kill` (SIGKILL, started again on the same port).

Not here: clock steps on a proxy. The proxy reads the wall clock straight from
`time.time_ns()` (proxy/server.py `wall_ms`), with no setting, environment variable or
signal that offsets it, so a test cannot step one proxy's clock.

One fault at a time keeps two replicas of three reachable, so writes can keep succeeding, and
with every restart but `kill_wipe` keeping its data an acknowledged write is always held by
two replicas. The holds and gaps are timed pauses of the schedule, not synchronisation: what
follows a heal waits on a condition (`wait_recovered`) with a deadline.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence

from tests.faults.harness import FaultCluster

BACKEND_FAULTS = ("kill", "pause", "delay", "drop", "reset", "blackhole", "one_way")
DURABLE_FAULTS = (*BACKEND_FAULTS, "proxy_kill")
WIPING_FAULTS = (*DURABLE_FAULTS, "kill_wipe", "kill_wipe")  # twice: drawn more often
HOLD_S = (0.3, 2.0)
GAP_S = (0.1, 0.6)
DELAY_MS = (20, 1500)  # the proxies' timeout is 500 ms: some replies come too late


class Nemesis:
    def __init__(self, cluster: FaultCluster, rng: random.Random, kinds: Sequence[str]) -> None:
        self.cluster = cluster
        self.rng = rng
        self.kinds = kinds
        self.injected: Counter[str] = Counter()
        self.slow_recoveries = 0  # heals after which a proxy stayed without a backend
        self.slow_recovery_details: list[str] = []  # the fault, and what the proxies saw
        self.anti_entropy_failures: list[str] = []
        self._target = 0  # the node or proxy the current fault is on

    def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            kind = self.rng.choice(self.kinds)
            self.inject(kind)
            time.sleep(self.rng.uniform(*HOLD_S))
            self.heal(kind)
            time.sleep(self.rng.uniform(*GAP_S))

    def inject(self, kind: str) -> None:
        cluster = self.cluster
        self.injected[kind] += 1
        if kind == "proxy_kill":
            self._target = self.rng.randrange(len(cluster.proxies))
            cluster.kill_proxy(self._target)
            return
        self._target = target = self.rng.randrange(len(cluster.nodes))
        route = cluster.routes[target]
        if kind in ("kill", "kill_wipe"):
            cluster.kill_node(target)
        elif kind == "pause":
            cluster.pause_node(target)
        elif kind == "delay":
            route.delay(self.rng.uniform(*DELAY_MS))
        elif kind == "drop":
            route.drop()
        elif kind == "reset":
            route.reset()
        elif kind == "blackhole":
            route.blackhole()
        elif kind == "one_way":
            route.one_way()
        else:
            raise ValueError(f"unknown fault {kind!r}")

    def heal(self, kind: str) -> None:
        if kind == "kill_wipe":
            self.cluster.restart_node(self._target, wipe=True)
        self.cluster.heal()
        if not self.cluster.wait_recovered():
            self.slow_recoveries += 1
            logs = [proxy.output.text()[-1200:] for proxy in self.cluster.proxies]
            self.slow_recovery_details.append(
                f"after {kind}: {self.cluster.replica_states()}; proxies' last lines: {logs}"
            )
            return
        if kind == "kill_wipe":
            result = self.cluster.anti_entropy()
            if result.returncode != 0:
                output = f"exit {result.returncode}: {result.stdout[-800:]}{result.stderr[-800:]}"
                self.anti_entropy_failures.append(output)
