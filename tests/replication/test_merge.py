from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merge import (
    Repair,
    ReplicaRead,
    Resolution,
    resolve,
    should_apply,
)
from leaderless.replication.record import Record

from tests.replication.strategies import records, timestamps


def ts(ms: int, node: int = 1) -> Timestamp:
    return Timestamp(ms, 0, node)


def live(ms: int, value: bytes = b"v", expires_at_ms: int = 0, node: int = 1) -> Record:
    return Record(ts(ms, node), tombstone=False, expires_at_ms=expires_at_ms, value=value)


# should_apply


def test_applies_to_an_empty_replica() -> None:
    assert should_apply(None, None, live(5))


def test_applies_only_strictly_newer() -> None:
    assert should_apply(live(5), None, live(6))
    assert not should_apply(live(6), None, live(5))
    assert not should_apply(live(5, b"a"), None, live(5, b"b"))


def test_flush_refuses_older_and_equal_writes() -> None:
    assert not should_apply(None, ts(5), live(4))
    assert not should_apply(None, ts(5), live(5))
    assert should_apply(None, ts(5), live(6))


def test_tombstones_and_expired_records_are_ordinary_versions() -> None:
    tombstone = Record.deletion(ts(7))
    assert should_apply(live(5), None, tombstone)
    assert not should_apply(tombstone, None, live(6))
    expired = live(9, expires_at_ms=1)
    assert should_apply(live(8), None, expired)
    assert not should_apply(expired, None, live(8))


@given(st.none() | records, st.none() | timestamps, records)
def test_should_apply_is_the_documented_rule(
    current: Record | None, flushed_at: Timestamp | None, incoming: Record
) -> None:
    expected = (current is None or incoming.ts > current.ts) and (
        flushed_at is None or incoming.ts > flushed_at
    )
    assert should_apply(current, flushed_at, incoming) is expected


@given(st.lists(records, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_apply_order_does_not_matter(incoming: list[Record], rnd: random.Random) -> None:
    """Two replicas receiving the same writes in different orders end up identical."""
    shuffled = list(incoming)
    rnd.shuffle(shuffled)
    finals = []
    for order in (incoming, shuffled):
        current: Record | None = None
        for record in order:
            if should_apply(current, None, record):
                current = record
        finals.append(current)
    assert finals[0] is not None and finals[1] is not None
    assert finals[0].ts == finals[1].ts == max(r.ts for r in incoming)


# resolve


def test_nothing_anywhere_resolves_to_nothing() -> None:
    assert resolve([ReplicaRead(None, None), None, ReplicaRead(None, None)]) == Resolution(
        None, None, ()
    )


def test_no_answers_at_all() -> None:
    assert resolve([None, None]) == Resolution(None, None, ())


def test_newest_wins_and_stale_or_missing_replicas_get_it() -> None:
    old, new = live(1, b"old"), live(2, b"new")
    result = resolve([ReplicaRead(old, None), ReplicaRead(new, None), ReplicaRead(None, None)])
    assert result.winner == new
    assert result.flushed_at is None
    assert result.repairs == (Repair(0, new, None), Repair(2, new, None))


def test_replicas_that_did_not_answer_are_not_repaired() -> None:
    new = live(2)
    result = resolve([None, ReplicaRead(new, None), ReplicaRead(live(1), None)])
    assert result.repairs == (Repair(2, new, None),)


def test_replicas_holding_the_same_version_need_nothing() -> None:
    record = live(3)
    result = resolve([ReplicaRead(record, None), ReplicaRead(record, None)])
    assert result.winner == record
    assert result.repairs == ()


def test_tombstone_wins_and_is_propagated_but_is_not_visible() -> None:
    tombstone = Record.deletion(ts(5))
    result = resolve([ReplicaRead(live(4), None), ReplicaRead(tombstone, None)])
    assert result.winner == tombstone
    assert result.visible(0) is None
    assert result.repairs == (Repair(0, tombstone, None),)


def test_newer_expired_record_beats_older_live_one() -> None:
    expired = live(5, b"gone", expires_at_ms=100)
    result = resolve([ReplicaRead(live(4, b"old"), None), ReplicaRead(expired, None)])
    assert result.winner == expired
    assert result.visible(100) is None
    assert result.visible(99) == expired
    assert result.repairs == (Repair(0, expired, None),)


def test_flush_kills_older_and_equal_records_and_is_propagated() -> None:
    flush = ts(10)
    result = resolve(
        [
            ReplicaRead(live(9), None),
            ReplicaRead(None, flush),
            ReplicaRead(Record(flush, False, 0, b"same ts"), None),
        ]
    )
    assert result.winner is None
    assert result.flushed_at == flush
    assert result.repairs == (Repair(0, None, flush), Repair(2, None, flush))


def test_record_newer_than_the_flush_survives_and_both_are_repaired() -> None:
    flush, newer = ts(10), live(11)
    result = resolve(
        [ReplicaRead(live(9), None), ReplicaRead(newer, flush), ReplicaRead(None, ts(3))]
    )
    assert result.winner == newer
    assert result.flushed_at == flush
    assert result.repairs == (Repair(0, newer, flush), Repair(2, newer, flush))


def test_replica_with_a_newer_flush_than_the_winner_needs_no_flush() -> None:
    newer = live(11)
    result = resolve([ReplicaRead(newer, ts(10)), ReplicaRead(None, ts(10))])
    assert result.repairs == (Repair(1, newer, None),)


def test_equal_timestamps_resolve_the_same_whatever_the_answer_order() -> None:
    """Only possible when two proxies share an id; every coordinator must still agree."""
    a, b = live(5, b"a"), live(5, b"b")
    first = resolve([ReplicaRead(a, None), ReplicaRead(b, None)]).winner
    second = resolve([ReplicaRead(b, None), ReplicaRead(a, None)]).winner
    assert first == second == b


def test_repair_for_a_late_answer() -> None:
    winner, flush = live(8), ts(6)
    result = resolve([ReplicaRead(winner, flush), ReplicaRead(winner, flush), None])
    assert result.repair_for(2, ReplicaRead(live(7), None)) == Repair(2, winner, flush)
    assert result.repair_for(2, ReplicaRead(winner, flush)) is None
    # A straggler that has meanwhile received something newer is left alone.
    assert result.repair_for(2, ReplicaRead(live(9), flush)) is None


replica_reads = st.none() | st.builds(ReplicaRead, st.none() | records, st.none() | timestamps)


@given(st.lists(replica_reads, max_size=5))
def test_resolve_properties(reads: list[ReplicaRead | None]) -> None:
    result = resolve(reads)
    answered = {i: read for i, read in enumerate(reads) if read is not None}
    flushes = [r.flushed_at for r in answered.values() if r.flushed_at is not None]
    assert result.flushed_at == max(flushes, default=None)
    held = [r.record for r in answered.values() if r.record is not None]
    if result.winner is None:
        # Nothing held, or everything held is dead under the newest flush.
        assert all(result.flushed_at is not None and r.ts <= result.flushed_at for r in held)
    else:
        assert result.winner in held
        assert all(r.ts <= result.winner.ts for r in held)
        assert result.flushed_at is None or result.winner.ts > result.flushed_at
    assert [r.replica for r in result.repairs] == sorted({r.replica for r in result.repairs})
    for repair in result.repairs:
        assert repair.replica in answered
        assert repair.record is not None or repair.flush is not None
    # After applying its repair, every answering replica reads back as the result.
    for i, read in answered.items():
        record, flushed_at = read.record, read.flushed_at
        own = next((r for r in result.repairs if r.replica == i), None)
        if own is not None and own.flush is not None:
            flushed_at = own.flush
            if record is not None and record.ts <= own.flush:
                record = None
        if own is not None and own.record is not None:
            assert should_apply(record, flushed_at, own.record)
            record = own.record
        again = resolve([ReplicaRead(record, flushed_at)])
        assert again.flushed_at == result.flushed_at
        assert _ts(again.winner) == _ts(result.winner)


def _ts(record: Record | None) -> Timestamp | None:
    return None if record is None else record.ts
