"""The checker on hand-made histories: each violation is found, and a clean history has none."""

from __future__ import annotations

from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import range_of
from leaderless.replication.record import Record, encode_record

from tests.faults.checker import check
from tests.faults.history import Ack, Read, decode_value, encode_value


def stored(key: str, n: int, ms: int = 1000) -> bytes:
    record = Record(Timestamp(ms + n, 0, 1), False, 0, encode_value(key, n))
    return encode_record(record, range_of(key.encode()))


def replicas_holding(key: str, n: int) -> list[dict[bytes, bytes]]:
    return [{key.encode(): stored(key, n), b"__leaderless:flush": b"x"} for _ in range(3)]


def test_values_name_their_attempt() -> None:
    assert decode_value("k", encode_value("k", 12)) == 12
    for raw in (b"k=0", b"k=012", b"j=1", b"k=", b"k=-1", b"k1", b"k=1x"):
        assert decode_value("k", raw) is None


def test_a_clean_history_passes() -> None:
    acks = [Ack("k", 1, 1.0), Ack("k", 2, 2.0)]
    reads = [Read("r", "k", None, 0.5, 0.6), Read("r", "k", b"k=2", 2.5, 2.6)]
    verdict = check({"k": 3}, acks, reads, {"k": b"k=3"}, replicas_holding("k", 3))
    assert verdict.counts() == dict.fromkeys(verdict.counts(), 0)


def test_an_acknowledged_write_read_older_at_the_end_is_lost() -> None:
    verdict = check({"k": 3}, [Ack("k", 2, 1.0)], [], {"k": b"k=1"}, replicas_holding("k", 1))
    assert verdict.lost == ["k: acknowledged 2, read 1 at the end"]
    missing = check({"k": 1}, [Ack("k", 1, 1.0)], [], {}, [{}, {}, {}])
    assert len(missing.lost) == 1


def test_values_never_attempted_are_invented_wherever_seen() -> None:
    reads = [Read("r", "k", b"k=9", 1.0, 1.1), Read("r", "k", b"other", 2.0, 2.1)]
    replicas = replicas_holding("k", 1)
    replicas[2][b"k"] = b"\x09garbage"
    verdict = check({"k": 1}, [], reads, {"k": b"k=1"}, replicas)
    assert len(verdict.invented) == 3
    assert verdict.lost == []


def test_replicas_that_differ_are_divergent() -> None:
    replicas = replicas_holding("k", 2)
    replicas[1][b"k"] = stored("k", 1)
    verdict = check({"k": 2}, [], [], {"k": b"k=2"}, replicas)
    assert len(verdict.divergent) == 1


def test_a_client_reading_a_key_go_back_is_non_monotonic() -> None:
    reads = [
        Read("a", "k", b"k=2", 1.0, 1.1),
        Read("b", "k", b"k=1", 1.2, 1.3),  # another client may see older: not a violation
        Read("a", "k", b"k=1", 1.4, 1.5),
        Read("a", "k", None, 1.6, 1.7),
    ]
    verdict = check({"k": 2}, [], reads, {"k": b"k=2"}, replicas_holding("k", 2))
    assert len(verdict.non_monotonic) == 2  # 2 then 1, then 1 then missing
    assert verdict.non_monotonic[0].startswith("k: a read 2 then 1")


def test_a_read_started_after_an_ack_must_see_it() -> None:
    acks = [Ack("k", 1, 1.0), Ack("k", 2, 2.0)]
    reads = [
        Read("r", "k", b"k=1", 1.9, 2.1),  # concurrent with the ack of 2: fine
        Read("s", "k", b"k=1", 2.5, 2.6),  # started after it: stale
    ]
    verdict = check({"k": 2}, acks, reads, {"k": b"k=2"}, replicas_holding("k", 2))
    assert len(verdict.stale) == 1
    assert verdict.stale[0].startswith("k: s read 1")
