"""Rejoining replicas: each (re)connected replica is checked for lost data before reads use it.

The rule is in `membership.py`. This is its shell: `on_up` (the backends' hook, called at the
end of each successful (re)connection) marks the replica CHECKING, so that no read counts it
while its marks are unknown, and starts a check, which reads MEMBERS_KEY on every replica that
is up. A replica that names itself is IN_SYNC as soon as its own answer is in, so a slow or
paused replica never holds up the check of another; only a replica that lacks its own name
waits for the others' answers (up to the timeout) to be judged.
`watch_forever` then, every CHECK_INTERVAL_S, retries failed checks and looks at each RECOVERING
replica, as a read that meets one does at once (`refilled`): once the proxy has no hint pending
for it and its `synced_at` changed since it was found emptied (an anti-entropy round converged
since), or someone wrote its mark, it is marked IN_SYNC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import cast

from leaderless.replication.backend import Backend, ReplicaUnavailable, Reply
from leaderless.replication.handoff import Handoff
from leaderless.replication.membership import Health, judge, missing_names
from leaderless.replication.scripts import ANTI_ENTROPY_KEY, MEMBERS_KEY

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0


class Rejoin:
    def __init__(
        self,
        backends: Sequence[Backend],
        handoff: Handoff,
        *,
        timeout_s: float,
        wall_ms: Callable[[], int],
    ) -> None:
        self.backends = list(backends)
        self.health = [Health.CHECKING] * len(self.backends)
        self._handoff = handoff
        self._timeout_s = timeout_s
        self._wall_ms = wall_ms
        self._checked = [asyncio.Event() for _ in self.backends]
        self._emptied_synced_at: dict[int, Reply] = {}
        self._checks: set[asyncio.Task[None]] = set()
        self._refill_asks: dict[int, asyncio.Future[None]] = {}

    def add(self, backend: Backend) -> None:
        """A node the ring took in after start-up: checked like the others once it connects."""
        self.backends.append(backend)
        self.health.append(Health.CHECKING)
        self._checked.append(asyncio.Event())

    def on_up(self, backend: Backend) -> None:
        self.health[backend.index] = Health.CHECKING
        self._checked[backend.index].clear()
        self._handoff.wake()
        task = asyncio.get_running_loop().create_task(self._check(backend))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def wait_checked(self, index: int) -> Health:
        """The replica's health once checked (CHECKING if that takes longer than the timeout)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._checked[index].wait(), self._timeout_s)
        return self.health[index]

    async def refilled(self, index: int) -> Health:
        """The replica's health once asked whether an anti-entropy round has refilled it, so
        that the first read after a converged round counts it; concurrent reads share one ask,
        and a replica that is down is not asked."""
        if self.health[index] is Health.RECOVERING and self.backends[index].state == "up":
            if (ask := self._refill_asks.get(index)) is None:
                ask = asyncio.ensure_future(self._check_refilled(self.backends[index]))
                self._refill_asks[index] = ask
                ask.add_done_callback(partial(self._refill_asked, index))
            with contextlib.suppress(ReplicaUnavailable, TimeoutError):
                await asyncio.shield(ask)
        return self.health[index]

    def _refill_asked(self, index: int, ask: asyncio.Future[None]) -> None:
        del self._refill_asks[index]
        if not ask.cancelled():
            ask.exception()  # a failed ask is the reads' to report, not the loop's

    async def watch_forever(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S)  # a polling interval, not synchronisation
            for backend in self.backends:
                if backend.state != "up":
                    continue
                health = self.health[backend.index]
                try:
                    if health is Health.RECOVERING:
                        await self.refilled(backend.index)
                    elif health is Health.CHECKING and not self._checks:
                        await self._judge(backend)
                except (ReplicaUnavailable, TimeoutError) as failure:
                    log.debug("checking replica %s: %s", backend.name, failure)

    async def close(self) -> None:
        for task in [*self._checks, *self._refill_asks.values()]:
            task.cancel()

    async def _check(self, backend: Backend) -> None:
        try:
            await self._judge(backend)
        except (ReplicaUnavailable, TimeoutError) as failure:
            log.info("could not check replica %s (%s); will retry", backend.name, failure)

    async def _judge(self, backend: Backend) -> None:
        up = [b for b in self.backends if b.state == "up"]
        asked = {b: asyncio.ensure_future(self._request(b, b"HGETALL", MEMBERS_KEY)) for b in up}
        for future in asked.values():  # if its own fails, the others' outcomes go unread
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
        name = backend.name.encode()
        own = set(cast(list[bytes], await asked[backend])[::2])
        if name in own:  # the usual case: no need to wait for the others
            self._set(backend.index, Health.IN_SYNC)
        replies = await asyncio.gather(*asked.values(), return_exceptions=True)
        answered = [(b, reply) for b, reply in zip(asked, replies, strict=True) if _ok(reply)]
        names = {b.index: set(cast(list[bytes], reply)[::2]) for b, reply in answered}
        if name not in own:
            others = [held for index, held in names.items() if index != backend.index]
            verdict = judge(name, own, others)
            if verdict is Health.RECOVERING:
                synced_at = await self._request(backend, b"HGET", ANTI_ENTROPY_KEY, b"synced_at")
                self._emptied_synced_at[backend.index] = synced_at
                log.warning(
                    "replica %s lost its data (other replicas know it, it does not know itself): "
                    "it takes writes but does not count toward reads until its hints are "
                    "replayed and an anti-entropy pass has covered it",
                    backend.name,
                    extra={"event": "replica_recovering", "replica": backend.name},
                )
            self._set(backend.index, verdict)
        replicas = [b for b, _ in answered]
        await self._spread_names(replicas, [names[b.index] for b in replicas])

    async def _spread_names(self, replicas: list[Backend], names: list[set[bytes]]) -> None:
        """Every replica learns every name (and new replicas their own), so that any of them
        can tell later that a replica lost its data."""
        healths = [self.health[b.index] for b in replicas]
        missing = missing_names(names, healths, [b.name.encode() for b in replicas])
        now = self._now()
        await asyncio.gather(
            *(
                self._request(b, b"HSET", MEMBERS_KEY, *(x for name in add for x in (name, now)))
                for b, add in zip(replicas, missing, strict=True)
                if add
            ),
            return_exceptions=True,
        )

    async def _check_refilled(self, backend: Backend) -> None:
        name = backend.name.encode()
        marked, synced_at = await asyncio.gather(
            self._request(backend, b"HEXISTS", MEMBERS_KEY, name),
            self._request(backend, b"HGET", ANTI_ENTROPY_KEY, b"synced_at"),
        )
        if marked != 1:
            if self._handoff.pending(backend.name) or (
                synced_at == self._emptied_synced_at.get(backend.index)
            ):
                return
            await self._request(backend, b"HSET", MEMBERS_KEY, name, self._now())
        log.info(
            "replica %s is refilled: it counts toward reads again",
            backend.name,
            extra={"event": "replica_refilled", "replica": backend.name},
        )
        self._set(backend.index, Health.IN_SYNC)

    def _set(self, index: int, health: Health) -> None:
        self.health[index] = health
        self._checked[index].set()

    def _now(self) -> bytes:
        return b"%d" % self._wall_ms()

    async def _request(self, backend: Backend, *args: bytes) -> Reply:
        async with asyncio.timeout(self._timeout_s):
            reply = await backend.execute(*args)
        if not _ok(reply):
            raise ReplicaUnavailable(f"{backend.name}: {reply}")
        return reply


def _ok(reply: object) -> bool:
    return not isinstance(reply, BaseException)
