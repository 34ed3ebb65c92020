"""Conflict-free counters: INCR and its kin count every increment, whichever proxy takes it.

A key's last-write-wins register cannot count: two proxies that read 5 and both write 6 lose an
increment. So a counter is a state the replicas merge rather than replace, as Riak's counters
and Redis Enterprise's active-active counters are. Each proxy process owns a *shard* of every
counter it increments and writes its shard's absolute contribution, stamped with its clock; a
replica keeps, per shard, the contribution with the newest stamp. A replayed hint, a repeated
repair or a write that arrives twice is therefore counted once, and an increment through one
proxy never overwrites one through another. The value a client sees is the *base* plus the
contributions of every shard.

Resets follow Baquero et al., "The problem with embedded CRDT counters and a solution" (PaPoC
2016): a counter lives in an *epoch*, named by the register write it started from (a SET, a DEL,
or nothing at all), and only counters of the same epoch merge. A later SET or DEL starts a
newer epoch, which wins over every older one whole, so the increments before it are gone and
the increments after it count. An increment never starts an epoch of its own: two proxies
incrementing a new key both build on the epoch they read, so neither's increment is lost. An
increment of an expired counter starts the epoch after it (the same for every proxy that read
it), so the expired count stays gone. An expiry is a register of its own (`expiry_ts` says
which write set it), so that EXPIRE and a concurrent INCR both hold.

The state, after the record header (record.py), is:

    bytes 0..11    epoch: the timestamp of the write it started from, then a 16-bit generation
    bytes 12..21   expiry_ts: the timestamp of the write that set the record's expiry
    bytes 22..25   base length, unsigned big-endian 32 bit; then the base
    then per shard, in order of shard id: the id (8 bytes), its timestamp (10 bytes), the
                   contribution's length (32 bit) and the contribution (a decimal number)

The replicas merge with the same rule in Lua (scripts.py), byte for byte: `join` here is what
a quorum read computes from the replicas' records, and what it repairs them with.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from typing import NamedTuple

from leaderless.replication.hlc import TIMESTAMP_LEN, Timestamp
from leaderless.replication.record import Record

SHARD_ID_LEN = 8
_LENGTH = struct.Struct(">I")
_ZERO_TS = Timestamp(0, 0, 0)
Records = list[Record | None]
_EXACT = Context(prec=1_000_000)
"""Sums of contributions are exact: no number a counter holds has that many digits."""


class Epoch(NamedTuple):
    """Which register write a counter started from; a greater epoch wins whole."""

    ts: Timestamp
    generation: int


@dataclass(frozen=True, slots=True)
class Counter:
    epoch: Epoch
    expiry_ts: Timestamp
    base: bytes
    """The register's value the counter started from (empty for none: zero)."""
    shards: Mapping[bytes, tuple[Timestamp, bytes]]
    """Shard id -> (the stamp of its latest write, its contribution as a decimal string)."""

    def total(self) -> int | Decimal:
        parts = [_number(value) for _, value in self.shards.values()]
        parts.append(_number(self.base or b"0"))
        if all(type(part) is int for part in parts):
            return sum(parts)
        with localcontext(_EXACT):
            return sum(parts, Decimal(0))

    def rendered(self) -> bytes:
        """The value as GET shows it: an integer as Redis writes one, or the decimal number
        without trailing zeros, as INCRBYFLOAT writes it."""
        return _decimal_bytes(self.total())

    def contribution(self, shard: bytes) -> int | Decimal:
        held = self.shards.get(shard)
        return 0 if held is None else _number(held[1])


def encode_counter(counter: Counter) -> bytes:
    parts = [
        counter.epoch.ts.pack(),
        counter.epoch.generation.to_bytes(2, "big"),
        counter.expiry_ts.pack(),
        _LENGTH.pack(len(counter.base)),
        counter.base,
    ]
    for shard in sorted(counter.shards):
        ts, value = counter.shards[shard]
        parts += (shard, ts.pack(), _LENGTH.pack(len(value)), value)
    return b"".join(parts)


def decode_counter(state: bytes) -> Counter:
    epoch = Epoch(
        Timestamp.unpack(state[:TIMESTAMP_LEN]),
        int.from_bytes(state[TIMESTAMP_LEN : TIMESTAMP_LEN + 2], "big"),
    )
    at = TIMESTAMP_LEN + 2
    expiry_ts = Timestamp.unpack(state[at : at + TIMESTAMP_LEN])
    at += TIMESTAMP_LEN
    (length,) = _LENGTH.unpack_from(state, at)
    at += _LENGTH.size
    base = state[at : at + length]
    at += length
    shards = {}
    while at < len(state):
        shard = state[at : at + SHARD_ID_LEN]
        at += SHARD_ID_LEN
        ts = Timestamp.unpack(state[at : at + TIMESTAMP_LEN])
        at += TIMESTAMP_LEN
        (size,) = _LENGTH.unpack_from(state, at)
        at += _LENGTH.size
        shards[shard] = (ts, state[at : at + size])
        at += size
    return Counter(epoch, expiry_ts, base, shards)


def counter_of(record: Record) -> Counter:
    """A record as a counter: a plain value or tombstone is the start of its own epoch."""
    if record.counter:
        return decode_counter(record.value)
    return Counter(Epoch(record.ts, 0), record.ts, record.value, {})


def view(record: Record) -> Record:
    """What a client sees of a counter: a plain record holding its value."""
    return Record(record.ts, False, record.expires_at_ms, counter_of(record).rendered())


def join(a: Record, b: Record) -> Record:
    """The merge of two versions of a key of which at least one is a counter: the greater epoch
    whole, or within one epoch every shard's newest contribution and the newest expiry."""
    first, second = counter_of(a), counter_of(b)
    if first.epoch != second.epoch:
        return a if first.epoch > second.epoch else b
    if not (a.counter and b.counter):
        return a if a.counter else b
    shards = dict(first.shards)
    for shard, held in second.shards.items():
        if shard not in shards or shards[shard][0] < held[0]:
            shards[shard] = held
    expiry_from, expiry_ts = (a, first.expiry_ts)
    if second.expiry_ts > first.expiry_ts:
        expiry_from, expiry_ts = (b, second.expiry_ts)
    merged = Counter(first.epoch, expiry_ts, first.base, shards)
    return Record(
        max(a.ts, b.ts), False, expiry_from.expires_at_ms, encode_counter(merged), counter=True
    )


def join_all(records: Iterable[Record]) -> Record:
    merged: Record | None = None
    for record in records:
        merged = record if merged is None else join(merged, record)
    assert merged is not None
    return merged


def built_on(read: Record | None, now_ms: int) -> Counter:
    """The counter an increment of a key holding `read` builds on: a visible value or counter
    as it is, a tombstone's epoch with nothing counted, nothing at all as the first epoch, and
    for an expired record the epoch after it, the same for every proxy that read it."""
    if read is None:
        return Counter(Epoch(_ZERO_TS, 0), _ZERO_TS, b"", {})
    if read.tombstone:
        return Counter(Epoch(read.ts, 0), read.ts, b"", {})
    counter = counter_of(read)
    if read.is_visible(now_ms):
        return counter
    return Counter(Epoch(read.ts, counter.epoch.generation + 1), read.ts, b"", {})


@dataclass(frozen=True, slots=True)
class CounterWrite:
    """An increment, or a change of a counter's expiry, as a command decides it: the executor
    stamps it and fills in its own shard (`record`)."""

    read: Record | None
    """The key's record as the quorum read it (the counter, or the value it starts from)."""
    delta: int | Decimal
    """What this write adds to the value; 0 for an expiry change."""
    expires_at_ms: int
    expiry_changed: bool
    now_ms: int
    """When the command decided: whether `read` had expired by then decides the epoch."""

    def record(self, stamp: Timestamp, shard: bytes) -> Record:
        """The record to write at `stamp`, adding `delta` to shard `shard`'s contribution."""
        counter = built_on(self.read, self.now_ms)
        shards = dict(counter.shards)
        if self.delta or not shards:
            own = _number(shards[shard][1]) if shard in shards else 0
            if type(own) is int and type(self.delta) is int:
                shards[shard] = (stamp, b"%d" % (own + self.delta))
            else:
                with localcontext(_EXACT):
                    shards[shard] = (stamp, _decimal_bytes(Decimal(own) + self.delta))
        expiry_ts = stamp if self.expiry_changed else counter.expiry_ts
        state = Counter(counter.epoch, expiry_ts, counter.base, shards)
        return Record(stamp, False, self.expires_at_ms, encode_counter(state), counter=True)


def difference(new: bytes, old: bytes) -> Decimal:
    """`new` less `old`, both decimal numbers as text (empty for zero), exactly."""
    with localcontext(_EXACT):
        return Decimal(new.decode() or "0") - Decimal(old.decode() or "0")


def _number(text: bytes) -> int | Decimal:
    """A decimal number as text: an int where it is one, as almost every counter's is."""
    digits = text[1:] if text[:1] == b"-" else text
    return int(text) if digits.isdigit() and digits.isascii() else Decimal(text.decode())


def _decimal_bytes(value: int | Decimal) -> bytes:
    if isinstance(value, int):
        return b"%d" % value
    if value == value.to_integral_value():
        return b"%d" % int(value)
    return format(value, "f").rstrip("0").encode()


class Unacknowledged:
    """The counters this process wrote that a quorum has not acknowledged yet, so that its next
    increment of each builds on them (`merged_into`): a write still out, or one that failed and
    may have landed anyway. Without it, an increment whose read missed the one before would
    write a smaller contribution with a newer stamp, and the replicas would keep it.

    An acknowledged counter stays while a read-modify-write of its key that read before the
    acknowledgement is still deciding: that read may have missed it. Requests of a key mark
    their read with `reading` and its end with `done_reading`."""

    def __init__(self) -> None:
        self._sent: dict[bytes, tuple[Record, bool]] = {}
        """Key -> the counter last written to it, and whether a quorum acknowledged it."""
        self._readers: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._sent)

    def reading(self, keys: Sequence[bytes]) -> None:
        readers = self._readers
        for key in keys:
            readers[key] = readers.get(key, 0) + 1

    def done_reading(self, keys: Sequence[bytes]) -> None:
        readers, sent = self._readers, self._sent
        for key in keys:
            left = readers[key] - 1
            if left:
                readers[key] = left
                continue
            del readers[key]
            held = sent.get(key)
            if held is not None and held[1]:
                del sent[key]

    def merged_into(self, keys: Sequence[bytes], records: list[Record | None]) -> Records:
        """`records` read for `keys`, each merged with this process's counter of the key."""
        sent = self._sent
        if not sent:
            return records
        merged = []
        for key, record in zip(keys, records, strict=True):
            held = sent.get(key)
            if held is None:
                merged.append(record)
            else:
                merged.append(held[0] if record is None else join(record, held[0]))
        return merged

    def sending(self, written: Iterable[tuple[bytes, Record]]) -> None:
        for key, record in written:
            if record.counter:
                self._sent[key] = (record, False)

    def acknowledged(self, written: Iterable[tuple[bytes, Record]]) -> None:
        """A quorum holds `written`: a read from now on finds its counters."""
        sent = self._sent
        for key, record in written:
            held = sent.get(key)
            if held is None or held[0] is not record:
                continue  # not a counter, or a later write of the key is still out
            if key in self._readers:
                sent[key] = (record, True)
            else:
                del sent[key]
