"""The pages of a keyspace iteration over in-memory replicas: which replica each call scans,
what it does when one is down, not in sync or answers nonsense, and what it leaves out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from leaderless.replication.backend import ReplicaUnavailable
from leaderless.replication.keyspace_scan import replica_random_key, scan_page
from leaderless.replication.membership import Health
from leaderless.replication.rounds import QuorumError


@dataclass
class Replica:
    """SCAN over its keys in a fixed order, the cursor an offset (COUNT keys a step)."""

    keys: list[bytes]
    state: str = "up"
    health: Health = Health.IN_SYNC
    reply: object = None
    """Answered instead of a SCAN reply when set."""
    asked: list[list[bytes]] = field(default_factory=list)

    def execute(self, *args: bytes, db: int = 0) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.asked.append(list(args))
        if self.state != "up":
            future.set_exception(ReplicaUnavailable("down"))
        elif self.reply is not None:
            future.set_result(self.reply)
        elif args[0] == b"RANDOMKEY":
            future.set_result(self.keys[0] if self.keys else None)
        else:
            start = int(args[1])
            count = int(args[args.index(b"COUNT") + 1]) if b"COUNT" in args else 10
            end = start + count
            cursor = b"%d" % end if end < len(self.keys) else b"0"
            future.set_result([cursor, self.keys[start:end]])
        return future


@dataclass
class Coordinator:
    backends: list[Replica]
    w: int = 2
    sloppy_quorum: bool = False
    timeout_s: float = 1.0
    db: int = 0

    def health(self, index: int) -> Health:
        return self.backends[index].health


KEYS = [b"k%d" % i for i in range(25)]


def cluster(*replicas: Replica) -> Coordinator:
    return Coordinator(list(replicas))


def whole(coordinator: Coordinator, count: int) -> tuple[list[int], list[bytes]]:
    """Every cursor a whole iteration gives, and every key it lists."""

    async def run() -> tuple[list[int], list[bytes]]:
        cursors, keys = [], []
        cursor = 0
        while True:
            cursor, page = await scan_page(coordinator, cursor, None, count)
            cursors.append(cursor)
            keys += page
            if cursor == 0:
                return cursors, keys

    return asyncio.run(run())


def test_an_iteration_scans_n_minus_w_plus_1_replicas_in_turn() -> None:
    replicas = [Replica(list(KEYS)) for _ in range(3)]
    cursors, keys = whole(cluster(*replicas), 10)
    assert sorted(keys) == sorted(KEYS * 2)
    assert [cursor & 15 for cursor in cursors[:-1]] == [0, 0, 1, 1]  # the 3rd page: 5 + 10 keys
    assert replicas[2].asked == []


def test_a_page_that_ends_a_replica_goes_on_with_the_next_and_keys_come_once_a_page() -> None:
    replicas = [Replica(list(KEYS)) for _ in range(3)]
    assert whole(cluster(*replicas), 100) == ([0], KEYS)


def test_internal_keys_are_dropped_and_the_replica_is_asked_for_strings_only() -> None:
    replica = Replica([b"__leaderless:digests", b"a", b"__leaderless:flush", b"b"])
    _, keys = whole(cluster(replica, Replica([]), Replica([])), 10)
    assert keys == [b"a", b"b"]
    assert replica.asked[0][-2:] == [b"TYPE", b"string"]


@pytest.mark.parametrize(
    "trouble",
    [
        {"state": "down"},
        {"state": "suspect"},
        {"health": Health.RECOVERING},
        {"health": Health.CHECKING},
        {"reply": b"ERR nonsense"},
    ],
    ids=lambda trouble: next(iter(trouble.values())).__str__(),
)
def test_a_replica_that_cannot_be_scanned_is_left_for_another_from_its_start(
    trouble: dict[str, object],
) -> None:
    replicas = [Replica(list(KEYS)), Replica(list(KEYS)), Replica(list(KEYS))]
    coordinator = cluster(*replicas)

    async def run() -> list[bytes]:
        cursor, seen = await scan_page(coordinator, 0, None, 10)
        for name, value in trouble.items():
            setattr(replicas[0], name, value)
        while cursor != 0:
            cursor, page = await scan_page(coordinator, cursor, None, 10)
            seen += page
        return seen

    seen = asyncio.run(run())
    assert set(seen) == set(KEYS)
    assert replicas[1].asked[0][1] == b"0" and replicas[2].asked[0][1] == b"0"


def test_too_few_replicas_left_fail_the_call() -> None:
    coordinator = cluster(Replica(list(KEYS)), Replica([], state="down"), Replica([], "down"))
    with pytest.raises(QuorumError, match="needs 2 replicas scanned in full; 1 were"):
        whole(coordinator, 100)


def test_with_a_sloppy_quorum_every_replica_that_can_be_is_scanned() -> None:
    replicas = [Replica(list(KEYS)) for _ in range(3)]
    cursors, _ = whole(Coordinator(replicas, sloppy_quorum=True), 10)
    assert {cursor & 15 for cursor in cursors[:-1]} == {0, 1, 2}
    replicas[0].state = "down"
    cursors, keys = whole(Coordinator(replicas, sloppy_quorum=True), 10)
    assert {cursor & 15 for cursor in cursors[:-1]} == {1, 2} and set(keys) == set(KEYS)


def test_a_cursor_past_the_end_ends_the_iteration() -> None:
    replicas = [Replica(list(KEYS)) for _ in range(3)]
    assert asyncio.run(scan_page(cluster(*replicas), 2**64 - 1, None, 10)) == (0, [])
    assert all(replica.asked == [] for replica in replicas)


def test_random_keys_come_from_the_usable_replicas_in_turn() -> None:
    replicas = [Replica([b"a"]), Replica([b"b"], state="down"), Replica([b"c"])]
    coordinator = cluster(*replicas)
    picked = [asyncio.run(replica_random_key(coordinator, attempt)) for attempt in range(4)]
    assert picked == [b"a", b"c", b"a", b"c"]
    for replica in replicas:
        replica.state = "down"
    assert asyncio.run(replica_random_key(coordinator, 0)) is None
