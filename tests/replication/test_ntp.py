"""The clock check's decisions: offsets in and out of bounds, refuse or warn, and the shell's
rounds with an injected measurement."""

from __future__ import annotations

import asyncio

import pytest
from leaderless.replication.ntp import ClockCheck, OffsetAction, Verdict, monitor_clock


def test_unmeasured_clock_allows_writes() -> None:
    check = ClockCheck(500, OffsetAction.REFUSE)
    assert check.in_bounds
    assert not check.writes_refused
    assert check.refusal() is None
    assert check.age_s(10.0) is None
    assert check.observe([], 1.0) is None  # no server answered: nothing changes


def test_out_of_bounds_refuses_then_back_in_bounds_resumes() -> None:
    check = ClockCheck(500, OffsetAction.REFUSE)
    assert check.observe([120.0], 1.0) is None
    assert check.observe([2000.0], 2.0) is Verdict.OUT_OF_BOUNDS
    assert check.writes_refused
    assert check.refusal() == (
        "CLOCKSKEW write refused: this proxy's clock is 2000 ms behind NTP time "
        "(replication.max_clock_offset_ms is 500); writes resume when the clock is back in "
        "bounds (reads are served)"
    )
    assert check.observe([1999.0], 3.0) is None
    assert check.observe([], 9.0) is None  # the verdict stands, its age grows
    assert check.writes_refused
    assert check.age_s(9.0) == 6.0
    assert check.observe([-500.0], 10.0) is Verdict.BACK_IN_BOUNDS
    assert not check.writes_refused


def test_warn_never_refuses() -> None:
    check = ClockCheck(500, OffsetAction.WARN)
    assert check.observe([-900.0], 1.0) is Verdict.OUT_OF_BOUNDS
    assert not check.in_bounds
    assert not check.writes_refused
    assert check.refusal() is None
    assert "900 ms ahead of NTP time" in check.describe()


def test_the_median_of_several_servers_decides() -> None:
    check = ClockCheck(500, OffsetAction.REFUSE)
    assert check.observe([10.0, 5000.0, 20.0], 1.0) is None  # one bad server is outvoted
    assert check.offset_ms == 20.0


def test_monitor_measures_each_server_every_round() -> None:
    asked: list[tuple[str, int]] = []
    offsets = {"a": 2000.0, "b": 2100.0}

    async def run() -> ClockCheck:
        loop = asyncio.get_running_loop()
        two_rounds = asyncio.Event()

        def measure(host: str, port: int, timeout_s: float) -> float:  # on executor threads
            asked.append((host, port))
            if len(asked) == 6:
                loop.call_soon_threadsafe(two_rounds.set)
            if host == "down":
                raise OSError("no answer")
            return offsets[host]

        check = ClockCheck(500, OffsetAction.REFUSE)
        servers = [("a", 123), ("b", 1230), ("down", 123)]
        task = asyncio.create_task(monitor_clock(check, servers, 0.001, measure=measure))
        await asyncio.wait_for(two_rounds.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return check

    check = asyncio.run(run())
    assert set(asked) == {("a", 123), ("b", 1230), ("down", 123)}
    assert check.offset_ms == 2050.0
    assert check.writes_refused
