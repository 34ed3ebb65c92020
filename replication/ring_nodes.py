"""The nodes a membership change talks to, and what it reads from and installs on them.

`MoveNodes` connects to nodes by endpoint as they turn up (the stored ring may name nodes the
config does not; those log in as the first configured node does). `read_stored` is a move's
step 1: the newest ring over every node reachable, with the nodes it and a pending drop name
asked too. `install` is steps 2 and 4: a state on every node, by compare-and-set on the epoch,
read back. `key_counts` and `last_progress` are what `leaderless ring show` asks. A failed
request is MoveIncomplete naming the node: the move stops there, and running it again resumes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import hiredis
from leaderless.config.settings import NodeAddress, parse_endpoint
from leaderless.replication.backend import Backend, ReplicaUnavailable, Reply
from leaderless.replication.databases import databases_in
from leaderless.replication.move_plan import MoveIncomplete, MoveRefused, PendingDrop
from leaderless.replication.ring_state import (
    EPOCH_FIELD,
    INSTALL_RING,
    INSTALL_RING_KEYS,
    RING_FIELD,
    RingState,
    newest,
)
from leaderless.replication.scripts import DBSIZE, RING_KEY

DROPPING_FIELD = b"dropping"
"""The pending drop (move_plan.PendingDrop), in RING_KEY."""
PROGRESS_FIELD = b"progress"
"""The running move's last progress line, in RING_KEY, for `leaderless ring show`."""
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class StoredRing:
    """What the nodes store: the newest ring (None if none does) and a pending drop."""

    state: RingState | None
    pending: PendingDrop | None
    unreachable: tuple[str, ...]


class MoveNodes:
    """The backends a move talks to, by endpoint, connected on first use. A node the config
    does not name logs in as the first configured node does."""

    def __init__(self, known: Iterable[NodeAddress], *, connect_timeout_s: float) -> None:
        self._known = {address.endpoint: address for address in known}
        self._login = next(iter(self._known.values()), None)
        self._timeout_s = connect_timeout_s
        self._backends: dict[str, Backend] = {}

    def address(self, endpoint: str) -> NodeAddress:
        if endpoint in self._known:
            return self._known[endpoint]
        if self._login is None:
            return NodeAddress(*parse_endpoint(endpoint))
        return self._login.at(endpoint)

    async def get(self, endpoints: Sequence[str]) -> list[Backend]:
        new = [e for e in dict.fromkeys(endpoints) if e not in self._backends]
        for endpoint in new:
            self._backends[endpoint] = Backend(
                len(self._backends), self.address(endpoint), connect_timeout_s=self._timeout_s
            )
        await asyncio.gather(*(self._backends[e].connect() for e in new))
        return [self._backends[e] for e in endpoints]

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()


async def call(backend: Backend, request: Awaitable[Reply]) -> Reply:
    """One request's reply; a failure or an error reply is MoveIncomplete naming the node."""
    reply = await answer(backend, request)
    if isinstance(reply, hiredis.ReplyError):
        raise MoveIncomplete(f"{backend.name}: {reply}")
    return reply


async def answer(backend: Backend, request: Awaitable[Reply]) -> Reply:
    """One request's reply, an error reply included (the future raises it); a failure is
    MoveIncomplete."""
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            return await request
    except hiredis.ReplyError as error:
        return error
    except (OSError, TimeoutError, ReplicaUnavailable) as failure:
        raise MoveIncomplete(f"{backend.name}: {failure or 'timed out'}") from None


async def read_stored(nodes: MoveNodes, endpoints: Sequence[str]) -> StoredRing:
    """Step 1: the newest ring over these nodes and every node it names, all that answer."""
    asked: list[str] = []
    todo = list(dict.fromkeys(endpoints))
    replies: list[object] = []
    while todo:
        asked += todo
        backends = await nodes.get(todo)
        replies += await asyncio.gather(
            *(
                lenient(b, b.execute(b"HMGET", RING_KEY, EPOCH_FIELD, RING_FIELD, DROPPING_FIELD))
                for b in backends
            )
        )
        state = newest([r[:2] for r in replies if isinstance(r, list)])
        pending = _pending(state, replies)
        named = [*(state.endpoints() if state else ()), *(pending.nodes if pending else ())]
        todo = [e for e in dict.fromkeys(named) if e not in asked]
    unreachable = tuple(e for e, reply in zip(asked, replies, strict=True) if reply is None)
    return StoredRing(state, pending, unreachable)


def _pending(state: RingState | None, replies: Sequence[object]) -> PendingDrop | None:
    if state is None or state.moving:
        return None
    for reply in replies:
        if isinstance(reply, list) and len(reply) == 3:
            pending = PendingDrop.decode(reply[2])
            if pending is not None and pending.epoch == state.epoch:
                return pending
    return None


async def lenient(backend: Backend, request: Awaitable[Reply]) -> Reply:
    """One request's reply, or None if it failed (a node that is down answers nothing)."""
    try:
        return await call(backend, request)
    except MoveIncomplete:
        return None


async def install(nodes: MoveNodes, state: RingState, endpoints: Sequence[str]) -> None:
    """Steps 2 and 4: `state` on every one of these nodes, read back, or an error saying
    which nodes do not hold it."""
    backends = await nodes.get(endpoints)
    args = [b"%d" % state.epoch, state.encode()]
    await asyncio.gather(
        *(lenient(b, b.run_script(INSTALL_RING, INSTALL_RING_KEYS, args)) for b in backends)
    )
    held = await asyncio.gather(
        *(lenient(b, b.execute(b"HMGET", RING_KEY, EPOCH_FIELD, RING_FIELD)) for b in backends)
    )
    unreachable = [b.name for b, reply in zip(backends, held, strict=True) if reply is None]
    if unreachable:
        raise MoveIncomplete(
            f"cannot install the ring at epoch {state.epoch} on {', '.join(unreachable)} "
            "(unreachable): bring them back and run the move again"
        )
    for backend, reply in zip(backends, held, strict=True):
        theirs = newest([reply])
        if theirs != state:
            epoch = "none" if theirs is None else theirs.epoch
            raise MoveRefused(
                f"{backend.name} holds another ring (epoch {epoch}) than the one installed "
                f"(epoch {state.epoch}): another membership change is under way"
            )


async def key_counts(nodes: MoveNodes, endpoints: Sequence[str], grace_ms: int) -> list[int | None]:
    """The keys a client could see on each node (DBSIZE over its databases); None if down."""

    async def count(backend: Backend) -> int | None:
        try:
            info = await call(backend, backend.execute(b"INFO", b"keyspace"))
            sizes = [
                await call(backend, backend.run_script(DBSIZE, [], [b"%d" % grace_ms], db))
                for db in databases_in(cast(bytes, info)) or [0]
            ]
        except MoveIncomplete:
            return None
        return sum(cast(list[int], sizes))

    return list(await asyncio.gather(*(count(b) for b in await nodes.get(endpoints))))


async def last_progress(nodes: MoveNodes, endpoints: Sequence[str]) -> str | None:
    """The progress line the running (or last stopped) move noted on the nodes, if any."""
    for backend in await nodes.get(endpoints):
        line = await lenient(backend, backend.execute(b"HGET", RING_KEY, PROGRESS_FIELD))
        if isinstance(line, bytes):
            return line.decode()
    return None
