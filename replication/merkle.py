"""The Merkle tree the anti-entropy sidecar compares replicas with: ranges, leaves and digests.

The key space is cut into RANGES = 65536 ranges by xxhash (`range_of`: the top 16 bits of
xxh3-64 of the key), and the ranges into SEGMENTS = 256 segments of 256 consecutive ranges.
The tree has four levels: a leaf per record, a digest per range, a digest per segment, and the
root. A leaf is the first 48 bits of sha1(key .. timestamp .. flags): it names one version of
one key, tombstones included, and Lua can compute it (redis.sha1hex). An inner node is the sum
of its children modulo 2^48 rather than a hash of them: a sum can be kept up to date as writes
happen, by subtracting the old version's leaf and adding the new one's (the write script does
this for the range digests on every replica, see scripts.py), where a hash of children would
have to be rebuilt; the levels above are added up when a round reads them.
Leaves and their differences are below 2^53, so exact in Lua's doubles. Two replicas holding
different sets of versions have equal digests only by a 2^-48 accident.

Records with an expiry complicate this, because Redis deletes them without running a script.
A replica's digests therefore count exactly the records whose expiry is 0 or later than its
watermark `settled`; the sidecar moves every replica's watermark to the same time before it
compares them (scripts.SETTLE_EXPIRIES), so records that expired meanwhile drop out of every
replica's digests alike, whether or not Redis already deleted them.

Comparing replicas goes from the root down: only segments whose digests differ are read range
by range (`differing`), and the keys of the ranges that differ are listed by scanning a
replica's keyspace for the records of those ranges (range_scan.py; every record carries its
range, see record.py). Replicas keep range digests only; a round adds each replica's 65,536
up into segment digests (`segment_sums`), so a round where nothing differs reads about 1 MB
per replica, in small batches.
`recompute` builds the same digests from scratch, for tests and for checking a replica's
bookkeeping.

This module is pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import xxhash

RANGE_BITS = 16
RANGES = 1 << RANGE_BITS
RANGES_PER_SEGMENT = 256
SEGMENTS = RANGES // RANGES_PER_SEGMENT
MODULUS = 1 << 48
_VERSION = slice(1, 12)  # timestamp and flags of an encoded record
_EXPIRY = slice(12, 18)


def range_of(key: bytes) -> int:
    """The range of a key: the top RANGE_BITS bits of its xxh3-64 hash."""
    return xxhash.xxh3_64_intdigest(key) >> (64 - RANGE_BITS)


def segment_of(range_id: int) -> int:
    return range_id // RANGES_PER_SEGMENT


def segment_ranges(segment: int) -> range:
    return range(segment * RANGES_PER_SEGMENT, (segment + 1) * RANGES_PER_SEGMENT)


def range_field(range_id: int) -> bytes:
    """The field of a range's digest in the digests hash."""
    return b"%d" % range_id


def segment_field(segment: int) -> bytes:
    """The name of a segment's lease (in the leases hash)."""
    return b"s%d" % segment


def leaf(key: bytes, record: bytes) -> int:
    """The leaf of one stored version: 48 bits of sha1(key .. timestamp .. flags)."""
    return int.from_bytes(leaf_bytes(key, record), "big")


def leaf_bytes(key: bytes, record: bytes) -> bytes:
    """`leaf` as 6 big-endian bytes, the form WRITE_IF_NEWER takes it in."""
    return hashlib.sha1(key + record[_VERSION]).digest()[:6]


def expires_at(record: bytes) -> int:
    """The absolute expiry (unix ms, 0 = never) of an encoded record or record header."""
    return int.from_bytes(record[_EXPIRY], "big")


def counted(record: bytes, settled_ms: int) -> bool:
    """Whether a replica whose watermark is `settled_ms` counts this record in its digests."""
    expiry = expires_at(record)
    return expiry == 0 or expiry > settled_ms


@dataclass
class Digests:
    """One replica's range digests (absent = 0), and the segment digests they add up to."""

    ranges: dict[int, int] = field(default_factory=dict)

    @property
    def segments(self) -> dict[int, int]:
        return segment_sums(self.ranges)

    @property
    def root(self) -> int:
        return sum(self.ranges.values()) % MODULUS


def segment_sums(ranges: Mapping[int, int]) -> dict[int, int]:
    """The segment digests of these range digests (absent or 0 = 0; zero sums left out)."""
    sums: dict[int, int] = {}
    for range_id, digest in ranges.items():
        segment = segment_of(range_id)
        sums[segment] = (sums.get(segment, 0) + digest) % MODULUS
    return {segment: digest for segment, digest in sums.items() if digest}


def recompute(records: Iterable[tuple[bytes, bytes]], settled_ms: int) -> Digests:
    """The digests a replica holding these (key, encoded record) pairs should have."""
    digests = Digests()
    for key, record in records:
        if not counted(record, settled_ms):
            continue
        range_id = range_of(key)
        value = leaf(key, record)
        digests.ranges[range_id] = (digests.ranges.get(range_id, 0) + value) % MODULUS
    digests.ranges = {r: d for r, d in digests.ranges.items() if d}
    return digests


def parse_digest(raw: object) -> int:
    """A digest as HMGET returns it: a decimal string, or None for 0. Replicas keep plain sums
    (HINCRBY); their digest is the sum modulo 2^48."""
    return int(raw) % MODULUS if isinstance(raw, bytes) else 0


def differing(replicas: Sequence[Mapping[int, int]], children: Iterable[int]) -> list[int]:
    """The children (segments or ranges) whose digests are not the same on every replica."""
    return [child for child in children if len({replica.get(child, 0) for replica in replicas}) > 1]
