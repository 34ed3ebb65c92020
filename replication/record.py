"""The stored record: one client value plus the version that decides which write wins.

Each backend keeps a client key's record under the client's own key name, as a Redis string.
The layout is a stable on-disk format (the Lua scripts on the backend read the version with
`struct.unpack('>I6I2I2', ...)`), so it never changes within a format version:

    byte  0       format version, 0x02
    bytes 1..6    timestamp physical ms, unsigned big-endian 48 bit
    bytes 7..8    timestamp logical counter, unsigned big-endian 16 bit
    bytes 9..10   timestamp node id (the writing proxy), unsigned big-endian 16 bit
    byte  11      flags: bit 0 = tombstone, bit 1 = counter; other bits must be 0
    bytes 12..17  absolute expiry, unix ms, unsigned big-endian 48 bit, 0 = never
    bytes 18..19  the key's anti-entropy range (`merkle.range_of`), unsigned big-endian 16 bit
    bytes 20..    the value (any bytes, any length; empty for a tombstone), or for a counter
                  its state (`counters.py`)

The version byte comes first so a later format can be told apart by its first byte alone, and
the timestamp follows it so the version of a record can be read (`peek_timestamp`) without
decoding the rest. A delete is stored as a tombstone record rather than removing the key, so a
delayed older write cannot bring the value back. An expired record stays a version too: it is
invisible to clients but still beats older writes, and the replicas keep it for the expired
grace past its expiry (scripts.py).

The range is a function of the key, not of the version, so `Record` does not carry it: the
encoder is given it. It is stored because a replica cannot compute it (Lua has no xxhash):
with it, the replica's scripts keep the digests and find the keys of given ranges from the
records alone, with no index of keys beside them (scripts.py). It comes last in the header,
so the offsets of the fields before it are those of format 0x01, which had no range; 0x01 was
never deployed and is rejected like any unknown format.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from leaderless.replication.hlc import MAX_PHYSICAL_MS, TIMESTAMP_LEN, Timestamp

FORMAT_VERSION = 2
_EXPIRY_LEN = 6
_HEADER = struct.Struct(f">B{TIMESTAMP_LEN}sB{_EXPIRY_LEN}sH")
"""Format version, packed timestamp, flags, expiry, range: one pack call on the write path."""
HEADER_LEN = _HEADER.size
_FIELDS = struct.Struct(">BHIHHBHIH")
"""The same header as integers only (48-bit fields in two parts): one unpack on the read path."""
_TIMESTAMP = slice(1, 1 + TIMESTAMP_LEN)
_FLAGS = 1 + TIMESTAMP_LEN
_EXPIRY = slice(_FLAGS + 1, _FLAGS + 1 + _EXPIRY_LEN)
_RANGE = slice(_EXPIRY.stop, HEADER_LEN)
_TOMBSTONE = 0x01
_COUNTER = 0x02


class RecordFormatError(ValueError):
    """Bytes that are not a record of a known format (foreign data, corruption, newer format)."""


class _Fields(NamedTuple):
    ts: Timestamp
    tombstone: bool
    expires_at_ms: int
    value: bytes
    counter: bool


class Record(_Fields):
    """A version of one key: a value, or a tombstone saying the key was deleted. `expires_at_ms`
    is the absolute unix ms at which the value stops being visible, 0 = never. A `counter`
    record's value is a conflict-free counter's state, which replicas merge instead of
    replacing (counters.py).

    A tuple underneath, as Timestamp is: one is made for every key read or written."""

    __slots__ = ()

    def __new__(
        cls,
        ts: Timestamp,
        tombstone: bool,
        expires_at_ms: int,
        value: bytes,
        counter: bool = False,
    ) -> Record:
        if not 0 <= expires_at_ms <= MAX_PHYSICAL_MS:
            raise ValueError(f"expires_at_ms out of range: {expires_at_ms}")
        if tombstone and (value or counter):
            raise ValueError("a tombstone carries no value")
        return _new(cls, (ts, tombstone, expires_at_ms, value, counter))

    @classmethod
    def deletion(cls, ts: Timestamp) -> Record:
        """The tombstone a delete at `ts` writes."""
        return _new(cls, (ts, True, 0, b"", False))

    def is_visible(self, now_ms: int) -> bool:
        """Whether a client reading at `now_ms` sees this record's value."""
        expired = self.expires_at_ms != 0 and now_ms >= self.expires_at_ms
        return not (self.tombstone or expired)


_new = tuple.__new__
"""Builds a Record from fields already checked (a decoded header's are, by its layout)."""


def encode_record(record: Record, range_id: int) -> bytes:
    """The stored bytes of `record` of a key in range `range_id` (layout in the module
    docstring)."""
    header = _HEADER.pack(
        FORMAT_VERSION,
        record.ts.pack(),
        (_TOMBSTONE if record.tombstone else 0) | (_COUNTER if record.counter else 0),
        record.expires_at_ms.to_bytes(_EXPIRY_LEN, "big"),
        range_id,
    )
    return header + record.value


def decode_record(raw: bytes) -> Record:
    """Parse stored bytes; raises RecordFormatError if they are not a valid record."""
    _check_header(raw)
    _, physical_high, physical_low, logical, node, flags, expiry_high, expiry_low, _ = (
        _FIELDS.unpack_from(raw)
    )
    if flags & ~(_TOMBSTONE | _COUNTER) or flags == _TOMBSTONE | _COUNTER:
        raise RecordFormatError(f"unknown record flags {flags:#04x}")
    tombstone = bool(flags & _TOMBSTONE)
    if tombstone and len(raw) > HEADER_LEN:
        raise RecordFormatError("tombstone record carries a value")
    ts = _new(Timestamp, ((physical_high << 32) | physical_low, logical, node))
    expires_at_ms = (expiry_high << 32) | expiry_low
    return _new(Record, (ts, tombstone, expires_at_ms, raw[HEADER_LEN:], bool(flags & _COUNTER)))


def peek_timestamp(raw: bytes) -> Timestamp:
    """The version of stored bytes, checking only the header's length and format version."""
    _check_header(raw)
    return Timestamp.unpack(raw[_TIMESTAMP])


def peek_range(raw: bytes) -> int:
    """The range of a record or record header, checking only its length and format version."""
    _check_header(raw)
    return int.from_bytes(raw[_RANGE], "big")


def _check_header(raw: bytes) -> None:
    if len(raw) < HEADER_LEN:
        raise RecordFormatError(f"record too short: {len(raw)} bytes, header is {HEADER_LEN}")
    if raw[0] != FORMAT_VERSION:
        raise RecordFormatError(f"unknown record format version {raw[0]}")
