"""The digest bookkeeping the scripts keep on a real redis-server stays equal to a
recomputation from scratch, through overwrites, deletes, expiries, purges and flushes (with
writes newer than the flush surviving it), and so do the tombstone and expiry lists.

Expiries are driven by a simulated clock: records expire an hour or more in the future by the
real one (so Redis leaves them alone), and the test deletes each as soon as the simulated time
passes its expiry plus the expired grace, which is exactly what Redis does: a delete no script
sees. The tests of what DBSIZE counts use the real clock, as its script does.
"""

from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import leaf, range_of
from leaderless.replication.record import Record, encode_record
from leaderless.replication.scripts import (
    DBSIZE,
    EXPIRED_KEY,
    EXPIRING_KEY,
    FLUSH,
    PURGE_TOMBSTONES,
    WRITE_IF_NEWER,
    write_if_newer_args,
)

from tests.anti_entropy.support import (
    EXPIRED_GRACE_MS,
    bookkeeping_is_true,
    contents,
    digests_are_true,
    now_ms,
    play_write_or_time,
    records,
    settle,
    stored_digests,
    write,
)

pytestmark = pytest.mark.integration

BASE = now_ms() + 3_600_000
SIMULATED_GRACE_MS = 10
KEYS = [b"a", b"b", b"c", b"d", b"e"]

writes = st.builds(
    lambda key, ts, tombstone, ttl: ("write", key, ts, tombstone, ttl),
    st.sampled_from(KEYS),
    st.integers(1, 50),
    st.booleans(),
    st.sampled_from([0, 0, 5, 20]),
)
steps = st.lists(
    st.one_of(
        writes,
        writes,
        st.tuples(st.just("time"), st.integers(1, 15)),
        st.tuples(st.just("purge"), st.integers(0, 50)),
        st.tuples(st.just("flush"), st.integers(1, 50)),
    ),
    max_size=25,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps)
def test_digests_match_a_recomputation_after_every_step(
    node: redis.Redis, script: list[tuple[object, ...]]
) -> None:
    node.flushall()
    clock = 0  # simulated ms after BASE
    for step in script:
        if step[0] in ("write", "time"):
            clock = play_write_or_time(node, step, BASE, clock, SIMULATED_GRACE_MS)
        elif step[0] == "purge":
            node.evalsha(PURGE_TOMBSTONES.sha, 0, BASE + int(step[1]), 1000)  # type: ignore[call-overload]
        else:
            node.evalsha(FLUSH.sha, 0, Timestamp(BASE + int(step[1]), 0, 9).pack())  # type: ignore[call-overload]
        settle(node, BASE + clock, grace_ms=SIMULATED_GRACE_MS)
        assert bookkeeping_is_true(node), step


def test_the_lua_leaf_is_the_python_leaf(node: redis.Redis) -> None:
    record = Record(Timestamp(BASE, 3, 7), False, 0, b"value")
    write(node, b"key", record)
    digests, _ = stored_digests(node)
    assert list(digests.ranges.values()) == [leaf(b"key", encode_record(record, range_of(b"key")))]


def test_expired_records_drop_out_once_settled_even_if_redis_still_holds_them(
    node: redis.Redis,
) -> None:
    write(node, b"k", Record(Timestamp(BASE, 0, 1), False, BASE + 10, b"v"))
    settle(node, BASE + 10)
    assert contents(node)  # Redis has not expired it yet
    digests, settled = stored_digests(node)
    assert settled == BASE + 10
    assert digests.segments == {}
    write(node, b"k", Record(Timestamp(BASE + 1, 0, 1), False, 0, b"w"))  # no double subtraction
    assert digests_are_true(node)


def test_a_flush_keeps_the_newer_writes_and_rebuilds_their_bookkeeping(node: redis.Redis) -> None:
    def at(ms: int, tombstone: bool = False, expires_at_ms: int = 0) -> Record:
        data = b"" if tombstone else b"v%d" % ms
        return Record(Timestamp(BASE + ms, 0, 1), tombstone, expires_at_ms, data)

    write(node, b"old", at(10))
    write(node, b"old-ttl", at(5, expires_at_ms=BASE + 100))
    write(node, b"deleted", at(30, tombstone=True))
    write(node, b"ttl", at(30, expires_at_ms=BASE + 100))
    write(node, b"kept", at(30))
    assert node.evalsha(FLUSH.sha, 0, Timestamp(BASE + 20, 0, 9).pack()) == 1
    assert set(records(node)) == {b"deleted", b"ttl", b"kept"}
    assert bookkeeping_is_true(node)
    assert node.evalsha(DBSIZE.sha, 0, EXPIRED_GRACE_MS) == 2
    # The rebuilt lists serve as the written ones do: the tombstone is purged, the expiry settled.
    assert node.evalsha(PURGE_TOMBSTONES.sha, 0, BASE + 30, 1000) == 1
    node.delete(b"ttl")  # what Redis does once its grace has passed
    settle(node, BASE + 100 + EXPIRED_GRACE_MS)
    assert set(records(node)) == {b"kept"}
    assert bookkeeping_is_true(node)
    digests, _ = stored_digests(node)
    assert list(digests.ranges.values()) == [leaf(b"kept", encode_record(at(30), 0))]


def test_one_call_applies_each_newer_record_and_says_which(node: redis.Redis) -> None:
    """The proxy writes a tick's records in one call and learns per key which were refused."""
    older, newer = (Record(Timestamp(BASE + ms, 0, 1), False, 0, b"v%d" % ms) for ms in (1, 2))
    write(node, b"held", newer)
    keys = [b"new", b"held", b"new"]
    args = [encode_record(r, range_of(k)) for k, r in zip(keys, (older, older, newer), strict=True)]
    applied = node.evalsha(WRITE_IF_NEWER.sha, 3, *keys, *_args(keys, args))
    assert applied == [1, 0, 1]
    assert records(node)[b"new"] == newer
    assert bookkeeping_is_true(node)


def test_a_record_of_an_unknown_format_is_refused(node: redis.Redis) -> None:
    record = encode_record(Record(Timestamp(BASE, 0, 1), False, 0, b"v"), range_of(b"k"))
    unknown = b"\x01" + record[1:]
    assert node.evalsha(WRITE_IF_NEWER.sha, 1, b"k", *_args([b"k"], [unknown])) == [0]
    assert not node.exists(b"k")


def test_a_key_holding_no_record_is_left_alone_and_the_rest_of_the_call_applies(
    node: redis.Redis,
) -> None:
    """Foreign data under a client key (a value set on the replica directly) is not overwritten,
    and it does not fail the other writes of the call."""
    node.set(b"foreign", b"abc")
    node.set(b"foreign-long", b"\x09" + b"x" * 40)
    keys = [b"foreign", b"k", b"foreign-long"]
    args = [encode_record(Record(Timestamp(BASE, 0, 1), False, 0, b"v"), range_of(k)) for k in keys]
    applied = node.evalsha(WRITE_IF_NEWER.sha, 3, *keys, *_args(keys, args))
    assert applied == [0, 1, 0]
    assert node.get(b"foreign") == b"abc"
    node.delete(b"foreign", b"foreign-long")
    assert bookkeeping_is_true(node)  # what was applied was counted; what was refused was not


def _args(keys: list[bytes], records: list[bytes]) -> list[bytes]:
    return write_if_newer_args(keys, records, EXPIRED_GRACE_MS)


# Expired records kept for the grace, by the real clock.


def _at(ts_ms: int, expires_at_ms: int = 0, tombstone: bool = False) -> Record:
    return Record(Timestamp(ts_ms, 0, 1), tombstone, expires_at_ms, b"" if tombstone else b"v")


def test_an_expired_record_is_kept_for_the_grace_and_still_beats_older_writes(
    node: redis.Redis,
) -> None:
    now = now_ms()
    write(node, b"k", _at(now - 5000))
    assert write(node, b"k", _at(now - 4000, expires_at_ms=now - 1000)) == 1
    assert records(node)[b"k"].expires_at_ms == now - 1000
    assert EXPIRED_GRACE_MS - 2000 < node.pttl(b"k") <= EXPIRED_GRACE_MS - 1000
    assert write(node, b"k", _at(now - 4500)) == 0  # the older value stays beaten
    assert node.evalsha(DBSIZE.sha, 0, EXPIRED_GRACE_MS) == 0
    assert bookkeeping_is_true(node)
    settle(node, now)
    assert node.zrange(EXPIRING_KEY, 0, -1) == []
    assert node.zrange(EXPIRED_KEY, 0, -1, withscores=True) == [(b"k", now - 1000)]
    assert node.evalsha(DBSIZE.sha, 0, EXPIRED_GRACE_MS) == 0
    assert write(node, b"k", _at(now - 4500)) == 0
    assert bookkeeping_is_true(node)
    assert write(node, b"k", _at(now - 3000)) == 1  # a newer write replaces it
    assert node.zcard(EXPIRED_KEY) == 0
    assert node.evalsha(DBSIZE.sha, 0, EXPIRED_GRACE_MS) == 1
    assert bookkeeping_is_true(node)


def test_a_record_past_its_grace_is_not_kept_and_deletes_the_older_version(
    node: redis.Redis,
) -> None:
    """A hint or a repair arriving after the grace: Redis's SET with a PXAT in the past deletes
    the key, so the older value is gone and nothing is kept."""
    now = now_ms()
    write(node, b"k", _at(now - 5000), grace_ms=1000)
    assert write(node, b"k", _at(now - 4000, expires_at_ms=now - 2000), grace_ms=1000) == 1
    assert not node.exists(b"k")
    assert node.evalsha(DBSIZE.sha, 0, 1000) == 0
    settle(node, now, grace_ms=1000)
    assert node.zcard(EXPIRED_KEY) == 0
    assert bookkeeping_is_true(node)


def test_dbsize_leaves_out_the_expired_records_still_kept(node: redis.Redis) -> None:
    now = now_ms()
    write(node, b"live", _at(now))
    write(node, b"ttl", _at(now, expires_at_ms=now + 60_000))
    write(node, b"deleted", _at(now, tombstone=True))
    write(node, b"expired", _at(now, expires_at_ms=now - 10))
    write(node, b"settled", _at(now, expires_at_ms=now - 20))
    settle(node, now - 15)  # "settled" moves to the expired list, "expired" is still expiring
    assert node.zcard(EXPIRING_KEY) == 2 and node.zcard(EXPIRED_KEY) == 1
    assert node.dbsize() == 5 + 4  # the records, the digests, both lists and the tombstones
    assert node.evalsha(DBSIZE.sha, 0, EXPIRED_GRACE_MS) == 2
    assert bookkeeping_is_true(node)


def test_settling_in_batches_moves_every_entry_then_drops_them_past_the_grace(
    node: redis.Redis,
) -> None:
    now = now_ms()
    keys = [b"k%04d" % i for i in range(2500)]
    pipe = node.pipeline(transaction=False)
    for i, key in enumerate(keys):
        record = encode_record(_at(now, expires_at_ms=now - 1000 + i % 3), range_of(key))
        pipe.evalsha(WRITE_IF_NEWER.sha, 1, key, *_args([key], [record]))
    pipe.execute()
    settle(node, now)
    assert node.zcard(EXPIRING_KEY) == 0 and node.zcard(EXPIRED_KEY) == len(keys)
    assert node.evalsha(DBSIZE.sha, 0, EXPIRED_GRACE_MS) == 0
    assert bookkeeping_is_true(node)
    node.delete(*keys)  # what Redis does once their grace has passed
    settle(node, now + EXPIRED_GRACE_MS)
    assert node.zcard(EXPIRED_KEY) == 0
    assert bookkeeping_is_true(node)
