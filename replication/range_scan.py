"""Listing the keys of some ranges by scanning a replica's keyspace: one pass of SCAN_RANGES.

A replica keeps no index of keys by range (scripts.py), but every record carries its key's
range (record.py), so the sidecar lists the keys of the ranges it repairs by scanning the
whole keyspace once, with the wanted ranges as a bitmap that the script tests each record's
range against inside Redis: only the keys wanted and their record headers cross the network.

`RangeScan` is the state of one such pass, with no I/O (the sidecar sends `request()` to the
replica and `feed`s it the reply): the cursor, the wanted ranges, and the keys found so far,
because SCAN may return a key more than once (when the keyspace's hash table shrinks during
the pass) and each key is to be compared once. SCAN returns every key present for the whole
pass; keys written or deleted meanwhile may or may not come back, which is fine for
anti-entropy: a key written during the pass was written to every replica the write reached.
"""

from __future__ import annotations

from collections.abc import Iterable

from leaderless.replication.merkle import RANGES
from leaderless.replication.record import RecordFormatError, peek_range

SCAN_COUNT = 500
"""Keys one scan step reads: Redis is busy with a step for about 1 ms whatever the scan rate
(the rate only spaces the steps), and a client's request that arrives meanwhile waits for it.
Smaller steps cost the sidecar more CPU (a step is a round trip) for no gain in speed."""


def range_bitmap(ranges: Iterable[int]) -> bytes:
    """RANGES bits, set for the given ranges: range r is bit 7 - r % 8 of byte r // 8, the
    order scripts.SCAN_RANGES reads."""
    bitmap = bytearray(RANGES // 8)
    for range_id in ranges:
        bitmap[range_id >> 3] |= 0x80 >> (range_id & 7)
    return bytes(bitmap)


class RangeScan:
    """One pass over a replica's keyspace for the records of the `wanted` ranges."""

    def __init__(self, wanted: Iterable[int], *, count: int = SCAN_COUNT) -> None:
        self.done = False
        self._count = b"%d" % count
        self._cursor = b"0"
        self._seen: set[bytes] = set()
        self.want(wanted)

    def want(self, wanted: Iterable[int]) -> None:
        """Narrow (or change) the ranges wanted from the next step on."""
        self._wanted = frozenset(wanted)
        self._bitmap = range_bitmap(self._wanted)

    def request(self) -> list[bytes]:
        """SCAN_RANGES's arguments for the next step."""
        return [self._cursor, self._count, self._bitmap]

    def feed(self, reply: object) -> tuple[int, dict[bytes, bytes]]:
        """Take a step's reply: how many keys the replica scanned, and the keys found for the
        first time in this pass (key -> record header). Raises ValueError if the reply is not
        one SCAN_RANGES gives."""
        if not (
            isinstance(reply, list)
            and len(reply) % 2 == 0
            and all(isinstance(item, bytes) for item in reply)
            and reply[1].isdigit()
        ):
            raise ValueError(f"not a SCAN_RANGES reply: {reply!r:.200}")
        self._cursor, scanned = reply[0], int(reply[1])
        self.done = self._cursor == b"0"
        found = {}
        for key, header in zip(reply[2::2], reply[3::2], strict=True):
            try:
                wanted = peek_range(header) in self._wanted
            except RecordFormatError as error:
                raise ValueError(f"not a record header for key {key!r}: {error}") from None
            if wanted and key not in self._seen:
                found[key] = header
        self._seen.update(found)
        return scanned, found
