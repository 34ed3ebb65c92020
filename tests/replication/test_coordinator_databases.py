"""The coordinator of database n: its reads, writes, flushes and the hints of the replica that
missed a write all name database n, while it shares the counters, clock and hints with the
others and keeps a queue of its own. Replica doubles record what they are asked and answer
at the next loop turn, as a connection would."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from leaderless.replication.backend import Backend, Deliver, ReplicaUnavailable, ScriptCall
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.handoff import Handoff
from leaderless.replication.hlc import HybridClock
from leaderless.replication.membership import Health
from leaderless.replication.record import Record
from leaderless.replication.rejoin import Rejoin
from leaderless.replication.scripts import READ_WITH_EPOCH, Script


class ReplicaDouble:
    def __init__(self, index: int, up: bool = True) -> None:
        self.index = index
        self.name = f"replica-{index}"
        self.state = "up" if up else "down"
        self.on_up: object = None
        self.asked: list[tuple[str, int]] = []

    def hold(self) -> None:
        pass

    def release(self) -> None:
        pass

    def _answer(self, deliver: Deliver, reply: object) -> None:
        if self.state != "up":
            reply = ReplicaUnavailable(f"{self.name}: down")
        asyncio.get_running_loop().call_soon(deliver, reply)

    def send(self, deliver: Deliver, request: bytes, db: int = 0) -> None:
        self.asked.append((request.split(b"\r\n")[2].decode(), db))
        self._answer(deliver, [None] * (request.count(b"$") - 1))  # MGET: nothing, no flush

    def send_script(self, deliver: Deliver, call: ScriptCall, db: int = 0) -> None:
        keys = int(call.evalsha.split(b"\r\n")[-2])
        if READ_WITH_EPOCH.sha in call.evalsha:  # a read outside database 0: no flush, no ring
            self.asked.append(("MGET", db))
            self._answer(deliver, [None] * (keys + 1))
        else:
            self.asked.append(("write", db))
            self._answer(deliver, [1] * keys)

    def call_script(
        self,
        deliver: Deliver,
        script: Script,
        keys: Sequence[bytes],
        args: Sequence[bytes],
        db: int = 0,
    ) -> None:
        self.asked.append((script.name, db))
        self._answer(deliver, 1)

    def execute(self, *args: bytes, db: int = 0) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(b"# Keyspace\r\ndb0:keys=3,expires=0\r\ndb5:keys=2,expires=0\r\n")
        return future

    def run_script(
        self, script: Script, keys: Sequence[bytes], args: Sequence[bytes], db: int = 0
    ) -> asyncio.Future[object]:
        self.asked.append((script.name, db))
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        future.set_result(2)
        return future


class HintsDouble:
    def __init__(self) -> None:
        self.kept: list[tuple[str, int]] = []

    def add(self, replica: str, writes: Sequence[tuple[bytes, bytes]], db: int = 0) -> bool:
        self.kept.append((replica, db))
        return True


GRACE_MS = 60_000


class RejoinDouble:
    health = [Health.IN_SYNC] * 3

    def on_up(self, backend: Backend) -> None:
        pass


def coordinator(replicas: list[ReplicaDouble], hints: HintsDouble) -> Coordinator:
    return Coordinator(
        cast(list[Backend], replicas),
        w=2,
        r=2,
        timeout_s=1.0,
        clock=HybridClock(node_id=1, wall_ms=lambda: 1_000_000),
        handoff=cast(Handoff, hints),
        rejoin=cast(Rejoin, cast(Any, RejoinDouble())),
        expired_grace_ms=GRACE_MS,
    )


def test_every_request_of_a_database_s_coordinator_names_its_database() -> None:
    async def run() -> None:
        replicas = [ReplicaDouble(0), ReplicaDouble(1), ReplicaDouble(2, up=False)]
        hints = HintsDouble()
        zero = coordinator(replicas, hints)
        three = zero.database(3)
        assert zero.database(3) is three and zero.database(0) is zero
        assert three.stats is zero.stats and three.handoff is zero.handoff
        record = Record(zero.stamp(), False, 0, b"v")
        await three.write([(b"k", record)])
        assert await three.read([b"k"]) == [None]
        await three.flush()
        await zero.write([(b"k", record)])
        assert replicas[0].asked == [("write", 3), ("MGET", 3), ("flush", 3), ("write", 0)]
        assert hints.kept == [("replica-2", 3), ("replica-2", 0)]
        assert zero.stats.writes == 2 and zero.stats.reads == 1

    asyncio.run(run())


def test_flushall_flushes_every_database_at_once() -> None:
    async def run() -> None:
        replicas = [ReplicaDouble(0), ReplicaDouble(1), ReplicaDouble(2)]
        zero = coordinator(replicas, HintsDouble())
        await zero.flush_all()
        assert replicas[1].asked == [("flush", db) for db in range(16)]

    asyncio.run(run())


def test_tombstones_are_purged_in_every_database_holding_keys() -> None:
    async def run() -> None:
        replicas = [ReplicaDouble(0), ReplicaDouble(1), ReplicaDouble(2, up=False)]
        zero = coordinator(replicas, HintsDouble())
        assert await zero.purge_tombstones(cutoff_ms=1, batch=10) == 8  # 2 per call
        assert replicas[0].asked == [("purge_tombstones", 0), ("purge_tombstones", 5)]
        assert replicas[2].asked == []

    asyncio.run(run())
