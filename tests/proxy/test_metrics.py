"""The metric families, read from a proxy's state and a sidecar's totals without a socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from leaderless.config.loader import load_settings
from leaderless.config.settings import Settings
from leaderless.proxy.app.workers import worker_settings
from leaderless.proxy.metrics import ProxyCollector, SidecarCollector, offset_port
from leaderless.proxy.server import Started, open_state, startup_lines
from leaderless.proxy.state import ProxyState
from leaderless.replication.anti_entropy import RoundReport, SidecarTotals
from prometheus_client.core import Metric

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(families: Iterable[Metric]) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def collected(check: Callable[[ProxyState], None]) -> None:
    """Run `check(state)` on the state of a proxy with no replicas (nothing is connected)."""

    async def run() -> None:
        state = await open_state(Settings())
        try:
            check(state)
        finally:
            await state.coordinator.close()

    asyncio.run(run())


def ago_ns(ms: int) -> int:
    return time.perf_counter_ns() - ms * 1_000_000


def test_commands_count_by_outcome_and_their_times_fill_the_buckets() -> None:
    def check(state: ProxyState) -> None:
        set_stats = state.command("set")
        state.count_calls(set_stats, ago_ns(3))
        state.count_calls(set_stats, ago_ns(30), failed=True)
        state.count_calls(set_stats, ago_ns(30), count=4)  # a pipelined run done as one
        set_stats.rejected += 2
        found = samples(ProxyCollector(state).collect())
        total = "leaderless_commands_total"
        assert found[(total, (("command", "set"), ("outcome", "ok")))] == 5
        assert found[(total, (("command", "set"), ("outcome", "error")))] == 1
        assert found[(total, (("command", "set"), ("outcome", "rejected")))] == 2

        def bucket(le: str) -> float:
            key = ("leaderless_command_duration_seconds_bucket", (("command", "set"), ("le", le)))
            return found[key]

        assert bucket("0.0025") == 0
        assert bucket("0.005") == 1
        assert bucket("0.025") == 1
        assert bucket("0.05") == 6
        assert bucket("+Inf") == 6
        count = ("leaderless_command_duration_seconds_count", (("command", "set"),))
        assert found[count] == 6
        total_s = found[("leaderless_command_duration_seconds_sum", (("command", "set"),))]
        assert 0.003 + 5 * 0.030 <= total_s < 0.003 + 5 * 0.050

    collected(check)


def test_quorum_failures_by_kind_and_the_clock() -> None:
    def check(state: ProxyState) -> None:
        stats = state.coordinator.stats
        stats.read_quorum_failures, stats.write_quorum_failures = 3, 5
        stats.read_repairs, stats.background_repairs = 7, 11
        state.clock_refused_writes = 2
        found = samples(ProxyCollector(state).collect())
        assert found[("leaderless_quorum_failures_total", (("kind", "read"),))] == 3
        assert found[("leaderless_quorum_failures_total", (("kind", "write"),))] == 5
        assert found[("leaderless_read_repairs_total", (("mode", "blocking"),))] == 7
        assert found[("leaderless_read_repairs_total", (("mode", "background"),))] == 11
        assert found[("leaderless_clock_writes_refused_total", ())] == 2
        assert ("leaderless_clock_offset_seconds", ()) not in found
        state.clock_check.observe([-750.0], time.monotonic())
        found = samples(ProxyCollector(state).collect())
        assert found[("leaderless_clock_offset_seconds", ())] == -0.75
        assert found[("leaderless_clock_in_bounds", ())] == 0

    collected(check)


def test_sidecar_families_start_without_a_round() -> None:
    totals = SidecarTotals()
    found = samples(SidecarCollector(totals).collect())
    assert found[("leaderless_anti_entropy_rounds_total", ())] == 0
    assert ("leaderless_anti_entropy_last_round_seconds", ()) not in found
    totals.add(RoundReport(keys_repaired=4, seconds=1.5, converged=True))
    totals.add(RoundReport(keys_repaired=3, seconds=0.25, converged=False))
    found = samples(SidecarCollector(totals).collect())
    assert found[("leaderless_anti_entropy_rounds_total", ())] == 2
    assert found[("leaderless_anti_entropy_keys_repaired_total", ())] == 7
    assert found[("leaderless_anti_entropy_last_round_seconds", ())] == 0.25
    assert found[("leaderless_anti_entropy_last_round_converged", ())] == 0


def test_each_worker_serves_metrics_on_its_own_port() -> None:
    settings = load_settings(
        None,
        {
            "replication.nodes": ["redis://a:1", "redis://b:1", "redis://c:1"],
            "listen.workers": 3,
            "metrics.listen": "0.0.0.0:9121",
        },
    )
    ports = [worker_settings(settings, index, index, 6380).metrics.listen for index in range(3)]
    assert ports == ["0.0.0.0:9121", "0.0.0.0:9122", "0.0.0.0:9123"]
    assert offset_port("[::1]:0", 2) == "[::1]:0"  # each picks a free port
    started = [Started(10 + i, i, 6380, ("a:1 up",), 0, 9121 + i) for i in range(3)]
    assert "  metrics: http://0.0.0.0:9121/metrics, http://0.0.0.0:9122/metrics, " in "\n".join(
        startup_lines(settings, started)
    )
