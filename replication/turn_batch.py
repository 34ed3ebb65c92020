"""One call per node for an event-loop turn's rounds over a ring.

Over a ring the requests of one turn fall into the rounds of many owner sets (coordinator.py,
`_view`), a node being in several of them. Rather than one MGET and one write-script call per
round and node, a turn's rounds hand their keys to a TurnBatch, which sends each node one MGET
and one script call per phase and answers each round from its slice of the reply, as if it had
been sent alone. A phase is the n-th run of reads or writes of every view: a view's runs keep
their order on every node, since phase n goes out before phase n + 1, and the views of one turn
hold different keys, so the order among them does not matter. A call is cut at MAX_KEYS keys,
which bounds the time a node spends on one call, as a round's run is.

A reply that is not what the call asks for (an error, a node down, a refusal for a newer ring)
is handed whole to every round in it: each decides as it would have alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from leaderless.replication.backend import Backend, Deliver, pack_script
from leaderless.replication.reads import read_request, send_request
from leaderless.replication.scripts import WRITE_IF_NEWER, write_if_newer_args

MAX_KEYS = 256


@dataclass
class _NodeCall:
    """One node's share of a phase's reads or writes."""

    backend: Backend
    keys: list[bytes] = field(default_factory=list)
    records: list[bytes] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)
    parts: list[tuple[Deliver, int]] = field(default_factory=list)


class TurnBatch:
    def __init__(self, db: int, epoch: int, expired_grace_ms: int) -> None:
        self.db = db
        self.epoch = epoch
        self.expired_grace_ms = expired_grace_ms
        self.phase = 0
        self.open = True
        self._calls: dict[tuple[int, int, bool, int], _NodeCall] = {}
        self._chunks: dict[tuple[int, int, bool], int] = {}

    def read(self, backend: Backend, keys: Sequence[bytes], deliver: Deliver) -> None:
        """A round's read of `keys` from `backend`: `deliver` gets what `MGET keys FLUSH_KEY
        EPOCH_KEY` would have answered."""
        call = self._call(backend, False, len(keys))
        call.keys.extend(keys)
        call.parts.append((deliver, len(keys)))

    def write(
        self,
        backend: Backend,
        keys: Sequence[bytes],
        records: Sequence[bytes],
        leaves: Sequence[bytes],
        deliver: Deliver,
    ) -> None:
        """A round's WRITE_IF_NEWER of these records to `backend`: `deliver` gets its acks."""
        call = self._call(backend, True, len(keys))
        call.keys.extend(keys)
        call.records.extend(records)
        call.leaves.extend(leaves)
        call.parts.append((deliver, len(keys)))

    def send(self) -> None:
        """Every node's calls, in phase order for each node."""
        self.open = False
        db = self.db
        for (_, _, writes, _), call in self._calls.items():
            keys = call.keys
            answer = partial(_answer_parts, call.parts, len(keys), 0 if writes else 2)
            if writes:
                args = write_if_newer_args(
                    keys, call.records, self.expired_grace_ms, self.epoch, db, call.leaves
                )
                call.backend.send_script(answer, pack_script(WRITE_IF_NEWER, keys, args), db)
            else:
                send_request(call.backend, read_request(keys, db), answer, db)

    def _call(self, backend: Backend, writes: bool, adding: int) -> _NodeCall:
        slot = (backend.index, self.phase, writes)
        chunk = self._chunks.get(slot, 0)
        call = self._calls.get((*slot, chunk))
        if call is not None and call.keys and len(call.keys) + adding > MAX_KEYS:
            chunk = self._chunks[slot] = chunk + 1
            call = None
        if call is None:
            call = self._calls[(*slot, chunk)] = _NodeCall(backend)
        return call


def _answer_parts(
    parts: Sequence[tuple[Deliver, int]], keys: int, shared: int, reply: object
) -> None:
    """Each round its slice of the reply, followed by the `shared` values every round gets
    (a read's flush and epoch), or the whole reply when it is not the list the call asks for."""
    if not isinstance(reply, list) or len(reply) != keys + shared:
        for deliver, _ in parts:
            deliver(reply)
        return
    tail = reply[keys:]
    start = 0
    for deliver, count in parts:
        deliver(reply[start : start + count] + tail)
        start += count
