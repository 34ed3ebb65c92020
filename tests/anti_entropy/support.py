"""Helpers for anti-entropy tests: records written straight to replicas, contents, digests."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import redis
from leaderless.config.settings import ReplicationSettings
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import Digests, expires_at, parse_digest, range_of, recompute
from leaderless.replication.record import Record, decode_record, encode_record
from leaderless.replication.scripts import (
    DIGESTS_KEY,
    EXPIRED_KEY,
    EXPIRING_KEY,
    INTERNAL_PREFIX,
    SETTLE_EXPIRIES,
    SETTLED_FIELD,
    TOMBSTONES_KEY,
    WRITE_IF_NEWER,
    write_if_newer_args,
)

LEADERLESS = Path(sys.executable).with_name("leaderless")
EXPIRED_GRACE_MS = ReplicationSettings().expired_grace_s * 1000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def value(ts_ms: int, data: bytes, *, node: int = 1, expires_at_ms: int = 0) -> Record:
    return Record(Timestamp(ts_ms, 0, node), False, expires_at_ms, data)


def deletion(ts_ms: int, *, node: int = 1) -> Record:
    return Record.deletion(Timestamp(ts_ms, 0, node))


def write(
    client: redis.Redis, key: bytes, record: Record, *, grace_ms: int = EXPIRED_GRACE_MS
) -> int:
    """Apply a record through the proxy's own script, as a write or a repair would."""
    encoded = encode_record(record, range_of(key))
    args = write_if_newer_args([key], [encoded], grace_ms)
    (applied,) = client.evalsha(WRITE_IF_NEWER.sha, 1, key, *args)
    return int(applied)


def load_scripts(client: redis.Redis) -> None:
    from leaderless.replication.scripts import ALL_SCRIPTS

    for script in ALL_SCRIPTS:
        client.script_load(script.source)


def contents(client: redis.Redis) -> dict[bytes, bytes]:
    """Every data key's stored record."""
    keys = [k for k in client.scan_iter(count=1000) if not k.startswith(INTERNAL_PREFIX)]
    values = client.mget(keys) if keys else []
    return {k: v for k, v in zip(keys, values, strict=True) if v is not None}


def records(client: redis.Redis) -> dict[bytes, Record]:
    return {key: decode_record(raw) for key, raw in contents(client).items()}


def stored_digests(client: redis.Redis) -> tuple[Digests, int]:
    raw = client.hgetall(DIGESTS_KEY)
    settled = parse_digest(raw.pop(SETTLED_FIELD, None))
    digests = Digests()
    for name, raw_digest in raw.items():
        if digest := parse_digest(raw_digest):
            digests.ranges[int(name)] = digest
    return digests, settled


def settle(client: redis.Redis, cutoff_ms: int, *, grace_ms: int = EXPIRED_GRACE_MS) -> None:
    while client.evalsha(SETTLE_EXPIRIES.sha, 0, cutoff_ms, 1000, grace_ms)[0] >= 1000:
        pass


def digests_are_true(client: redis.Redis) -> bool:
    """The stored digests equal a recomputation from the records stored."""
    digests, settled = stored_digests(client)
    expected = recompute(contents(client).items(), settled)
    return digests.ranges == expected.ranges


def run_once(nodes: list[LocalRedisNode], *extra: str) -> subprocess.CompletedProcess[str]:
    """`leaderless anti-entropy --once` as a real process."""
    args = [str(LEADERLESS), "anti-entropy", "--once", *extra]
    for node in nodes:
        args += ["--node", node.url]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def bookkeeping_is_true(client: redis.Redis) -> bool:
    """The digests are true, and the tombstone and expiry lists hold exactly the records
    stored that belong there (those PURGE_TOMBSTONES and SETTLE_EXPIRIES will visit, and those
    DBSIZE leaves out once expired)."""
    stored = contents(client)
    _, settled = stored_digests(client)
    tombstones = {
        key: int.from_bytes(raw[1:7], "big")
        for key, raw in stored.items()
        if decode_record(raw).tombstone
    }
    expiring = {
        raw[18:20] + raw[1:12] + key: expires_at(raw)
        for key, raw in stored.items()
        if expires_at(raw) > settled
    }
    expired = {
        key: expires_at(raw) for key, raw in stored.items() if 0 < expires_at(raw) <= settled
    }
    return (
        digests_are_true(client)
        and _scores(client, TOMBSTONES_KEY) == tombstones
        and _scores(client, EXPIRING_KEY) == expiring
        and _scores(client, EXPIRED_KEY) == expired
    )


def _scores(client: redis.Redis, key: bytes) -> dict[bytes, int]:
    return {member: int(score) for member, score in client.zrange(key, 0, -1, withscores=True)}


def play_write_or_time(
    node: redis.Redis, step: tuple[object, ...], base_ms: int, clock: int, grace_ms: int
) -> int:
    """One `write` or `time` step of a generated history, as the digest properties play them:
    a record written through the write script, or time passing, with Redis deleting records
    whose grace ran out. Returns the simulated ms after `base_ms` once it is done."""
    if step[0] == "write":
        _, key, ts, tombstone, ttl = step
        assert isinstance(key, bytes) and isinstance(ts, int) and isinstance(ttl, int)
        expiry = base_ms + clock + ttl if ttl and not tombstone else 0
        data = b"" if tombstone else b"v%d" % ts
        record = Record(Timestamp(base_ms + ts, 0, 1), bool(tombstone), expiry, data)
        write(node, key, record, grace_ms=grace_ms)
        return clock
    assert step[0] == "time", step
    clock += int(step[1])  # type: ignore[call-overload]
    for key, stored in records(node).items():
        expires = stored.expires_at_ms
        if expires and expires + grace_ms <= base_ms + clock:
            node.delete(key)  # what Redis does once the record's grace has passed
    return clock
