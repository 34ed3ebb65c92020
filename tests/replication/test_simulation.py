"""A seeded simulation of the whole replication protocol (TigerBeetle's VOPR, in small).

Three in-memory replicas apply writes with `should_apply` and flushes by dropping every record
not newer than the flush. Proxies, each with its own `HybridClock` on a skewed (and sometimes
stepped-back) wall clock, run the coordinator exactly as the real one does: a write is stamped
with `clock.now()`, sent to every replica and acknowledged at W; a read collects R answers,
`resolve`s them, observes the timestamps it saw, repairs the answering replicas that are behind
and replies only once they have acknowledged the repair; stragglers (`Late`) are repaired in
the background. Every message can be lost or delivered in any order, replicas crash and
restart, and a restart may lose all data. Such a replica comes back "recovering": it takes
writes but does not count towards read quorums until it has been resynchronised from the
others (without that, a quorum read can miss an acknowledged write: see the last test).

Checked throughout: no replica holds a value nobody wrote; a quorum read returns a version at
least as new as every write acknowledged and every read completed before it started (so no
acknowledged write is lost and sequential reads are monotonic); a proxy stamps a write above
everything it accepted from a read. Then the network heals, every key is read from all
replicas with repair, and all replicas must be identical.

A failure names its seed; replay it with LEADERLESS_SIM_SEED=<seed>, or run more seeds with
LEADERLESS_SIM_SEEDS=<count>.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from leaderless.replication.hlc import HybridClock, Timestamp
from leaderless.replication.merge import Repair, ReplicaRead, Resolution, resolve, should_apply
from leaderless.replication.quorum import Decision, Failed, Late, QuorumRound, Reached
from leaderless.replication.record import Record

N, W, R = 3, 2, 2
KEYS = ("a", "b", "c")
TIMEOUT_MS = 250
MAX_OFFSET_MS = 500
MAX_ACTIVE_OPS = 6
STEPS = 400


class SimulationError(AssertionError):
    """An invariant broke."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SimulationError(message)


@dataclass
class Replica:
    """One backend: the state the Lua scripts keep, applied the way they apply it."""

    data: dict[str, Record] = field(default_factory=dict)
    flushed_at: Timestamp | None = None
    up: bool = True
    recovering: bool = False

    def write(self, key: str, record: Record) -> bool:
        if not should_apply(self.data.get(key), self.flushed_at, record):
            return False
        self.data[key] = record
        return True

    def flush(self, ts: Timestamp) -> bool:
        if self.flushed_at is not None and ts <= self.flushed_at:
            return False
        self.flushed_at = ts
        self.data = {k: r for k, r in self.data.items() if r.ts > ts}
        return True

    def read(self, key: str) -> ReplicaRead | None:
        """None while recovering: the coordinator treats that as a failed answer."""
        return None if self.recovering else ReplicaRead(self.data.get(key), self.flushed_at)

    def repair(self, key: str, repair: Repair) -> None:
        if repair.flush is not None:
            self.flush(repair.flush)
        if repair.record is not None:
            self.write(key, repair.record)


@dataclass
class Message:
    """A request to a replica (`handle` runs there) whose reply comes back as another message."""

    replica: int
    handle: Callable[[Replica], object]
    on_reply: Callable[[object], None]
    reply: object = None
    is_reply: bool = False


@dataclass
class Model:
    """What has been written and what clients were promised, to check replies against."""

    issued: dict[str, dict[Timestamp, Record]] = field(default_factory=dict)
    flushes: set[Timestamp] = field(default_factory=set)
    floor: dict[str, Timestamp] = field(default_factory=dict)
    flush_floor: Timestamp | None = None

    def floor_of(self, key: str) -> Timestamp | None:
        candidates = [t for t in (self.floor.get(key), self.flush_floor) if t is not None]
        return max(candidates, default=None)

    def promise(self, key: str, ts: Timestamp) -> None:
        current = self.floor.get(key)
        if current is None or ts > current:
            self.floor[key] = ts

    def check_record(self, key: str, record: Record, where: str) -> None:
        check(
            self.issued.get(key, {}).get(record.ts) == record,
            f"{where}: {key!r} holds {record}, which nobody wrote",
        )

    def check_flush(self, ts: Timestamp | None, where: str) -> None:
        check(ts is None or ts in self.flushes, f"{where}: flush {ts} was never issued")


class Proxy:
    """One coordinator; its clock runs on the simulated time plus its own skew."""

    def __init__(self, sim: Simulation, node_id: int, skew_ms: int) -> None:
        self.sim = sim
        self.skew_ms = skew_ms
        self.clock = HybridClock(node_id, self.wall_ms, MAX_OFFSET_MS)
        self.last_stamp: Timestamp | None = None
        self.accepted: Timestamp | None = None

    def wall_ms(self) -> int:
        return max(0, self.sim.now_ms + self.skew_ms)

    def stamp(self) -> Timestamp:
        ts = self.clock.now()
        for earlier in (self.last_stamp, self.accepted):
            check(earlier is None or ts > earlier, f"stamp {ts} not above {earlier}")
        self.last_stamp = ts
        return ts

    def observe(self, ts: Timestamp) -> None:
        if self.clock.observe(ts):
            if self.accepted is None or ts > self.accepted:
                self.accepted = ts
        else:
            self.sim.stats["refused observations"] += 1


class Operation:
    """One client request in flight on a proxy: one or two quorum rounds."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.deadline = sim.now_ms + TIMEOUT_MS
        self.round: QuorumRound[object]
        sim.active.append(self)

    def start_round(self, round_: QuorumRound[object]) -> None:
        self.round = round_
        self.deadline = self.sim.now_ms + TIMEOUT_MS

    def send(self, replica: int, handle: Callable[[Replica], object]) -> None:
        round_ = self.round

        def on_reply(value: object) -> None:
            if value is None:
                self.decide(round_, round_.on_failure(replica, f"replica{replica}: recovering"))
            else:
                self.decide(round_, round_.on_success(replica, value))

        def refused() -> None:
            reason = f"replica{replica}: connection refused"
            self.decide(round_, round_.on_failure(replica, reason))

        self.sim.send(replica, handle, on_reply, refused)

    def timeout(self) -> None:
        self.sim.stats["timeouts"] += 1
        self.decide(self.round, self.round.on_timeout())

    def finish(self, ok: bool) -> None:
        self.sim.active.remove(self)
        self.sim.stats[f"{type(self).__name__} {'ok' if ok else 'failed'}"] += 1

    def decide(self, round_: QuorumRound[object], decision: Decision[object]) -> None:
        raise NotImplementedError


class Write(Operation):
    """A SET or DEL (a tombstone) of one key, or a FLUSHDB (key None)."""

    def __init__(self, sim: Simulation, proxy: Proxy, key: str | None, tombstone: bool) -> None:
        super().__init__(sim)
        self.key = key
        self.ts = proxy.stamp()
        self.record = None if key is None else self.make_record(sim.rng, self.ts, tombstone)
        if key is None or self.record is None:
            sim.model.flushes.add(self.ts)
        else:
            sim.model.issued.setdefault(key, {})[self.ts] = self.record
        self.start_round(QuorumRound("write", N, W))
        for i in range(N):
            self.send(i, self.apply)

    def apply(self, replica: Replica) -> bool:
        """What the replica runs; not applying (it holds something newer) is an ack too."""
        if self.key is None or self.record is None:
            return replica.flush(self.ts)
        return replica.write(self.key, self.record)

    def make_record(self, rng: random.Random, ts: Timestamp, tombstone: bool) -> Record:
        if tombstone:
            return Record.deletion(ts)
        expires = 0 if rng.random() < 0.8 else self.sim.now_ms + rng.randint(-50, 500)
        return Record(ts, False, max(0, expires), rng.randbytes(rng.randint(0, 3)))

    def decide(self, round_: QuorumRound[object], decision: Decision[object]) -> None:
        if isinstance(decision, Reached):
            model = self.sim.model
            if self.key is None:
                if model.flush_floor is None or self.ts > model.flush_floor:
                    model.flush_floor = self.ts
            else:
                model.promise(self.key, self.ts)
            self.finish(ok=True)
        elif isinstance(decision, Failed):
            self.finish(ok=False)


class Read(Operation):
    """A GET: a read round, then a round that repairs the answering replicas that are behind."""

    def __init__(self, sim: Simulation, proxy: Proxy, key: str, required: int = R) -> None:
        super().__init__(sim)
        self.proxy = proxy
        self.key = key
        self.must_reach = sim.model.floor_of(key)
        self.resolution: Resolution | None = None
        self.read_round: QuorumRound[object] = QuorumRound("read", N, required)
        self.start_round(self.read_round)
        for i in range(N):
            self.send(i, lambda rep: rep.read(key))

    def decide(self, round_: QuorumRound[object], decision: Decision[object]) -> None:
        if isinstance(decision, Failed):
            self.finish(ok=False)
        elif isinstance(decision, Late):
            if round_ is self.read_round and self.resolution is not None:
                self.repair_straggler(decision.replica, decision.value)
        elif isinstance(decision, Reached) and round_ is self.read_round:
            self.resolved(decision.answers)
        elif isinstance(decision, Reached):
            self.reply()

    def resolved(self, answers: dict[int, object]) -> None:
        reads: list[ReplicaRead | None] = []
        for i in range(N):
            read = answers.get(i)
            assert read is None or isinstance(read, ReplicaRead)
            reads.append(read)
        self.resolution = result = resolve(reads)
        if result.winner is not None:
            self.proxy.observe(result.winner.ts)
        if result.flushed_at is not None:
            self.proxy.observe(result.flushed_at)
        if not result.repairs:
            self.reply()
            return
        self.sim.stats["read repairs"] += len(result.repairs)
        self.start_round(QuorumRound("write", len(result.repairs), len(result.repairs)))
        for position, repair in enumerate(result.repairs):
            self.send_repair(position, repair)

    def send_repair(self, position: int, repair: Repair) -> None:
        """Sends to replica `repair.replica`, answering as member `position` of the round."""
        round_ = self.round

        def on_reply(_: object) -> None:
            self.decide(round_, round_.on_success(position, True))

        def refused() -> None:
            self.decide(round_, round_.on_failure(position, f"replica{repair.replica}: down"))

        self.sim.send(repair.replica, lambda rep: rep.repair(self.key, repair), on_reply, refused)

    def repair_straggler(self, replica: int, value: object) -> None:
        assert self.resolution is not None and isinstance(value, ReplicaRead)
        repair = self.resolution.repair_for(replica, value)
        if repair is not None:
            self.sim.stats["background repairs"] += 1
            self.sim.send(replica, lambda rep: rep.repair(self.key, repair), lambda _: None)

    def reply(self) -> None:
        result = self.resolution
        assert result is not None
        model = self.sim.model
        model.check_flush(result.flushed_at, "read")
        if result.winner is not None:
            model.check_record(self.key, result.winner, "read")
        version = result.winner.ts if result.winner is not None else result.flushed_at
        check(
            self.must_reach is None or (version is not None and version >= self.must_reach),
            f"read of {self.key!r} returned version {version}, older than {self.must_reach}"
            " (acknowledged before the read began)",
        )
        if version is not None:
            model.promise(self.key, version)
        self.finish(ok=True)


class Simulation:
    def __init__(self, seed: int, *, resync_after_data_loss: bool = True) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.resync_after_data_loss = resync_after_data_loss
        self.now_ms = 1_000_000
        self.replicas = [Replica() for _ in range(N)]
        self.proxies = [
            Proxy(self, node_id, self.rng.choice((0, -200, 300, 900)))
            for node_id in self.rng.sample(range(1, 1000), self.rng.randint(2, 3))
        ]
        self.model = Model()
        self.network: list[Message] = []
        self.active: list[Operation] = []
        self.stats: Counter[str] = Counter()

    # The network.

    def send(
        self,
        replica: int,
        handle: Callable[[Replica], object],
        on_reply: Callable[[object], None],
        refused: Callable[[], None] | None = None,
    ) -> None:
        if not self.replicas[replica].up and refused is not None:
            self.network.append(Message(replica, handle, lambda _: refused(), is_reply=True))
            return
        self.network.append(Message(replica, handle, on_reply))

    def deliver(self, index: int) -> None:
        message = self.network.pop(index)
        if message.is_reply:
            message.on_reply(message.reply)
            return
        target = self.replicas[message.replica]
        if target.up:
            message.reply = message.handle(target)
            message.is_reply = True
            self.network.append(message)
        # A request to a crashed replica is lost; its sender times out.

    def deliver_all(self) -> None:
        while self.network:
            self.deliver(0)

    # Faults.

    def crash(self, i: int) -> None:
        self.replicas[i].up = False
        self.stats["crashes"] += 1

    def restart(self, i: int, lose_data: bool) -> None:
        replica = self.replicas[i]
        replica.up = True
        others_recovering = any(r.recovering for r in self.replicas if r is not replica)
        if lose_data and not others_recovering:
            self.replicas[i] = Replica(recovering=self.resync_after_data_loss)
            self.stats["restarts losing data"] += 1

    def resync(self, i: int) -> None:
        """Rebuild a recovering replica from all the others (the anti-entropy a real deployment
        runs before the replica serves reads again)."""
        replica = self.replicas[i]
        others = [r for r in self.replicas if r is not replica]
        if not (replica.recovering and replica.up) or not all(
            r.up and not r.recovering for r in others
        ):
            return
        for other in others:
            if other.flushed_at is not None:
                replica.flush(other.flushed_at)
            for key, record in other.data.items():
                replica.write(key, record)
        replica.recovering = False
        self.stats["resyncs"] += 1

    def advance(self, ms: int) -> None:
        self.now_ms += ms
        for op in [op for op in self.active if op.deadline <= self.now_ms]:
            if op in self.active:
                op.timeout()

    # Invariants.

    def check_replicas(self) -> None:
        for i, replica in enumerate(self.replicas):
            self.model.check_flush(replica.flushed_at, f"replica{i}")
            for key, record in replica.data.items():
                self.model.check_record(key, record, f"replica{i}")
                check(
                    replica.flushed_at is None or record.ts > replica.flushed_at,
                    f"replica{i}: {key!r} at {record.ts} survived flush {replica.flushed_at}",
                )

    # The run.

    def step(self) -> None:
        rng = self.rng
        action = rng.choices(
            ("deliver", "drop", "tick", "write", "read", "crash", "restart", "resync", "skew"),
            weights=(40, 3, 10, 9, 8, 1, 2, 2, 0.5),
        )[0]
        proxy = rng.choice(self.proxies)
        replica = rng.randrange(N)
        if action == "deliver" and self.network:
            self.deliver(rng.randrange(len(self.network)))
        elif action == "drop" and self.network:
            self.network.pop(rng.randrange(len(self.network)))
            self.stats["dropped messages"] += 1
        elif action == "tick":
            self.advance(rng.randint(1, 30))
        elif action == "write" and len(self.active) < MAX_ACTIVE_OPS:
            kind = rng.random()
            key = None if kind < 0.04 else rng.choice(KEYS)
            Write(self, proxy, key, tombstone=kind > 0.8)
        elif action == "read" and len(self.active) < MAX_ACTIVE_OPS:
            Read(self, proxy, rng.choice(KEYS))
        elif action == "crash" and sum(r.up for r in self.replicas) > 1:
            self.crash(replica)
        elif action == "restart" and not self.replicas[replica].up:
            self.restart(replica, lose_data=rng.random() < 0.3)
        elif action == "resync":
            self.resync(replica)
        elif action == "skew":
            proxy.skew_ms = rng.randint(-1000, 1000)
            self.stats["clock steps"] += 1
        self.check_replicas()

    def heal(self) -> None:
        for i, replica in enumerate(self.replicas):
            if not replica.up:
                self.restart(i, lose_data=False)
        self.settle()
        for i in range(N):
            self.resync(i)
        keys = sorted({key for replica in self.replicas for key in replica.data} | set(KEYS))
        for key in keys:
            Read(self, self.proxies[0], key, required=N)
            self.settle()
        self.check_replicas()
        first = self.replicas[0]
        for i, replica in enumerate(self.replicas[1:], start=1):
            check(
                (replica.data, replica.flushed_at) == (first.data, first.flushed_at),
                f"replica{i} did not converge with replica0:\n"
                f"  {replica.data} {replica.flushed_at}\n  {first.data} {first.flushed_at}",
            )

    def settle(self) -> None:
        """Deliver everything, then let the rounds still waiting on lost messages time out."""
        while self.network or self.active:
            self.deliver_all()
            self.advance(TIMEOUT_MS)

    def run(self, steps: int) -> None:
        try:
            for _ in range(steps):
                self.step()
            self.heal()
        except SimulationError as error:
            raise SimulationError(
                f"seed {self.seed}: {error}\n"
                f"replay with LEADERLESS_SIM_SEED={self.seed} .venv/bin/pytest "
                "tests/replication/test_simulation.py"
            ) from error


def _seeds() -> list[int]:
    if "LEADERLESS_SIM_SEED" in os.environ:
        return [int(os.environ["LEADERLESS_SIM_SEED"])]
    return list(range(int(os.environ.get("LEADERLESS_SIM_SEEDS", "300"))))


def test_simulation_keeps_every_invariant() -> None:
    totals: Counter[str] = Counter()
    for seed in _seeds():
        sim = Simulation(seed)
        sim.run(STEPS)
        totals.update(sim.stats)
    if "LEADERLESS_SIM_SEED" in os.environ:
        return
    # The run must actually have exercised every kind of event it claims to cover.
    for event in (
        "Write ok",
        "Write failed",
        "Read ok",
        "Read failed",
        "read repairs",
        "background repairs",
        "timeouts",
        "dropped messages",
        "crashes",
        "restarts losing data",
        "resyncs",
        "refused observations",
        "clock steps",
    ):
        assert totals[event] > 0, f"the simulation never produced {event!r}: {dict(totals)}"


def test_simulation_detects_a_lost_write_when_an_emptied_replica_serves_reads_at_once() -> None:
    """Why a replica that restarts empty must not count towards read quorums until resynced:
    W=2 and R=2 overlap only if both acknowledging replicas still have the write."""
    sim = Simulation(0, resync_after_data_loss=False)
    proxy = sim.proxies[0]
    Write(sim, proxy, "a", tombstone=False)
    to_replica_2 = next(i for i, m in enumerate(sim.network) if m.replica == 2)
    sim.network.pop(to_replica_2)
    sim.deliver_all()
    assert sim.stats["Write ok"] == 1
    sim.crash(0)
    sim.restart(0, lose_data=True)
    sim.crash(1)
    Read(sim, proxy, "a")
    with pytest.raises(SimulationError, match="older than"):
        sim.deliver_all()
