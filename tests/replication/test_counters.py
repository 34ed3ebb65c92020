"""The counter merge: a join semilattice (commutative, associative, idempotent), so replicas
that receive the same versions in any order, any number of times, hold the same counter; the
replicas' Lua merge gives the same bytes as `join`; and the epoch rules for resets."""

from __future__ import annotations

import random
from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leaderless.proxy.app.local_nodes import start_on_free_port
from leaderless.replication.counters import (
    Counter,
    CounterWrite,
    Epoch,
    Unacknowledged,
    counter_of,
    decode_counter,
    encode_counter,
    join,
    join_all,
    view,
)
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import range_of
from leaderless.replication.record import Record, encode_record

from tests.anti_entropy.support import load_scripts, write
from tests.support.redis_servers import VALKEY_8, pinned_server

SHARDS = [bytes([i]) * 8 for i in (1, 2, 3, 200)]
KEY = b"counter"


def _ts(physical: int) -> Timestamp:
    return Timestamp(physical, 0, 1)


def _expiry(expiry_ts: int) -> int:
    """Versions come from writes: a write's stamp decides what it wrote, here its expiry."""
    return 0 if expiry_ts % 3 == 0 else 4 * 10**12 + expiry_ts  # 2096


def _deletes(ts: Timestamp) -> bool:
    return ts.physical_ms % 4 == 0


@st.composite
def versions(draw: st.DrawFn) -> Record:
    """A version of one key: a plain write, a tombstone, or a counter of one of a few epochs
    with shards whose contributions follow from their stamps, as real writes' do."""
    if draw(st.integers(0, 4)) == 0:
        ts = _ts(draw(st.integers(1, 8)))
        if _deletes(ts):
            return Record.deletion(ts)
        return Record(ts, False, _expiry(ts.physical_ms), b"%d" % ts.physical_ms)
    epoch = Epoch(_ts(draw(st.integers(1, 8))), draw(st.integers(0, 2)))
    starts_empty = epoch.generation or _deletes(epoch.ts)
    base = b"" if starts_empty else b"%d" % epoch.ts.physical_ms
    stamps = draw(st.dictionaries(st.sampled_from(SHARDS), st.integers(9, 30), min_size=1))
    shards = {shard: (_ts(at), b"%d" % (at * shard[0] - 40)) for shard, at in stamps.items()}
    expiry_ts = _ts(draw(st.integers(epoch.ts.physical_ms, 30)))
    top = max([expiry_ts, *(held[0] for held in shards.values())])
    state = Counter(epoch, expiry_ts, base, shards)
    return Record(top, False, _expiry(expiry_ts.physical_ms), encode_counter(state), counter=True)


def _merge(a: Record, b: Record) -> Record:
    if a.counter or b.counter:
        return join(a, b)
    return max(a, b, key=lambda record: record.ts)


@given(versions(), versions())
def test_join_is_commutative(a: Record, b: Record) -> None:
    assert _merge(a, b) == _merge(b, a)


@given(versions(), versions(), versions())
def test_join_is_associative(a: Record, b: Record, c: Record) -> None:
    assert _merge(_merge(a, b), c) == _merge(a, _merge(b, c))


@given(versions())
def test_join_is_idempotent(a: Record) -> None:
    assert _merge(a, a) == a


@given(versions())
def test_state_survives_encoding(a: Record) -> None:
    if a.counter:
        assert encode_counter(decode_counter(a.value)) == a.value


def _increment(read: Record | None, at: int, shard: bytes, delta: int) -> Record:
    return CounterWrite(read, Decimal(delta), 0, False, 0).record(_ts(at), shard)


def test_increments_through_two_shards_both_count() -> None:
    first = _increment(None, 10, SHARDS[0], 3)
    second = _increment(None, 11, SHARDS[1], 4)
    assert view(join(first, second)).value == b"7"
    again = _increment(join(first, second), 12, SHARDS[0], -10)
    assert view(join(second, again)).value == b"-3"


def test_a_later_set_resets_and_later_increments_count() -> None:
    counted = join(_increment(None, 10, SHARDS[0], 3), _increment(None, 11, SHARDS[1], 4))
    reset = Record(_ts(12), False, 0, b"100")
    assert join(counted, reset) == reset
    after = _increment(reset, 13, SHARDS[1], 1)
    assert view(join_all([counted, reset, after])).value == b"101"
    deleted = Record.deletion(_ts(14))
    assert join(after, deleted) == deleted
    assert view(join(deleted, _increment(deleted, 15, SHARDS[0], 2))).value == b"2"


def test_an_expired_counter_starts_again_from_zero_for_every_proxy() -> None:
    expiring = CounterWrite(None, Decimal(5), 1000, False, 0).record(_ts(10), SHARDS[0])
    one = CounterWrite(expiring, Decimal(1), 0, False, 2000).record(_ts(20), SHARDS[0])
    two = CounterWrite(expiring, Decimal(1), 0, False, 2000).record(_ts(21), SHARDS[1])
    assert counter_of(one).epoch == counter_of(two).epoch > counter_of(expiring).epoch
    assert view(join_all([expiring, one, two])).value == b"2"


def test_an_increment_builds_on_this_process_unacknowledged_ones() -> None:
    """Two increments through one process, the second read before the first landed: the
    second builds on the first, so the shard's newest contribution holds both."""
    unacknowledged = Unacknowledged()
    read = _increment(None, 10, SHARDS[1], 5)  # another proxy's, as both reads see it
    unacknowledged.reading([KEY])
    first = _increment(read, 11, SHARDS[0], 3)
    unacknowledged.sending([(KEY, first)])
    unacknowledged.done_reading([KEY])
    unacknowledged.reading([KEY])
    (seen,) = unacknowledged.merged_into([KEY], [read])
    second = _increment(seen, 12, SHARDS[0], 4)
    unacknowledged.sending([(KEY, second)])
    unacknowledged.done_reading([KEY])
    assert view(join(read, second)).value == b"12"
    unacknowledged.acknowledged([(KEY, first)])
    assert unacknowledged.merged_into([KEY], [read]) == [join(read, second)], "second is out"
    unacknowledged.acknowledged([(KEY, second)])
    assert len(unacknowledged) == 0


def test_an_acknowledged_increment_stays_for_a_read_made_before_it() -> None:
    unacknowledged = Unacknowledged()
    unacknowledged.reading([KEY])
    first = _increment(None, 10, SHARDS[0], 3)
    unacknowledged.sending([(KEY, first)])
    unacknowledged.done_reading([KEY])
    unacknowledged.reading([KEY])  # a second increment reads: its read may miss `first`
    unacknowledged.acknowledged([(KEY, first)])
    assert unacknowledged.merged_into([KEY], [None]) == [first]
    unacknowledged.done_reading([KEY])
    assert len(unacknowledged) == 0


def test_a_failed_increment_is_kept_and_built_on() -> None:
    unacknowledged = Unacknowledged()
    failed = _increment(None, 10, SHARDS[0], 3)
    unacknowledged.sending([(KEY, failed)])
    assert unacknowledged.merged_into([KEY], [None]) == [failed]
    reset = Record(_ts(20), False, 0, b"7")
    assert unacknowledged.merged_into([KEY], [reset]) == [reset]
    assert len(unacknowledged) == 1


def test_an_expiry_change_keeps_the_shards_and_wins_over_an_older_expiry() -> None:
    read = _increment(None, 10, SHARDS[0], 3)
    expire = CounterWrite(read, Decimal(0), 5000, True, 0).record(_ts(11), SHARDS[1])
    racing = _increment(read, 12, SHARDS[1], 2)
    merged = join(expire, racing)
    assert merged.expires_at_ms == 5000
    assert view(merged).value == b"5"


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """One real server with the replicas' scripts, shared by the examples: each clears its key."""
    node_dir = tmp_path_factory.mktemp("replica")
    server = start_on_free_port(node_dir, (), executable=pinned_server(VALKEY_8))
    with server as node, node.client() as client:
        load_scripts(client)
        yield client


@pytest.mark.integration
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(versions(), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_the_replicas_merge_as_join_does(
    replica: redis.Redis, history: list[Record], rng: random.Random
) -> None:
    """Every version written once or more, in any order: the replica holds their join."""
    sent = [*history, *(rng.choice(history) for _ in range(3))]
    rng.shuffle(sent)
    replica.delete(KEY)
    for record in sent:
        write(replica, KEY, record)
    expected = sent[0]
    for record in sent[1:]:
        expected = _merge(expected, record)
    stored = replica.get(KEY)
    assert stored is not None
    assert stored == encode_record(expected, range_of(KEY))


def test_an_increment_after_a_flush_wins_over_a_counter_from_before_it() -> None:
    """A read that finds only a flush gives the key as deleted at the flush (reads.py), so an
    increment starts in the flush's epoch, and a replica that missed the flush and still holds
    the old counter takes the new one whole."""
    before = _increment(None, 10, SHARDS[1], 7)
    flushed = Record.deletion(_ts(20))
    after = _increment(flushed, 21, SHARDS[0], 1)
    assert counter_of(after).epoch == Epoch(_ts(20), 0)
    assert join(before, after) == after
    assert view(join(before, after)).value == b"1"
