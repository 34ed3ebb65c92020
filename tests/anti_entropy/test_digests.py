"""The digest bookkeeping the scripts keep on a real redis-server stays equal to a
recomputation from scratch, through overwrites, deletes, expiries, purges and flushes (with
writes newer than the flush surviving it), and so do the tombstone and expiry lists.

Expiries are driven by a simulated clock: records expire an hour or more in the future by the
real one (so Redis leaves them alone), and the test deletes each as soon as the simulated time
passes its expiry, which is exactly what Redis does: a delete no script sees.
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
    FLUSH,
    PURGE_TOMBSTONES,
    WRITE_IF_NEWER,
    write_if_newer_args,
)

from tests.anti_entropy.support import (
    bookkeeping_is_true,
    contents,
    digests_are_true,
    now_ms,
    records,
    settle,
    stored_digests,
    write,
)

pytestmark = pytest.mark.integration

BASE = now_ms() + 3_600_000
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
        if step[0] == "write":
            _, key, ts, tombstone, ttl = step
            assert isinstance(key, bytes) and isinstance(ts, int) and isinstance(ttl, int)
            expiry = BASE + clock + ttl if ttl and not tombstone else 0
            data = b"" if tombstone else b"v%d" % ts
            write(node, key, Record(Timestamp(BASE + ts, 0, 1), bool(tombstone), expiry, data))
        elif step[0] == "time":
            clock += int(step[1])  # type: ignore[call-overload]
            for key, record in records(node).items():
                if record.expires_at_ms and record.expires_at_ms <= BASE + clock:
                    node.delete(key)  # what Redis does when the record expires
        elif step[0] == "purge":
            node.evalsha(PURGE_TOMBSTONES.sha, 0, BASE + int(step[1]), 1000)  # type: ignore[call-overload]
        else:
            node.evalsha(FLUSH.sha, 0, Timestamp(BASE + int(step[1]), 0, 9).pack())  # type: ignore[call-overload]
        settle(node, BASE + clock)
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
    assert node.evalsha(DBSIZE.sha, 0) == 2
    # The rebuilt lists serve as the written ones do: the tombstone is purged, the expiry settled.
    assert node.evalsha(PURGE_TOMBSTONES.sha, 0, BASE + 30, 1000) == 1
    node.delete(b"ttl")  # what Redis does when it expires
    settle(node, BASE + 100)
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
    assert node.evalsha(WRITE_IF_NEWER.sha, 3, *keys, *write_if_newer_args(keys, args)) == [1, 0, 1]
    assert records(node)[b"new"] == newer
    assert bookkeeping_is_true(node)


def test_a_record_of_an_unknown_format_is_refused(node: redis.Redis) -> None:
    record = encode_record(Record(Timestamp(BASE, 0, 1), False, 0, b"v"), range_of(b"k"))
    unknown = b"\x01" + record[1:]
    assert node.evalsha(WRITE_IF_NEWER.sha, 1, b"k", *write_if_newer_args([b"k"], [unknown])) == [0]
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
    assert node.evalsha(WRITE_IF_NEWER.sha, 3, *keys, *write_if_newer_args(keys, args)) == [0, 1, 0]
    assert node.get(b"foreign") == b"abc"
    node.delete(b"foreign", b"foreign-long")
    assert bookkeeping_is_true(node)  # what was applied was counted; what was refused was not
