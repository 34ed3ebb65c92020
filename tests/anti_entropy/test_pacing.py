"""The sidecar's rate limits keep a schedule each, allow a small burst, and save nothing up."""

from __future__ import annotations

import pytest
from leaderless.config.settings import AntiEntropySettings
from leaderless.replication.pacing import RateLimit
from leaderless.replication.range_scan import SCAN_COUNT


def test_work_within_the_burst_does_not_wait() -> None:
    limit = RateLimit(1000, burst_s=0.1)
    assert limit.delay(100, now=0.0) == 0.0


def test_work_beyond_the_rate_waits_for_its_turn() -> None:
    limit = RateLimit(1000, burst_s=0.1)
    assert limit.delay(100, now=0.0) == 0.0
    assert limit.delay(1000, now=0.0) == pytest.approx(1.0)
    assert limit.delay(500, now=1.1) == pytest.approx(0.4)


def test_idle_time_is_not_saved_up() -> None:
    limit = RateLimit(100, burst_s=0.0)
    assert limit.delay(1, now=0.0) == pytest.approx(0.01)
    assert limit.delay(100, now=100.0) == pytest.approx(1.0)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimit(0)


def test_a_scan_at_the_default_rate_takes_ten_seconds_a_million_keys() -> None:
    limit = RateLimit(AntiEntropySettings().max_scan_keys_per_s)
    now = 0.0
    for _ in range(1_000_000 // SCAN_COUNT):
        now += limit.delay(SCAN_COUNT, now)
    assert now == pytest.approx(10.0 - limit.burst_s)
