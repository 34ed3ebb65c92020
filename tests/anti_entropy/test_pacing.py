"""The sidecar's rate limit keeps a schedule, allows a small burst, and saves nothing up."""

from __future__ import annotations

import pytest
from leaderless.replication.pacing import RateLimit


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
