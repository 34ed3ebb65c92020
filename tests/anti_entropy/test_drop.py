"""DROP, the delete of a moved record: it deletes a record only while it still has the header
checked, and takes out of the digests and the tombstone and expiry lists exactly what the
write put in, whatever the record (value, tombstone, expiring, expired and settled).

Expiries run on a simulated clock, as in test_digests.py: records expire an hour or more in
the future by the real one, so Redis leaves them alone while the watermark passes them.
"""

from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record
from leaderless.replication.scripts import DROP, EXPIRED_KEY, TOMBSTONES_KEY

from tests.anti_entropy.support import (
    bookkeeping_is_true,
    contents,
    now_ms,
    play_write_or_time,
    settle,
    write,
)

pytestmark = pytest.mark.integration

BASE = now_ms() + 3_600_000
GRACE_MS = 30
"""Wide enough beside the clock steps for drops of expired records still kept."""
KEYS = [b"a", b"b", b"c", b"d"]

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("write"),
            st.sampled_from(KEYS),
            st.integers(1, 50),
            st.booleans(),
            st.sampled_from([0, 0, 5, 20]),
        ),
        st.tuples(st.just("time"), st.integers(1, 15)),
        st.tuples(st.just("drop"), st.sampled_from(KEYS), st.booleans()),
    ),
    max_size=25,
)


def drop(node: redis.Redis, key: bytes, header: bytes) -> int:
    return int(node.evalsha(DROP.sha, 1, key, header))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps)
def test_bookkeeping_stays_true_through_drops(
    node: redis.Redis, script: list[tuple[object, ...]]
) -> None:
    node.script_load(DROP.source)
    node.flushall()
    clock = 0
    for step in script:
        if step[0] in ("write", "time"):
            clock = play_write_or_time(node, step, BASE, clock, GRACE_MS)
        else:
            _, key, stale = step
            assert isinstance(key, bytes)
            header = node.getrange(key, 0, 19)
            if stale and header:
                header = header[:1] + bytes([header[1] ^ 1]) + header[2:]
            dropped = drop(node, key, header) if header else 0
            assert dropped == (1 if header and not stale else 0)
            assert node.exists(key) == (1 if stale and header else 0)
        settle(node, BASE + clock, grace_ms=GRACE_MS)
        assert bookkeeping_is_true(node), step


def test_a_dropped_tombstone_leaves_no_entry_and_a_rewritten_key_is_kept(
    node: redis.Redis,
) -> None:
    node.script_load(DROP.source)
    write(node, b"gone", Record.deletion(Timestamp(BASE, 0, 1)))
    write(node, b"kept", Record(Timestamp(BASE, 0, 1), False, 0, b"old"))
    checked = node.getrange(b"kept", 0, 19)
    write(node, b"kept", Record(Timestamp(BASE + 1, 0, 1), False, 0, b"new"))
    assert drop(node, b"gone", node.getrange(b"gone", 0, 19)) == 1
    assert drop(node, b"kept", checked) == 0
    assert node.zcard(TOMBSTONES_KEY) == 0
    assert list(contents(node)) == [b"kept"]
    assert bookkeeping_is_true(node)


def test_a_dropped_expired_record_leaves_the_expired_list(node: redis.Redis) -> None:
    node.script_load(DROP.source)
    write(node, b"k", Record(Timestamp(BASE, 0, 1), False, BASE + 5, b"v"), grace_ms=GRACE_MS)
    settle(node, BASE + 10, grace_ms=GRACE_MS)
    assert node.zcard(EXPIRED_KEY) == 1
    assert drop(node, b"k", node.getrange(b"k", 0, 19)) == 1
    assert node.zcard(EXPIRED_KEY) == 0
    assert bookkeeping_is_true(node)
