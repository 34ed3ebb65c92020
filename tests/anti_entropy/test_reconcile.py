"""Which replicas get which version: newest wins, dead versions are not spread to empty ones."""

from __future__ import annotations

from leaderless.replication.reconcile import KeyRepair, plan
from leaderless.replication.record import HEADER_LEN, Record, encode_record

from tests.anti_entropy.support import deletion, value

NOW = 1_000_000


def header(record: Record) -> bytes:
    return encode_record(record, 0)[:HEADER_LEN]


def test_identical_replicas_need_nothing() -> None:
    same = {b"k": header(value(5, b"v"))}
    assert plan([same, dict(same), dict(same)], now_ms=NOW, purge_cutoff_ms=0) == []


def test_newest_goes_to_stale_and_missing_replicas() -> None:
    old, new = header(value(5, b"a")), header(value(6, b"b"))
    repairs = plan([{b"k": old}, {b"k": new}, {}], now_ms=NOW, purge_cutoff_ms=0)
    assert repairs == [KeyRepair(b"k", 1, (0, 2))]


def test_divergence_everywhere_is_planned_per_key() -> None:
    a, b = header(value(5, b"a")), header(value(6, b"b"))
    replicas = [{b"x": a, b"y": b}, {b"y": a, b"z": b}, {b"x": b, b"z": b}]
    assert plan(replicas, now_ms=NOW, purge_cutoff_ms=0) == [
        KeyRepair(b"x", 2, (0, 1)),
        KeyRepair(b"y", 0, (1, 2)),
        KeyRepair(b"z", 1, (0,)),
    ]


def test_tombstones_win_and_are_copied_until_purge_time() -> None:
    old, gone = header(value(5, b"a")), header(deletion(6))
    assert plan([{b"k": old}, {b"k": gone}, {}], now_ms=NOW, purge_cutoff_ms=0) == [
        KeyRepair(b"k", 1, (0, 2))
    ]
    # Past the grace period the tombstone still beats the older value, but an empty replica
    # is left alone: the purge is about to drop the tombstone everywhere.
    assert plan([{b"k": old}, {b"k": gone}, {}], now_ms=NOW, purge_cutoff_ms=6) == [
        KeyRepair(b"k", 1, (0,))
    ]
    assert plan([{}, {b"k": gone}], now_ms=NOW, purge_cutoff_ms=6) == []


def test_expired_records_are_not_copied_to_replicas_without_the_key() -> None:
    old = header(value(5, b"a"))
    expired = header(value(6, b"b", expires_at_ms=NOW))
    live = header(value(6, b"b", expires_at_ms=NOW + 1))
    assert plan([{}, {b"k": expired}], now_ms=NOW, purge_cutoff_ms=0) == []
    assert plan([{b"k": old}, {b"k": expired}], now_ms=NOW, purge_cutoff_ms=0) == [
        KeyRepair(b"k", 1, (0,))
    ]
    assert plan([{}, {b"k": live}], now_ms=NOW, purge_cutoff_ms=0) == [KeyRepair(b"k", 1, (0,))]
