"""The clock check: is this proxy's wall clock close enough to true time to stamp writes?

Writes are ordered by their timestamps (the last write wins), and a timestamp's physical part
is this proxy's wall clock. A proxy whose clock runs far ahead makes its writes win over later
ones from other proxies; one far behind loses its writes to earlier ones. So, as CockroachDB
does with its maximum clock offset, the proxy measures its clock against NTP servers and, when
the offset exceeds `replication.max_clock_offset_ms`, refuses writes (action "refuse", the
default) or only logs a warning (action "warn") until the offset is back in bounds. Reads are
always served: they stamp nothing.

How it works: `ClockCheck` is the pure core. Each round of measurements (one offset per server
that answered) goes in with the monotonic time it was taken; the median offset becomes the
current one and decides whether the clock is in bounds. `observe` returns the change of verdict,
if any, as a value for the shell to log. Until a first measurement the clock counts as in bounds
(a proxy without NTP servers is never refused), and a round in which no server answers changes
nothing: the last verdict stands and its age, shown in INFO, grows.

`monitor_clock` is the thin asyncio shell: every `interval_s` it asks each server once, through
ntplib's blocking client on the default thread-pool executor, and feeds the results in.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from enum import Enum, StrEnum

import ntplib

log = logging.getLogger(__name__)

NTP_VERSION = 4
NTP_TIMEOUT_S = 2.0


class OffsetAction(StrEnum):
    """What a clock offset beyond the maximum does (the setting replication.clock_offset_action)."""

    REFUSE = "refuse"
    WARN = "warn"


class Verdict(Enum):
    """A change of the clock check's verdict, returned by `ClockCheck.observe`."""

    OUT_OF_BOUNDS = "out of bounds"
    BACK_IN_BOUNDS = "back in bounds"


class ClockCheck:
    """The latest measured offset of the local clock from NTP time, and what it allows."""

    def __init__(self, max_offset_ms: int, action: OffsetAction) -> None:
        self.max_offset_ms = max_offset_ms
        self.action = action
        self.offset_ms: float | None = None  # NTP time minus local time; None: never measured
        self.measured_at: float | None = None  # monotonic seconds
        self.in_bounds = True

    def observe(self, offsets_ms: Sequence[float], now: float) -> Verdict | None:
        """Take one round's offsets (one per server that answered); the verdict's change, if any."""
        if not offsets_ms:
            return None
        self.offset_ms = statistics.median(offsets_ms)
        self.measured_at = now
        was_in_bounds = self.in_bounds
        self.in_bounds = abs(self.offset_ms) <= self.max_offset_ms
        if self.in_bounds == was_in_bounds:
            return None
        return Verdict.BACK_IN_BOUNDS if self.in_bounds else Verdict.OUT_OF_BOUNDS

    @property
    def writes_refused(self) -> bool:
        return not self.in_bounds and self.action is OffsetAction.REFUSE

    def age_s(self, now: float) -> float | None:
        """Seconds since the current offset was measured; None: never measured."""
        return None if self.measured_at is None else now - self.measured_at

    def describe(self) -> str:
        """The offset in words, for the log and for the error refused writes get."""
        if self.offset_ms is None:
            return "this proxy's clock has not been measured against NTP time"
        direction = "behind" if self.offset_ms > 0 else "ahead of"
        return (
            f"this proxy's clock is {abs(self.offset_ms):.0f} ms {direction} NTP time "
            f"(replication.max_clock_offset_ms is {self.max_offset_ms})"
        )

    def refusal(self) -> str | None:
        """The error text for a write while writes are refused, or None when they are not."""
        if not self.writes_refused:
            return None
        return (
            f"CLOCKSKEW write refused: {self.describe()}; writes resume when the clock is back "
            "in bounds (reads are served)"
        )


Measure = Callable[[str, int, float], float]


def measure_offset_ms(host: str, port: int, timeout_s: float) -> float:
    """One NTP exchange with one server (blocking): its time minus ours, in milliseconds."""
    stats = ntplib.NTPClient().request(host, version=NTP_VERSION, port=port, timeout=timeout_s)
    return float(stats.offset) * 1000


async def monitor_clock(
    check: ClockCheck,
    servers: Sequence[tuple[str, int]],
    interval_s: float,
    *,
    measure: Measure = measure_offset_ms,
    now: Callable[[], float] = time.monotonic,
) -> None:
    """Measure the offset against `servers` every `interval_s` seconds, forever."""
    loop = asyncio.get_running_loop()
    timeout_s = min(interval_s, NTP_TIMEOUT_S)
    while True:
        results = await asyncio.gather(
            *(loop.run_in_executor(None, measure, host, port, timeout_s) for host, port in servers),
            return_exceptions=True,
        )
        offsets = [result for result in results if isinstance(result, float)]
        if not offsets:
            reasons = "; ".join(
                f"{host}:{port}: {result}"
                for (host, port), result in zip(servers, results, strict=True)
            )
            log.warning("no NTP server answered (%s); the clock check stands as it was", reasons)
        verdict = check.observe(offsets, now())
        if verdict is Verdict.OUT_OF_BOUNDS:
            consequence = "writes are refused" if check.writes_refused else "writes continue"
            log.warning(
                "clock out of bounds: %s; %s",
                check.describe(),
                consequence,
                extra={
                    "event": "clock_out_of_bounds",
                    "offset_ms": check.offset_ms,
                    "max_offset_ms": check.max_offset_ms,
                    "writes_refused": check.writes_refused,
                },
            )
        elif verdict is Verdict.BACK_IN_BOUNDS:
            log.warning(
                "clock back in bounds: %s; writes are accepted",
                check.describe(),
                extra={"event": "clock_in_bounds", "offset_ms": check.offset_ms},
            )
        await asyncio.sleep(interval_s)
