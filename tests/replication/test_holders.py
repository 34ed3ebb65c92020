"""What it takes for a replica to hold a write (WAIT's count)."""

from __future__ import annotations

from leaderless.replication.hlc import Timestamp
from leaderless.replication.holders import holds
from leaderless.replication.merge import ReplicaRead
from leaderless.replication.record import Record

WRITTEN = Timestamp(1_000, 0, 1)
OLDER = Timestamp(999, 5, 2)
NEWER = Timestamp(1_000, 1, 1)


def read(ts: Timestamp | None, flushed_at: Timestamp | None = None) -> ReplicaRead:
    record = None if ts is None else Record(ts, False, 0, b"v")
    return ReplicaRead(record, flushed_at)


def test_the_version_itself_or_a_newer_one_holds_it() -> None:
    assert holds([read(WRITTEN)], [(b"k", WRITTEN)])
    assert holds([read(NEWER)], [(b"k", WRITTEN)])
    assert holds([ReplicaRead(Record.deletion(NEWER), None)], [(b"k", WRITTEN)])


def test_an_older_version_or_none_does_not() -> None:
    assert not holds([read(OLDER)], [(b"k", WRITTEN)])
    assert not holds([read(None)], [(b"k", WRITTEN)])


def test_a_newer_flush_holds_it_and_an_older_one_does_not() -> None:
    assert holds([read(None, flushed_at=NEWER)], [(b"k", WRITTEN)])
    assert not holds([read(None, flushed_at=OLDER)], [(b"k", WRITTEN)])


def test_every_key_of_the_write_must_be_held() -> None:
    versions = [(b"a", WRITTEN), (b"b", WRITTEN)]
    assert holds([read(WRITTEN), read(NEWER)], versions)
    assert not holds([read(WRITTEN), read(OLDER)], versions)


def test_nothing_written_is_held_by_any_replica_that_answers() -> None:
    assert holds([], [])
