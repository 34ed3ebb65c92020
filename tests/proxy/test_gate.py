"""The gate that lets a unit of work run alone: when a unit starts, and when the requests
parked behind it may go. The sessions' side is tested through real connections in
tests/integration/test_units.py."""

from __future__ import annotations

import asyncio
from functools import partial

from leaderless.proxy.gate import UnitGate


def test_a_unit_starts_at_once_when_nothing_else_is_in_flight() -> None:
    async def scenario() -> None:
        gate = UnitGate()
        started: list[str] = []
        gate.in_flight += 1
        gate.admit(lambda: started.append("unit"))
        assert started == ["unit"]
        closed = gate.closed
        assert closed is not None and not closed.done()
        gate.in_flight -= 1
        gate.advance()
        assert not closed.done()  # the unit answered, but has not ended yet
        gate.ended()
        assert closed.done() and gate.closed is None

    asyncio.run(scenario())


def test_a_unit_waits_for_the_requests_started_before_it() -> None:
    async def scenario() -> None:
        gate = UnitGate()
        started: list[str] = []
        gate.in_flight += 2  # two ordinary requests
        gate.in_flight += 1
        gate.admit(lambda: started.append("unit"))
        for _ in range(2):
            assert started == []
            gate.in_flight -= 1
            gate.advance()
        assert started == ["unit"]

    asyncio.run(scenario())


def test_units_run_one_at_a_time_in_the_order_admitted() -> None:
    async def scenario() -> None:
        gate = UnitGate()
        started: list[str] = []
        for name in ("first", "second"):
            gate.in_flight += 1
            gate.admit(partial(started.append, name))
        assert started == ["first"]
        closed = gate.closed
        gate.in_flight -= 1
        gate.advance()
        gate.ended()
        assert started == ["first", "second"]
        assert closed is gate.closed and closed is not None and not closed.done()
        gate.in_flight -= 1
        gate.advance()
        gate.ended()
        assert closed.done() and gate.closed is None

    asyncio.run(scenario())
