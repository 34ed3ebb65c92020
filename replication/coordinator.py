"""The coordinator: client requests become quorum rounds over the replicas.

The requests made during one event-loop tick share rounds: a run of reads is one MGET per
replica, a run of writes one call of the compare-by-timestamp script per replica (up to
MAX_BATCH keys each), and each request is answered from its own part of the replies. That is
what lets many clients, or one client's pipeline, cost a few system calls and one script call
per replica rather than one each. Runs keep the order the requests came in, and each replica
connection keeps the order of what is sent on it, so a GET pipelined after a SET sees it.

A write is stamped by the hybrid logical clock, sent to every replica at once through the
compare-by-timestamp script, and acknowledged as soon as W replicas answered; if some refused
it because they hold a newer version, it goes again with a timestamp past that version (see
`write_then`). A read asks every replica and answers from the first R replies, repairing
the stale ones (`reads`). Each request to the replicas is one round, which waits for its
quorum or its deadline (`rounds`). The decisions (when a round has its quorum, when it
cannot, who is stale) come from the pure modules `quorum` and `merge`; this module, `rounds`
and `reads` only carry them out.

A replica that failed a write, or had not acknowledged it by the deadline, gets it as a hint
(`handoff.py`), replayed when it answers again; with `sloppy_quorum` a stored hint counts
toward W (see `rounds`). Reads count only replicas `rejoin.py` finds IN_SYNC: a replica that
came back emptied is left out of read quorums until it is refilled (`membership.py`), and one
just (re)connected is waited for until its check is done.

The ring (`ring_state.py`, `placement.py`): with M > N nodes each key lives on its N owners,
and the coordinator of a database hands each request to the coordinator of its keys' owners
(`_view`): one per set of owners, made when first asked for, with the owners as its
replicas, so everything above runs unchanged over those N. A request whose keys have different
owners is split among them and answered once every part is. With M = N every key has every
node, and the coordinator is its own view: nothing is routed. While keys move between two
rings, a key's view has its old and its new owners, and its rounds need W acknowledgements
among each (`Group`), or R replies among the old owners. Every read and write carries the
ring's epoch to the nodes; one that holds a newer ring says so, and the request goes again
once that ring is loaded (`_retry`).

Databases (`databases.py`): a coordinator serves one; `database(n)` is the coordinator of
database n, made when first asked for. They all share the replicas' connections (which
switch databases inline, see `backend.py`), the clock, the hints, the rejoin checks, the
deadlines and the counters, and differ only in their database and their queue: a tick's
requests for one database share rounds, and each database's rounds keep their order.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import secrets
from collections.abc import Callable, Sequence
from enum import Enum
from functools import partial
from typing import Literal, NamedTuple, TypeVar, cast

import hiredis
from leaderless.replication.backend import (
    Backend,
    Deliver,
    ReplicaUnavailable,
    Reply,
    ScriptCall,
    pack_script,
    settle,
)
from leaderless.replication.counters import SHARD_ID_LEN, Unacknowledged
from leaderless.replication.databases import DATABASES, databases_in
from leaderless.replication.handoff import Handoff
from leaderless.replication.hints import HintStats
from leaderless.replication.hlc import HybridClock, Timestamp
from leaderless.replication.membership import Health
from leaderless.replication.merge import Repair, ReplicaRead, Resolution, resolve
from leaderless.replication.merkle import leaf_bytes, range_of
from leaderless.replication.quorum import Group
from leaderless.replication.reads import (
    Read,
    check_reads,
    decode_read,
    decode_reads,
    read_request,
    send_request,
    split_reads,
)
from leaderless.replication.record import Record, encode_record
from leaderless.replication.rejoin import Rejoin
from leaderless.replication.ring_state import (
    READ_RING,
    RingInForce,
    RingMember,
    RingState,
    RingStateError,
    newest,
)
from leaderless.replication.rounds import (
    BadReply,
    Deadlines,
    Outcome,
    QuorumError,
    QuorumWatch,
    ReplicationStats,
    Round,
    completion,
    pass_outcome,
)
from leaderless.replication.scripts import (
    DBSIZE,
    EPOCH_KEY,
    FLUSH,
    FLUSH_KEY,
    PURGE_TOMBSTONES,
    WRITE_IF_NEWER,
    write_if_newer_args,
)
from leaderless.replication.turn_batch import TurnBatch

log = logging.getLogger(__name__)

RESTAMP_ATTEMPTS = 3
"""Tries of a write whose replicas hold a newer version (see Coordinator.write)."""


RING_POLL_S = 1.0
"""How often a proxy looks for a newer ring on the nodes."""

MAX_BATCH = 256
"""Most keys in one round: the requests of one event-loop tick share rounds up to this."""


class _Batch(Enum):
    READS = "reads"
    WRITES = "writes"


class RingMoved(BadReply):
    """A replica holds a newer ring than this proxy routes by."""


NewBackend = Callable[[int, RingMember], Backend]
"""Makes the backend of a ring member the config does not name, at the given position."""


class Coordinator:
    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        w: int,
        r: int,
        timeout_s: float,
        clock: HybridClock,
        handoff: Handoff,
        rejoin: Rejoin,
        expired_grace_ms: int,
        sloppy_quorum: bool = False,
        ring: RingInForce | None = None,
        new_backend: NewBackend | None = None,
    ) -> None:
        self.backends = list(backends)
        self._names = tuple(backend.name for backend in self.backends)
        self.ring = ring or RingInForce(
            RingState(0, len(self.backends), 1, tuple(RingMember(b.name) for b in self.backends)),
            {backend.name: backend.index for backend in self.backends},
        )
        """The ring in force, shared by every database's coordinator and every view."""
        self._new_backend = new_backend
        self._router = self
        """The coordinator of this database, which routes requests to the views."""
        self._views: dict[object, Coordinator] | None = {}
        """This database's coordinators of each set of owners (None in a view)."""
        self._read_groups: tuple[Group, ...] = ()
        self._write_groups: tuple[Group, ...] = ()
        self._ring_loading: asyncio.Future[None] | None = None
        self._waiting: list[Coordinator] = []
        """The views with requests queued this tick (in the database's coordinator)."""
        self._batch: TurnBatch | None = None
        """While a turn's rounds over a ring are being sent, the batch they send through."""
        self.w = w
        self.r = r
        self.timeout_s = timeout_s
        self.clock = clock
        self.handoff = handoff
        self.rejoin = rejoin
        self.sloppy_quorum = sloppy_quorum
        self.expired_grace_ms = expired_grace_ms
        """How long past its expiry a replica keeps a record (scripts.py): every write, repair
        and DBSIZE sends it."""
        self.counter_shard = secrets.token_bytes(SHARD_ID_LEN)
        """This process's shard of every counter it increments (counters.py): random, so two
        processes never share one, whatever their proxy ids."""
        self.unacknowledged = Unacknowledged()
        """The counters this process wrote that no quorum has acknowledged yet."""
        self.stats = ReplicationStats()
        self.quorum_watch = QuorumWatch()
        self._deadlines = Deadlines(timeout_s)
        self._queued: list[tuple[_Batch, Sequence[object], Outcome]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.db = 0
        self._databases: list[Coordinator | None] = [self] + [None] * (DATABASES - 1)
        for backend in self.backends:
            backend.on_up = rejoin.on_up

    def database(self, db: int) -> Coordinator:
        """The coordinator of database `db` (0 to DATABASES - 1): everything shared but its
        database and its queue (see the module's docstring)."""
        coordinator = self._databases[db]
        if coordinator is None:
            coordinator = self._databases[db] = copy.copy(self)
            coordinator.db = db
            coordinator._queued = []
            coordinator._router = coordinator
            coordinator._views = {}
            coordinator._waiting = []
            coordinator.unacknowledged = Unacknowledged()
        return coordinator

    def owners_of(self, key: bytes) -> list[Backend]:
        """The replicas of a key: its owners, during a move its old and new owners."""
        return self._view(self.ring.owners_of(key)).backends

    def _view(self, owners: object) -> Coordinator:
        """The coordinator of one set of owners (or of a move's old and new owners) in this
        database: the same shared state over those replicas, with its own queue."""
        views = self._views
        assert views is not None, "a view does not route"
        view = views.get(owners)
        if view is not None:
            return view
        if owners and isinstance(owners[0], tuple):  # type: ignore[index]
            old, new = cast(tuple[tuple[int, ...], tuple[int, ...]], owners)
            positions = tuple(sorted({*old, *new}))
        else:
            old = new = positions = cast(tuple[int, ...], owners)
        if positions == tuple(range(len(self.backends))) and old == new:
            view = self
        else:
            view = copy.copy(self)
            view.backends = [self.backends[i] for i in positions]
            view._names = tuple(backend.name for backend in view.backends)
            view._queued = []
            view._views = None
            if old != new:
                local = {replica: at for at, replica in enumerate(positions)}
                old_group = frozenset(local[i] for i in old)
                new_group = frozenset(local[i] for i in new)
                view._read_groups = (Group("old owners", old_group, self.r),)
                view._write_groups = (
                    Group("old owners", old_group, self.w),
                    Group("new owners", new_group, self.w),
                )
        views[owners] = view
        return view

    def _route(
        self, kind: _Batch, items: Sequence[object], keys: Sequence[bytes], done: Outcome
    ) -> None:
        """Hand a request to the view of its keys' owners, or split it among several."""
        ring = self.ring
        if ring.only is not None:
            self._view(ring.only)._start(kind, items, done)
            return
        parts: dict[object, list[int]] = {}
        for position, key in enumerate(keys):
            parts.setdefault(ring.owners_of(key), []).append(position)
        if len(parts) == 1:
            self._view(next(iter(parts)))._start(kind, items, done)
            return
        gathered = _Gathered(len(items), len(parts), done, kind is _Batch.READS)
        for owners, positions in parts.items():
            self._view(owners)._start(
                kind, [items[i] for i in positions], partial(gathered.part, positions)
            )

    def _start(self, kind: _Batch, items: Sequence[object], done: Outcome) -> None:
        if kind is _Batch.READS:
            self._enqueue(kind, items, done)
        else:
            records = cast(Sequence[tuple[bytes, Record]], items)
            self._enqueue(kind, items, partial(self._written, records, done, self.ring.epoch))

    def retry_if_moved(
        self, kind: Literal["read", "write"], items: Sequence[object], done: Outcome, epoch: int
    ) -> bool:
        """A request failed under ring `epoch` while a node showed a newer one: go again once
        that ring is loaded (and fail as before if it cannot be). Whether it goes again."""
        if self.ring.seen <= epoch:
            return False
        router = self._router
        retry = asyncio.ensure_future(router._retry(kind, items, epoch))
        retry.add_done_callback(partial(pass_outcome, done))
        return True

    async def _retry(
        self, kind: Literal["read", "write"], items: Sequence[object], epoch: int
    ) -> object:
        await self.load_ring()
        if self.ring.epoch <= epoch:
            raise QuorumError(
                f"ERR a replica holds ring epoch {self.ring.seen}, newer than this proxy's "
                f"{self.ring.epoch}, and it could not be loaded; try again"
            )
        batch = _Batch.READS if kind == "read" else _Batch.WRITES
        keys = (
            cast(Sequence[bytes], items)
            if batch is _Batch.READS
            else [key for key, _ in cast(Sequence[tuple[bytes, Record]], items)]
        )
        return await completion(partial(self._route, batch, items, keys))

    async def load_ring(self) -> None:
        """Read the ring every reachable node holds and adopt the newest, if newer than the
        one in force (one load at a time; callers that come meanwhile wait for it)."""
        if self._ring_loading is None or self._ring_loading.done():
            self._ring_loading = asyncio.ensure_future(self._load_ring())
        await asyncio.shield(self._ring_loading)

    async def _load_ring(self) -> None:
        up = [backend for backend in self.backends if backend.state == "up"]
        replies = await asyncio.gather(
            *(asyncio.wait_for(backend.execute(*READ_RING), self.timeout_s) for backend in up),
            return_exceptions=True,
        )
        try:
            state = newest(replies)
        except RingStateError as error:
            log.error("%s", error, extra={"event": "ring_unreadable"})
            return
        if state is not None and state.epoch > self.ring.epoch:
            await self.adopt(state)

    async def watch_ring_forever(self) -> None:
        """Look at the nodes' ring epoch every RING_POLL_S, so that a proxy with no requests
        in flight still adopts a newer ring (requests find it on their own)."""
        while True:
            await asyncio.sleep(RING_POLL_S)  # a polling interval, not synchronisation
            up = [backend for backend in self.backends if backend.state == "up"]
            replies = await asyncio.gather(
                *(
                    asyncio.wait_for(backend.execute(b"GET", EPOCH_KEY), self.timeout_s)
                    for backend in up
                ),
                return_exceptions=True,
            )
            epochs = [
                int(reply) for reply in replies if isinstance(reply, bytes) and reply.isdigit()
            ]
            if epochs and self.ring.saw(max(epochs)):
                try:
                    await self.load_ring()
                except QuorumError as error:
                    log.error("cannot adopt the newer ring: %s", error)

    async def adopt(self, state: RingState) -> None:
        """Route by `state` from now on, once connected to the members this proxy did not have
        (one that cannot be reached is retried in the background): every database's views
        are made again for it."""
        positions = {backend.name: backend.index for backend in self.backends}
        added = []
        for member in (*state.members, *(state.previous or ())):
            if member.endpoint in positions:
                continue
            if self._new_backend is None:
                raise QuorumError(f"ERR ring member {member.endpoint} has no backend here")
            backend = self._new_backend(len(self.backends), member)
            backend.on_up = self.rejoin.on_up
            self.backends.append(backend)
            self.rejoin.add(backend)
            positions[member.endpoint] = backend.index
            added.append(backend)
        await asyncio.gather(*(backend.connect() for backend in added))
        self._names = tuple(backend.name for backend in self.backends)
        for coordinator in self._databases:
            if coordinator is not None:
                coordinator._names = self._names
        previous = self.ring.epoch
        self.ring.adopt(state, positions)
        for coordinator in self._databases:
            if coordinator is not None and coordinator._views is not None:
                coordinator._views.clear()
        log.info(
            "ring epoch %d in force (was %d): %d members%s",
            state.epoch,
            previous,
            len(state.members),
            ", keys moving from the previous ring" if state.moving else "",
            extra={"event": "ring_adopted", "epoch": state.epoch, "moving": state.moving},
        )

    @property
    def hints(self) -> HintStats:
        """Hints stored, replayed and dropped since start-up, and pending now (for INFO)."""
        return self.handoff.ledger.stats

    def health(self, index: int) -> Health:
        """Whether replica `index` counts toward reads: in_sync, recovering or checking."""
        return self.rejoin.health[index]

    def stamp(self) -> Timestamp:
        return self.clock.now()

    async def read(self, keys: Sequence[bytes]) -> list[Record | None]:
        """The newest record of each key (tombstones and expired records included)."""
        return cast(list[Record | None], await completion(partial(self.read_then, keys)))

    def read_then(self, keys: Sequence[bytes], done: Outcome) -> None:
        """`read`, handing its result (or the QuorumError) to `done`: the common request runs
        on callbacks alone, with no task or coroutine of its own."""
        self.stats.reads += 1
        self._route(_Batch.READS, keys, keys, done)

    def _enqueue(self, kind: _Batch, items: Sequence[object], done: Outcome) -> None:
        """Requests made during one event-loop tick go out together at its end: the database's
        coordinator sends the queues of all its views then (`_send_waiting`)."""
        queued = self._queued
        if not queued:
            router = self._router
            waiting = router._waiting
            if not waiting:
                if router._loop is None:
                    router._loop = asyncio.get_running_loop()
                router._loop.call_soon(router._send_waiting)
            waiting.append(self)
        queued.append((kind, items, done))

    def _send_waiting(self) -> None:
        """The rounds of every view with requests this tick, each replica written to once for
        all of them: over a ring a replica is in several views' rounds."""
        waiting, self._waiting = self._waiting, []
        backends = self.backends
        for backend in backends:
            backend.hold()
        try:
            if self.ring.only is not None:
                for view in waiting:
                    for kind, run in view._runs():
                        view._send_run(kind, run)
            else:
                self._send_batched(waiting)
        finally:
            for backend in backends:
                backend.release()

    def _send_batched(self, waiting: list[Coordinator]) -> None:
        """Over a ring, the turn's rounds send their keys through one TurnBatch, one call per
        node and phase (turn_batch.py)."""
        batch = self._batch = TurnBatch(self.db, self.ring.epoch, self.expired_grace_ms)
        try:
            runs = [(view, view._runs()) for view in waiting]
            for phase in range(max(len(view_runs) for _, view_runs in runs)):
                batch.phase = phase
                for view, view_runs in runs:
                    if phase < len(view_runs):
                        view._send_run(*view_runs[phase])
        finally:
            self._batch = None
            batch.send()

    def _runs(self) -> list[tuple[_Batch, list[tuple[Sequence[object], Outcome]]]]:
        """The queued requests as runs of reads or of writes, in the order they came: a
        client's pipelined SET then GET reach every replica in that order, so the GET sees
        the SET. A run is cut at MAX_BATCH keys, which bounds the time a replica spends on one
        call."""
        queued, self._queued = self._queued, []
        runs: list[tuple[_Batch, list[tuple[Sequence[object], Outcome]]]] = []
        start = 0
        while start < len(queued):
            kind = queued[start][0]
            end, keys = start, 0
            while end < len(queued) and queued[end][0] is kind and keys < MAX_BATCH:
                keys += len(queued[end][1])
                end += 1
            runs.append((kind, [(items, done) for _, items, done in queued[start:end]]))
            start = end
        return runs

    def _send_run(self, kind: _Batch, run: list[tuple[Sequence[object], Outcome]]) -> None:
        """One round for a run."""
        if kind is _Batch.READS:
            self._send_reads(cast(list[tuple[Sequence[bytes], Outcome]], run))
        else:
            self._send_writes(cast(list[tuple[Sequence[tuple[bytes, Record]], Outcome]], run))

    def _send_reads(self, run: list[tuple[Sequence[bytes], Outcome]]) -> None:
        keys, done = run[0] if len(run) == 1 else (_joined(run), partial(split_reads, run))
        batch = self._router._batch
        request = _BatchedRead(batch, keys) if batch is not None else read_request(keys, self.db)
        ring = self.ring
        read = Read(self, keys, done, ring.epoch)
        self._round(
            "read",
            self.r,
            partial(self._read_from, request),
            read.reached,
            parse=partial(_check_ring_reads, len(keys), ring),
            on_late=read.late,
        )

    def resolve_key(self, replies: dict[int, list[Reply]], position: int) -> Resolution:
        """The replicas disagree on a key: the last-write-wins rule decides, with repairs."""
        reads: list[ReplicaRead | None] = [None] * len(self.backends)
        for replica, reply in replies.items():
            reads[replica] = decode_read(reply[position], reply[-1])
        return resolve(reads)

    def send_repair(self, key: bytes, repair: Repair, deliver: Deliver) -> int:
        """Send what replica `repair.replica` lacks; returns how many requests went."""
        backend = self.backends[repair.replica]
        sent = 0
        if repair.flush is not None:
            backend.call_script(deliver, FLUSH, (), (repair.flush.pack(),), self.db)
            sent += 1
        if repair.record is not None:
            stored = _stored(key, repair.record)
            backend.call_script(
                deliver,
                WRITE_IF_NEWER,
                (key,),
                write_if_newer_args(
                    (key,), (stored,), self.expired_grace_ms, self.ring.epoch, self.db
                ),
                self.db,
            )
            sent += 1
        return sent

    async def write(self, records: Sequence[tuple[bytes, Record]]) -> None:
        """Apply every record on at least W replicas, or raise QuorumError."""
        await completion(partial(self.write_then, records))

    def write_then(self, records: Sequence[tuple[bytes, Record]], done: Outcome) -> None:
        """`write`, handing None (or the QuorumError) to `done`. The replicas that miss it get
        hints.

        A replica refuses a record when it holds a version at least as new (or a newer flush).
        That version can come from a proxy whose clock runs ahead, or from the same
        millisecond with a higher proxy id, and still be older in real time than this write,
        which its client issued later: so the write looks at what blocked it, moves the clock
        past it and goes again with a newer timestamp (`_write_refused`), rather than answer
        OK for a write that no replica will show."""

        self.stats.writes += 1
        self._route(_Batch.WRITES, records, [key for key, _ in records], done)

    def _written(
        self, records: Sequence[tuple[bytes, Record]], done: Outcome, epoch: int, outcome: object
    ) -> None:
        if isinstance(outcome, BaseException):
            if not self.retry_if_moved("write", records, done, epoch):
                done(outcome)
        elif refused := _refusals(cast(dict[int, object], outcome)):
            retry = asyncio.ensure_future(self._write_refused(records, refused))
            retry.add_done_callback(partial(pass_outcome, done))
        else:
            done(None)  # the usual case: no extra round trip, not even a coroutine

    def _send_writes(self, run: list[tuple[Sequence[tuple[bytes, Record]], Outcome]]) -> None:
        records, done = run[0] if len(run) == 1 else (_joined(run), partial(_split_writes, run))
        self._write_once(records, done)

    async def _write_refused(
        self, records: Sequence[tuple[bytes, Record]], refused: dict[int, list[int]]
    ) -> None:
        for attempt in range(1, RESTAMP_ATTEMPTS + 1):
            blocked = await self._blocking_versions(records, refused)
            if not blocked:
                return
            for blocking in blocked.values():
                if not self.clock.observe(blocking):
                    raise QuorumError(
                        "ERR the key holds a version stamped more than max_clock_offset_ms "
                        "in the future; a writer's clock is wrong"
                    )
            if attempt == RESTAMP_ATTEMPTS:
                break
            self.stats.restamped_writes += len(blocked)
            records = [
                (key, record._replace(ts=self.clock.now()))
                for key, record in records
                if key in blocked
            ]
            answers = await completion(partial(self._write_once, records))
            refused = _refusals(cast(dict[int, object], answers))
            if not refused:
                return
        raise QuorumError("ERR write kept losing to newer versions; try again")

    def _write_once(self, records: Sequence[tuple[bytes, Record]], done: Outcome) -> None:
        """One round of one WRITE_IF_NEWER call per replica for all the records, packed once
        (or, in a turn over a ring, handed to its TurnBatch)."""
        keys = [key for key, _ in records]
        encoded = [_stored(key, record) for key, record in records]
        ring = self.ring
        db = self.db
        epoch = ring.epoch
        batch = self._router._batch
        send: Callable[[Backend, Deliver], None]
        if batch is None:
            call = pack_script(
                WRITE_IF_NEWER,
                keys,
                write_if_newer_args(keys, encoded, self.expired_grace_ms, epoch, db),
            )

            def send(backend: Backend, deliver: Deliver) -> None:
                backend.send_script(partial(_note_ring, ring, deliver), call, db)

        else:
            leaves = list(map(leaf_bytes, keys, encoded))
            batched = batch

            def send(backend: Backend, deliver: Deliver) -> None:
                batched.write(backend, keys, encoded, leaves, partial(_note_ring, ring, deliver))

        def missed(replica: int) -> bool:
            if ring.seen > epoch:
                return False  # it goes again under the newer ring, whose move copies the rest
            hints = list(zip(keys, encoded, strict=True))
            return self.handoff.add(self.backends[replica].name, hints, db)

        self._round(
            "write",
            self.w,
            send,
            done,
            parse=partial(_parse_script_acks, len(records)),
            on_missed=missed,
        )

    async def _blocking_versions(
        self, records: Sequence[tuple[bytes, Record]], refused: dict[int, list[int]]
    ) -> dict[bytes, Timestamp]:
        """For each refused record (by replica, positions in `records`), the newer version (or
        flush) that replica holds; a refusal by a replica that holds this very version (a
        repair got there first) blocks nothing."""
        blocked: dict[bytes, Timestamp] = {}
        for replica, positions in refused.items():
            keys = [records[i][0] for i in positions]
            try:
                reply = await self.backends[replica].execute(b"MGET", *keys, FLUSH_KEY, db=self.db)
                reads = decode_reads(check_reads(len(keys), reply))
            except (ReplicaUnavailable, BadReply):
                continue  # gone since it answered: what blocked it is unknown, its ack stands
            for position, read in zip(positions, reads, strict=True):
                key, record = records[position]
                held = max(
                    (ts for ts in (_ts_of(read.record), read.flushed_at) if ts is not None),
                    default=None,
                )
                if held is not None and held > record.ts:
                    blocked[key] = max(held, blocked.get(key, held))
        return blocked

    async def flush(self) -> None:
        """A timestamped FLUSHDB: everything older than it is gone on every replica it reaches."""
        await completion(self._flush_then)

    async def flush_all(self) -> None:
        """FLUSHDB in every database, each its own round, all sent at once (before any
        request that comes after)."""
        flushes = [completion(self.database(db)._flush_then) for db in range(DATABASES)]
        await asyncio.gather(*flushes)

    def _flush_then(self, done: Outcome) -> None:
        """Over a ring the flush must reach W owners of every key: it goes to every node and
        may miss no more than N - W of them."""
        packed = self.clock.now().pack()
        db = self.db
        members = self._members()
        members._round(
            "write",
            len(members.backends) - (self._replicas_per_key() - self.w),
            lambda backend, deliver: backend.call_script(deliver, FLUSH, (), (packed,), db),
            done,
            parse=_parse_int,
        )

    async def dbsize(self) -> int:
        """The largest count of client-visible keys among R replicas (expired records still
        kept are not visible). Over a ring every node is asked, and the keys they hold added up
        are N times the keys there are, as long as every node holds what it owns."""
        call = pack_script(DBSIZE, (), (b"%d" % self.expired_grace_ms,))
        spread = self.ring.only is None
        members = self._members()
        answers = await completion(
            partial(
                members._round,
                "read",
                len(members.backends) if spread else self.r,
                partial(members._read_from, call),
                parse=_parse_int,
            )
        )
        counts = [c for c in cast(dict[int, object], answers).values() if isinstance(c, int)]
        if spread:
            return round(sum(counts) / self._replicas_per_key())
        return max(counts)

    def _members(self) -> Coordinator:
        """The coordinator of every node of the ring in force (and, while keys move, of the
        ring they move from): nodes the proxy knows that left the ring hold no keys."""
        names = set(self.ring.state.endpoints())
        return self._view(tuple(b.index for b in self.backends if b.name in names))

    def _replicas_per_key(self) -> int:
        return self.ring.state.n if self.ring.only is None else len(self.ring.only)

    async def purge_tombstones(self, cutoff_ms: int, batch: int = 1000) -> int:
        """Drop tombstones older than the cutoff on every reachable replica, in each database
        that holds keys there."""
        purged = 0
        for backend in self.backends:
            if backend.state != "up":
                continue
            keyspace = await backend.execute(b"INFO", b"keyspace")
            if not isinstance(keyspace, bytes):
                continue
            for db in databases_in(keyspace):
                while True:
                    reply = await backend.run_script(
                        PURGE_TOMBSTONES, [], [b"%d" % cutoff_ms, b"%d" % batch], db
                    )
                    if not isinstance(reply, int):
                        break
                    purged += reply
                    if reply < batch:
                        break
        self.stats.tombstones_purged += purged
        return purged

    async def close(self) -> None:
        self._deadlines.close()
        await self.rejoin.close()
        for backend in self.backends:
            await backend.close()
        await self.handoff.close()

    def _read_from(
        self, request: bytes | ScriptCall | _BatchedRead, backend: Backend, deliver: Deliver
    ) -> None:
        """Send a read (a packed command or script call) to a replica if it counts toward
        reads: one being checked is asked once its check says it is in sync, a recovering one
        once it is found refilled (else it fails)."""
        health = self.rejoin.health[backend.index]
        if health is Health.IN_SYNC:
            _send_read(backend, request, deliver, self.db)
        elif health is Health.CHECKING:
            checked = asyncio.ensure_future(self._read_once_checked(backend, request))
            checked.add_done_callback(partial(_deliver_outcome, deliver))
        else:
            refilled = asyncio.ensure_future(self._read_once_refilled(backend, request))
            refilled.add_done_callback(partial(_deliver_outcome, deliver))

    async def _read_once_checked(
        self, backend: Backend, request: bytes | ScriptCall | _BatchedRead
    ) -> Reply:
        health = await self.rejoin.wait_checked(backend.index)
        if health is Health.RECOVERING:
            raise ReplicaUnavailable(_recovering(backend.name))
        if health is Health.CHECKING:
            raise ReplicaUnavailable(f"{backend.name}: not checked for lost data yet")
        return await _read_now(backend, request, self.db)

    async def _read_once_refilled(
        self, backend: Backend, request: bytes | ScriptCall | _BatchedRead
    ) -> Reply:
        if await self.rejoin.refilled(backend.index) is not Health.IN_SYNC:
            raise ReplicaUnavailable(_recovering(backend.name))
        return await _read_now(backend, request, self.db)

    def _round(
        self,
        kind: Literal["read", "write"],
        required: int,
        send: Callable[[Backend, Deliver], None],
        done: Outcome,
        *,
        parse: Callable[[Reply], object],
        on_late: Callable[[int, object], None] | None = None,
        on_missed: Callable[[int], bool] | None = None,
    ) -> None:
        """Start one quorum round; `done` gets the answers by replica, or the QuorumError.
        `on_missed(replica)` is called for each replica that failed or had not answered by the
        deadline, and says whether a hint was kept; with sloppy_quorum a kept hint counts as a
        success once some replica has succeeded."""
        round_ = Round(
            self._names,
            self.sloppy_quorum,
            self.stats,
            self.quorum_watch,
            kind,
            required,
            parse,
            done,
            on_late,
            on_missed,
            self._write_groups if kind == "write" else self._read_groups,
        )
        self._deadlines.add(round_)
        for position, backend in enumerate(self.backends):
            send(backend, partial(round_.answered, position))

    def repair_late(
        self,
        keys: Sequence[bytes],
        settled: Sequence[Resolution],
        replica: int,
        answer: object,
    ) -> None:
        """A replica answered after the quorum: bring it up to what the quorum saw, if stale."""
        assert isinstance(answer, list)
        for key, resolution, late_read in zip(keys, settled, decode_reads(answer), strict=True):
            repair = resolution.repair_for(replica, late_read)
            if repair is not None:
                self.stats.background_repairs += self.send_repair(key, repair, _ignore)


def _stored(key: bytes, record: Record) -> bytes:
    """The record as WRITE_IF_NEWER takes and a replica stores it: encoded with the key's range."""
    return encode_record(record, range_of(key))


def _recovering(name: str) -> str:
    """Why a recovering replica does not answer a read, and what ends it."""
    return (
        f"replica {name} is recovering (emptied; not counted toward reads until refilled):"
        " run `leaderless anti-entropy --once` or wait for the sidecar"
    )


async def _read_now(backend: Backend, request: bytes | ScriptCall | _BatchedRead, db: int) -> Reply:
    future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
    _send_read(backend, request, settle(future), db)
    return await future


class _BatchedRead(NamedTuple):
    """A read of a turn over a ring: its keys go through the turn's batch, or, once the batch
    is sent (a replica asked after its check), alone."""

    batch: TurnBatch
    keys: Sequence[bytes]


def _send_read(
    backend: Backend, request: bytes | ScriptCall | _BatchedRead, deliver: Deliver, db: int
) -> None:
    if not isinstance(request, _BatchedRead):
        send_request(backend, request, deliver, db)
    elif request.batch.open:
        request.batch.read(backend, request.keys, deliver)
    else:
        send_request(backend, read_request(request.keys, db), deliver, db)


T = TypeVar("T")


def _joined(run: list[tuple[Sequence[T], Outcome]]) -> list[T]:
    return [item for items, _ in run for item in items]


def _split_writes(
    run: list[tuple[Sequence[tuple[bytes, Record]], Outcome]], outcome: object
) -> None:
    """Hand each write of a shared round its own acknowledgements, by replica."""
    if isinstance(outcome, BaseException):
        for _, done in run:
            done(outcome)
        return
    answers = cast(dict[int, object], outcome)
    if not _refusals(answers):  # the usual case: every write of the run was applied
        for _, done in run:
            done(_NONE_REFUSED)
        return
    start = 0
    for records, done in run:
        end = start + len(records)
        done({i: a[start:end] if isinstance(a, list) else a for i, a in answers.items()})
        start = end


_NONE_REFUSED: dict[int, object] = {}
"""The acknowledgements a write gets when no replica refused any record of its round."""


def _ignore(reply: object) -> None:
    """For background repairs: a replica that misses one is repaired by the next read or by
    anti-entropy."""


def _deliver_outcome(deliver: Deliver, done: asyncio.Future[Reply]) -> None:
    if done.cancelled():
        deliver(ReplicaUnavailable("cancelled"))
    elif (exc := done.exception()) is not None:
        deliver(exc)
    else:
        deliver(done.result())


def _parse_script_acks(count: int, reply: Reply) -> object:
    """Per record, 1 if the replica applied it, 0 if it already held something as new."""
    if not isinstance(reply, list) or len(reply) != count:
        raise BadReply(str(reply))
    return reply


def _note_ring(ring: RingInForce, deliver: Deliver, reply: Reply | BaseException) -> None:
    """A write refused for a newer ring (`RINGEPOCH <epoch>`, scripts.WRITE_IF_NEWER) makes
    that ring known before the refusal reaches its round."""
    if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("RINGEPOCH "):
        ring.saw(int(str(reply).split()[1]))
    deliver(reply)


def _check_ring_reads(count: int, ring: RingInForce, reply: Reply) -> list[Reply]:
    """`check_reads` of `MGET key... FLUSH_KEY EPOCH_KEY`, once the epoch is taken off it: a
    replica that holds a newer ring than the read was routed by fails the read."""
    if not isinstance(reply, list) or len(reply) != count + 2:
        raise BadReply(str(reply))
    held = reply.pop()
    if held is not None and isinstance(held, bytes) and held.isdigit():
        _ring_moved(ring, int(held))
    return check_reads(count, reply)


def _ring_moved(ring: RingInForce, epoch: int) -> None:
    if ring.saw(epoch):
        raise RingMoved(f"holds ring epoch {epoch}, newer than this proxy's {ring.epoch}")


class _Gathered:
    """A request split among sets of owners: answered once every part is, each read's
    records in the order of its keys."""

    __slots__ = ("_done", "_records", "_unanswered")

    def __init__(self, size: int, parts: int, done: Outcome, reads: bool) -> None:
        self._done: Outcome | None = done
        self._records: list[object] | None = [None] * size if reads else None
        self._unanswered = parts

    def part(self, positions: Sequence[int], outcome: object) -> None:
        done = self._done
        if done is None:
            return
        if isinstance(outcome, BaseException):
            self._done = None
            done(outcome)
            return
        records = self._records
        if records is not None:
            for position, record in zip(positions, cast(list[object], outcome), strict=True):
                records[position] = record
        self._unanswered -= 1
        if not self._unanswered:
            self._done = None
            done(records)


def _refusals(answers: dict[int, object]) -> dict[int, list[int]]:
    """Per acknowledging replica, the positions of the records it did not apply."""
    refused: dict[int, list[int]] = {}
    for replica, acks in answers.items():
        if isinstance(acks, list) and 0 in acks:
            refused[replica] = [i for i, applied in enumerate(acks) if applied == 0]
    return refused


def _ts_of(record: Record | None) -> Timestamp | None:
    return None if record is None else record.ts


def _parse_int(reply: Reply) -> object:
    if not isinstance(reply, int):
        raise BadReply(str(reply))
    return reply
