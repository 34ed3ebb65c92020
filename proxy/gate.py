"""Whether a client request may reach the replicas now, or must wait for a unit of work.

A unit of work (units.py: EXEC's queued requests, a script's calls) runs alone at this proxy:
while it runs, no other request of any connection of this process is sent to the replicas, and
it starts only once every request started before it has answered, so nothing of another client
interleaves with it. Units run one at a time, in the order they were admitted.

The sessions keep the count: `in_flight` goes up when they start a request (a unit included)
and down when it answers, two integer updates on the ordinary path and nothing else. While a
unit waits or runs, `closed` is a future that is done when the last unit has ended; sessions
park the requests they would start behind it, in order, as they park them behind their own
barriers (session.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable


class UnitGate:
    __slots__ = ("_running", "_waiting", "closed", "in_flight")

    def __init__(self) -> None:
        self.in_flight = 0
        """Requests started and not yet answered, the units admitted included."""
        self.closed: asyncio.Future[None] | None = None
        """While a unit waits or runs: done once none is left; None when requests may go."""
        self._waiting: deque[Callable[[], None]] = deque()
        self._running = False

    def admit(self, start: Callable[[], None]) -> None:
        """Start a unit (already counted in `in_flight`) when its turn comes: after the units
        admitted before it have ended, once no other request is in flight."""
        if self.closed is None:
            self.closed = asyncio.get_running_loop().create_future()
        self._waiting.append(start)
        self.advance()

    def advance(self) -> None:
        """Start the next unit if its turn has come, or open the gate if none is left. The
        sessions call this for each answer while the gate is closed."""
        if self._running or self.in_flight > len(self._waiting):
            return
        if self._waiting:
            self._running = True
            self._waiting.popleft()()
        elif self.closed is not None:
            closed, self.closed = self.closed, None
            closed.set_result(None)

    def ended(self) -> None:
        """The running unit has answered."""
        self._running = False
        self.advance()
