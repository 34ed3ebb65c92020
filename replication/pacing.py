"""A rate limit for background work, so that the sidecar leaves the replicas to the clients.

`RateLimit` keeps a schedule: each unit of work (a key scanned, or a key compared or repaired:
the sidecar keeps one limit for each, as their costs differ) is due 1/rate seconds after the
previous one, and `delay(count, now)` says how long to wait before doing `count`
more so that the schedule is kept, allowing a burst of `burst_s` seconds' worth ahead of it.
Work never done is not saved up: after an idle spell the schedule restarts from `now`.

This module is pure: the time comes in as an argument.
"""

from __future__ import annotations


class RateLimit:
    def __init__(self, per_second: float, *, burst_s: float = 0.1) -> None:
        if per_second <= 0:
            raise ValueError(f"a rate must be positive, got {per_second}")
        self.per_second = per_second
        self.burst_s = burst_s
        self._due = 0.0

    def delay(self, count: int, now: float) -> float:
        """Seconds to wait before doing `count` units of work at time `now` (seconds)."""
        self._due = max(self._due, now) + count / self.per_second
        return max(0.0, self._due - now - self.burst_s)
