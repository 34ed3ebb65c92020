"""The fault-injection run: a workload through real proxies while a nemesis crashes, hangs and
partitions backends and kills proxies; then heal, one anti-entropy round, and the checks of
tests/faults/checker.py. Figures and the seed are printed at the end and on failure.

The short version (about 20 s of faults per scenario, about a minute in all) runs with the
integration tests. The long one, and a replay of a seed:

    LEADERLESS_FAULT_SECONDS=600 .venv/bin/pytest tests/faults -m faults
    LEADERLESS_FAULT_SEED=<seed> .venv/bin/pytest tests/faults -m faults

LEADERLESS_FAULT_SECONDS is the nemesis time of each scenario. A seed replays every choice
(faults, targets, durations, keys, request kinds) but not the threads' interleaving.

Clock steps are not among these faults: the proxies here are separate processes on the real
clock. tests/clock runs proxies in-process with injected, skewed and stepped clocks instead.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence

import pytest

from tests.faults.checker import check
from tests.faults.harness import RECOVERY_TIMEOUT_S, FaultCluster
from tests.faults.history import History
from tests.faults.nemesis import DURABLE_FAULTS, WIPING_FAULTS, Nemesis
from tests.faults.workload import Workload, WorkloadShape
from tests.support.processes import wait_for

SECONDS = float(os.environ.get("LEADERLESS_FAULT_SECONDS", "20"))
SEED = int(os.environ.get("LEADERLESS_FAULT_SEED", random.SystemRandom().randrange(2**32)))
CONVERGENCE_TIMEOUT_S = 10.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.faults,
    pytest.mark.timeout(SECONDS * 3 + 240),
]


def run(
    cluster: FaultCluster, kinds: Sequence[str], seed: int, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, int], str]:
    """Run the workload under the nemesis, heal, check; the verdict's counts and a report."""
    rng = random.Random(seed)
    history = History()
    workload = Workload(cluster.ports, WorkloadShape(), rng, history)
    nemesis = Nemesis(cluster, rng, kinds)
    started = time.monotonic()
    workload.start()
    try:
        nemesis.run(SECONDS)
    finally:
        workload.stop()
        cluster.heal()
    recovered = cluster.wait_recovered()
    anti_entropy = cluster.anti_entropy()
    wait_for(lambda: _identical(cluster.replica_contents()), CONVERGENCE_TIMEOUT_S)
    replicas = cluster.replica_contents()
    final = cluster.read_all(sorted(history.attempted))
    verdict = check(history.attempted, history.acks, history.reads, final, replicas)
    counts = verdict.counts()
    counts["recovered"] = int(recovered)
    counts["anti_entropy_exit"] = anti_entropy.returncode
    counts["anti_entropy_failures_during_run"] = len(nemesis.anti_entropy_failures)
    counts["slow_recoveries"] = nemesis.slow_recoveries
    failures = history.write_failures
    report = "\n".join(
        [
            f"fault run: seed={seed} (LEADERLESS_FAULT_SEED={seed}), {SECONDS:g} s of faults, "
            f"{time.monotonic() - started:.1f} s in all, faults drawn from {sorted(set(kinds))}",
            f"  operations: {history.writes_attempted + len(history.reads)} "
            f"+ {sum(history.read_failures.values())} failed reads "
            f"(writes attempted {history.writes_attempted}, key reads {len(history.reads)})",
            f"  faults injected: {dict(sorted(nemesis.injected.items()))}",
            f"  acknowledged writes: {len(history.acks)}",
            f"  failed/indeterminate writes: {sum(failures.values())} {dict(failures)}",
            f"  failed reads: {dict(history.read_failures)}",
            f"  lost acknowledged writes: {counts['lost']}",
            f"  invented values: {counts['invented']}, divergent keys: {counts['divergent']}, "
            f"non-monotonic reads: {counts['non_monotonic']}, stale reads: {counts['stale']}",
            f"  heals after which a proxy lacked a backend for {RECOVERY_TIMEOUT_S:g} s: "
            f"{nemesis.slow_recoveries} {nemesis.slow_recovery_details}; "
            f"anti-entropy exit {anti_entropy.returncode}, "
            f"failed rounds during the run: {len(nemesis.anti_entropy_failures)}",
            verdict.describe(),
        ]
    )
    for failed in nemesis.anti_entropy_failures[:2]:
        report += f"\nan anti-entropy round during the run failed:\n{failed}"
    if anti_entropy.returncode != 0:
        report += f"\nanti-entropy output:\n{anti_entropy.stdout}\n{anti_entropy.stderr}"
    if any(counts[name] for name in ("lost", "invented", "divergent", "non_monotonic", "stale")):
        report += "\n" + cluster.output_tail()
    with capsys.disabled():
        print("\n" + report)
    return counts, report


def _identical(replicas: list[dict[bytes, bytes]]) -> bool:
    return all(held == replicas[0] for held in replicas[1:])


def test_acknowledged_writes_survive_crashes_hangs_partitions_and_proxy_kills(
    fault_cluster: FaultCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    counts, report = run(fault_cluster, DURABLE_FAULTS, SEED, capsys)
    assert counts["recovered"] and counts["anti_entropy_exit"] == 0, report
    for name in ("lost", "invented", "divergent", "non_monotonic", "stale"):
        assert counts[name] == 0, report


def test_acknowledged_writes_survive_backends_restarted_empty(
    fault_cluster: FaultCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only safety is asserted here. A backend restarted empty may be missed by reads until it
    is refilled (README, "Replicas that lose their data"), so stale and non-monotonic reads are
    reported, not failed on; so are the anti-entropy rounds run after each wipe that do not
    converge because writes land during them, and the reads refused meanwhile."""
    counts, report = run(fault_cluster, WIPING_FAULTS, SEED, capsys)
    assert counts["recovered"] and counts["anti_entropy_exit"] == 0, report
    for name in ("lost", "invented", "divergent"):
        assert counts[name] == 0, report
