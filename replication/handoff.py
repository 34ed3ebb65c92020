"""Hinted handoff: writes a replica missed are kept, then replayed when it answers again.

The coordinator calls `add` for every replica that failed a write or had not acknowledged it by
the request's deadline, whether or not the write reached its quorum. `add` asks the ledger
(`hints.py`: hint window, size limit) and queues the hint in memory; a writer task hands the
queue to a single worker thread in batches, which commits each batch to the store
(`hint_store.py`: SQLite) in one transaction. So a client's request never waits on the disk, and
the queue is bounded by the ledger's size limit, which counts queued hints too.

Replay: a background task visits every replica that is up and has hints, oldest first, in
batches of REPLAY_BATCH sent as one call of WRITE_IF_NEWER per database among them (a hint
keeps the database its write was for), the compare-by-timestamp script every write goes
through, so a replayed hint never overwrites a newer write and a hint replayed twice is
harmless. A batch is deleted from the store once the replica acknowledged it; a failure
or timeout stops the replica's replay until the next attempt. The task runs when a replica
(re)connects (`wake`) and every REPLAY_POLL_S otherwise (a replica that timed out without
losing its connection answers again unannounced), paced to `replay_keys_per_s` so that a replica
coming back is not flooded while clients use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from leaderless.replication.backend import Backend, ReplicaUnavailable, Reply
from leaderless.replication.hint_store import Hint, HintStore, StoredHint
from leaderless.replication.hints import HINT_OVERHEAD, Admission, HintLedger, hint_size
from leaderless.replication.pacing import RateLimit
from leaderless.replication.scripts import WRITE_IF_NEWER, write_if_newer_args

log = logging.getLogger(__name__)

REPLAY_BATCH = 200
REPLAY_POLL_S = 1.0
_P = ParamSpec("_P")
_T = TypeVar("_T")


class Handoff:
    def __init__(
        self,
        ledger: HintLedger,
        folder: Path | None,
        *,
        wall_ms: Callable[[], int],
        replay_keys_per_s: int,
        timeout_s: float,
        expired_grace_ms: int,
    ) -> None:
        self.ledger = ledger
        self._expired_grace_ms = expired_grace_ms
        self._folder = folder
        self._wall_ms = wall_ms
        self._limit = RateLimit(replay_keys_per_s)
        self._timeout_s = timeout_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hints")
        self._store: HintStore | None = None
        self._queue: list[Hint] = []
        self._writer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._refusing: dict[str, Admission] = {}
        self.ring_epoch: Callable[[], int] | None = None
        """The epoch of the ring in force, carried by replays: a node that holds a newer ring
        refuses them, and those hints are dropped (the move that made it copied their keys
        to their new owners; a hint that counted toward W with sloppy_quorum is lost then)."""

    async def open(self, replicas: Sequence[str]) -> None:
        """Open the store, forget the hints of replicas no longer configured, count the rest."""
        store = self._store = await self._in_thread(HintStore, self._folder)
        gone = []
        for replica, count, size, oldest_ms in await self._in_thread(store.summary):
            if replica in replicas:
                self.ledger.restore(replica, count, size + count * HINT_OVERHEAD, oldest_ms)
                log.info("%d hints for replica %s kept from before the restart", count, replica)
            else:
                gone.append(replica)
                self.ledger.stats.dropped += count
                log.warning("dropping %d hints for %s: no longer a configured node", count, replica)
        if gone:
            await self._in_thread(store.forget, gone)

    async def close(self) -> None:
        """Commit what is queued, then close the store."""
        if self._writer is not None:
            await self._writer
        if self._store is not None:
            await self._in_thread(self._store.close)
        self._thread.shutdown()

    def pending(self, replica: str) -> int:
        return self.ledger.pending(replica).count

    def add(self, replica: str, writes: Sequence[tuple[bytes, bytes]], db: int = 0) -> bool:
        """Keep these (key, encoded record) writes to database `db` for `replica`, if the
        limits allow; return whether they were kept (they are committed in the next batch)."""
        now = self._wall_ms()
        size = sum(hint_size(key, record) for key, record in writes)
        admission = self.ledger.admit(replica, len(writes), size, now)
        if admission is not Admission.ADMITTED:
            if self._refusing.get(replica) is not admission:
                self._refusing[replica] = admission
                log.warning(
                    "no more hints for replica %s (%s): anti-entropy must bring it up to date",
                    replica,
                    "down for longer than the hint window"
                    if admission is Admission.WINDOW_PASSED
                    else "hints at their size limit",
                )
            return False
        self._refusing.pop(replica, None)
        self._queue.extend((replica, now, db, key, record) for key, record in writes)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._commit_queued())
        return True

    def wake(self) -> None:
        """A replica is back: replay its hints now rather than at the next poll."""
        self._wake.set()

    async def replay_forever(self, backends: Sequence[Backend]) -> None:
        while True:
            for backend in backends:
                if backend.state == "up" and self.pending(backend.name):
                    await self._replay(backend)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), REPLAY_POLL_S)
            self._wake.clear()

    async def _commit_queued(self) -> None:
        assert self._store is not None
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._in_thread(self._store.add, batch)
            except Exception:  # a full or failing disk must not take the proxy down
                log.exception("could not store %d hints; they are lost", len(batch))

    async def _replay(self, backend: Backend) -> None:
        assert self._store is not None
        name = backend.name
        replayed = 0
        while rows := await self._in_thread(self._store.oldest, name, REPLAY_BATCH):
            delay = self._limit.delay(len(rows), time.monotonic())
            if delay > 0:
                await asyncio.sleep(delay)  # the rate limit, not synchronisation
            try:
                async with asyncio.timeout(self._timeout_s):
                    replies = await asyncio.gather(
                        *(
                            self._replay_batch(backend, db, batch)
                            for db, batch in _by_db(rows).items()
                        )
                    )
            except (ReplicaUnavailable, TimeoutError) as failure:
                log.info("replaying hints to %s paused: %s", name, failure or "timed out")
                break
            if refused := [reply for reply in replies if not isinstance(reply, list)]:
                if not all(str(reply).startswith("RINGEPOCH ") for reply in refused):
                    log.warning("replaying hints to %s paused: it answered %s", name, refused[0])
                    break
                log.warning(
                    "dropping %d hints for %s: it holds a newer ring (%s)",
                    len(rows),
                    name,
                    refused[0],
                    extra={"event": "hints_dropped_ring_moved", "replica": name},
                )
                self.ledger.stats.dropped += len(rows)
            oldest = await self._in_thread(self._store.remove, name, rows[-1][0])
            size = sum(hint_size(key, record) for _, _, _, key, record in rows)
            self.ledger.replayed(name, len(rows), size, oldest, self._wall_ms())
            replayed += 0 if refused else len(rows)
        if replayed:
            log.info(
                "replayed %d hints to replica %s (%d pending)", replayed, name, self.pending(name)
            )

    def _replay_batch(
        self, backend: Backend, db: int, rows: Sequence[StoredHint]
    ) -> asyncio.Future[Reply]:
        keys = [key for _, _, _, key, _ in rows]
        records = [record for _, _, _, _, record in rows]
        epoch = None if self.ring_epoch is None else self.ring_epoch()
        args = write_if_newer_args(keys, records, self._expired_grace_ms, epoch, db)
        return backend.run_script(WRITE_IF_NEWER, keys, args, db)

    async def _in_thread(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, lambda: call(*args, **kwargs)
        )


def _by_db(rows: Sequence[StoredHint]) -> dict[int, list[StoredHint]]:
    """A batch's hints by database, each database's in their order."""
    batches: dict[int, list[StoredHint]] = {}
    for row in rows:
        batches.setdefault(row[2], []).append(row)
    return batches
