"""A turn's rounds over a ring: one call per node and phase, each round answered from its slice."""

from __future__ import annotations

from typing import cast

from leaderless.replication.backend import Backend, Deliver, ScriptCall
from leaderless.replication.scripts import WRITE_IF_NEWER
from leaderless.replication.turn_batch import MAX_KEYS, TurnBatch


class NodeDouble:
    def __init__(self, index: int) -> None:
        self.index = index
        self.sent: list[tuple[str, bytes, Deliver]] = []

    def send(self, deliver: Deliver, request: bytes, db: int = 0) -> None:
        self.sent.append(("command", request, deliver))

    def send_script(self, deliver: Deliver, call: ScriptCall, db: int = 0) -> None:
        self.sent.append(("script", call.evalsha + call.arguments, deliver))


def node(index: int) -> Backend:
    return cast(Backend, NodeDouble(index))


def sent(backend: Backend) -> list[tuple[str, bytes, Deliver]]:
    return cast(NodeDouble, backend).sent


def test_rounds_reading_from_one_node_share_one_mget_and_get_their_slices() -> None:
    a = node(0)
    batch = TurnBatch(0, 7, 1000)
    answers: list[object] = []
    batch.read(a, [b"k1", b"k2"], answers.append)
    batch.read(a, [b"k3"], answers.append)
    batch.send()
    ((kind, request, deliver),) = sent(a)
    assert kind == "command" and request.count(b"$") == 6  # MGET, 3 keys, the flush, the epoch
    deliver([b"v1", None, b"v3", b"flush", b"7"])
    assert answers == [[b"v1", None, b"flush", b"7"], [b"v3", b"flush", b"7"]]


def test_a_failed_call_fails_every_round_in_it() -> None:
    a = node(0)
    batch = TurnBatch(0, 7, 1000)
    answers: list[object] = []
    keys = [b"k1", b"k2"]
    batch.write(a, keys, [b"r1", b"r2"], [b"l1", b"l2"], answers.append)
    batch.write(a, [b"k3"], [b"r3"], [b"l3"], answers.append)
    batch.send()
    ((kind, request, deliver),) = sent(a)
    assert kind == "script" and WRITE_IF_NEWER.sha in request
    refused = RuntimeError("RINGEPOCH 9")
    deliver(refused)
    assert answers == [refused, refused]


def test_writes_are_answered_with_their_own_acks() -> None:
    a = node(0)
    batch = TurnBatch(0, 7, 1000)
    answers: list[object] = []
    batch.write(a, [b"k1"], [b"r1"], [b"l1"], answers.append)
    batch.write(a, [b"k2", b"k3"], [b"r2", b"r3"], [b"l2", b"l3"], answers.append)
    batch.send()
    sent(a)[0][2]([1, 0, 1])
    assert answers == [[1], [0, 1]]


def test_phases_keep_their_order_on_each_node_and_calls_are_cut_at_max_keys() -> None:
    a, b = node(0), node(1)
    batch = TurnBatch(0, 7, 1000)
    batch.write(a, [b"w"], [b"r"], [b"l"], print)
    batch.read(b, [b"x"], print)
    batch.phase = 1
    batch.read(a, [b"w"], print)
    for start in range(0, MAX_KEYS + 1, 64):
        batch.read(b, [b"y%d" % i for i in range(start, start + 64)], print)
    batch.send()
    assert [kind for kind, _, _ in sent(a)] == ["script", "command"]
    assert len(sent(b)) == 3  # phase 0, then phase 1 cut in two
