"""Read-then-write commands of one key at this proxy, one after the other.

A read-then-write (SET NX, APPEND, EXPIRE, ...) reads its keys at quorum and then writes what
follows from them. Two of them on one key from two connections of this proxy would otherwise
both read before either writes, and both succeed: two `SET lock token NX` would both answer
OK, and redis-py's Lock would hand one lock to two clients of one proxy. Each holds a latch on
its keys from its read to its write, so the second reads what the first wrote. Latches are
taken in key order, so two commands of several keys cannot wait for each other. Across
proxies nothing is latched: see the README on locks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

Name = tuple[int, bytes]
"""A key in its database."""


class KeyLatches:
    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[Name, deque[asyncio.Future[None]]] = {}
        """The latched keys, each with the commands waiting for it, first in line first."""

    @asynccontextmanager
    async def holding(self, db: int, keys: Iterable[bytes]) -> AsyncIterator[None]:
        names = sorted({(db, key) for key in keys})
        taken: list[Name] = []
        try:
            for name in names:
                await self._take(name)
                taken.append(name)
            yield
        finally:
            for name in taken:
                self._hand_over(name)

    def held(self, db: int, key: bytes) -> bool:
        return (db, key) in self._waiting

    async def _take(self, name: Name) -> None:
        waiting = self._waiting.get(name)
        if waiting is None:
            self._waiting[name] = deque()
            return
        turn = asyncio.get_running_loop().create_future()
        waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed over, then cancelled: pass it on
                self._hand_over(name)
            raise

    def _hand_over(self, name: Name) -> None:
        waiting = self._waiting[name]
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        del self._waiting[name]
