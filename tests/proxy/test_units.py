"""A unit of work's write buffer, without replicas: what its reads find, and what it sends."""

from __future__ import annotations

from collections.abc import Callable

from leaderless.proxy.units import WriteBuffer, stamped_together
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record

EARLY = Timestamp(1_000, 0, 1)


def record(value: bytes | None) -> Record:
    return Record.deletion(EARLY) if value is None else Record(EARLY, False, 0, value)


def counting_stamps() -> Callable[[], Timestamp]:
    stamps = iter(Timestamp(2_000, logical, 1) for logical in range(100))
    return lambda: next(stamps)


def test_reads_find_the_units_writes_and_ask_the_replicas_for_the_rest() -> None:
    buffer = WriteBuffer()
    buffer.put(0, 0, [(b"a", record(b"1")), (b"gone", record(None))])
    buffer.put(1, 3, [(b"b", record(b"other db"))])
    keys = [b"a", b"b", b"gone", b"b"]
    assert buffer.unread(0, keys) == [b"b", b"b"]
    from_replicas = Record(EARLY, False, 0, b"replica")
    assert buffer.records(0, keys, [from_replicas, from_replicas]) == [
        record(b"1"),
        from_replicas,
        record(None),
        from_replicas,
    ]
    assert buffer.unread(3, keys) == [b"a", b"gone"]
    assert buffer.records(3, [b"b", b"a"], [None]) == [record(b"other db"), None]


def test_a_key_written_twice_is_sent_once_with_its_last_record() -> None:
    buffer = WriteBuffer()
    buffer.put(0, 0, [(b"k", record(b"first"))])
    buffer.put(1, 0, [(b"j", record(b"j"))])
    buffer.put(2, 0, [(b"k", record(b"last"))])
    (batch,) = buffer.take(counting_stamps())
    assert [(key, found.value) for key, found in batch.records] == [(b"k", b"last"), (b"j", b"j")]
    assert batch.writers == frozenset({0, 1, 2})


def test_take_stamps_every_database_in_one_pass_and_empties_the_buffer() -> None:
    buffer = WriteBuffer()
    buffer.put(0, 0, [(b"a", record(b"1")), (b"b", record(None))])
    buffer.put(1, 5, [(b"c", record(b"3"))])
    batches = buffer.take(counting_stamps())
    assert [(batch.db, batch.writers) for batch in batches] == [
        (0, frozenset({0})),
        (5, frozenset({1})),
    ]
    stamps = [found.ts for batch in batches for _, found in batch.records]
    assert stamps == [Timestamp(2_000, logical, 1) for logical in range(3)]
    assert batches[0].records[1][1].tombstone
    assert buffer.take(counting_stamps()) == []
    assert buffer.unread(0, [b"a"]) == [b"a"]


def test_stamping_together_keeps_everything_but_the_timestamp() -> None:
    expiring = Record(EARLY, False, 9_000, b"v")
    ((key, stamped),) = stamped_together(counting_stamps(), [(b"k", expiring)])
    assert (key, stamped) == (b"k", expiring._replace(ts=Timestamp(2_000, 0, 1)))
    assert isinstance(stamped, Record)
