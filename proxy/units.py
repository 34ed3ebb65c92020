"""What a unit of work has written and not yet sent: its reads find it here first.

A unit of work runs requests one after the other at this proxy alone (gate.py; execute.py's
`Unit` runs it: EXEC's queued requests, a script's calls). Its writes are not sent as each
request makes them: the records go into a `WriteBuffer`, by database and key, where the unit's
later reads find them before they ask the replicas for the other keys. The buffer is sent when
the unit ends, or before work over a whole keyspace that must see it: one write per database,
every record stamped in one pass (`stamped_together`), so no other write of this proxy is
stamped between two of them. A key written twice is sent once, with its last record. Each
batch names the requests whose records it carries: if it misses its quorum, those requests
fail with its error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from leaderless.proxy.commands.spec import Records
from leaderless.replication.hlc import Timestamp
from leaderless.replication.record import Record


@dataclass(frozen=True, slots=True)
class Batch:
    """One database's buffered records, to be written as one, and the unit's requests (by
    their position in the unit) that wrote them."""

    db: int
    records: list[tuple[bytes, Record]]
    writers: frozenset[int]


class WriteBuffer:
    def __init__(self) -> None:
        self._records: dict[int, dict[bytes, Record]] = {}
        self._writers: dict[int, set[int]] = {}

    def put(self, writer: int, db: int, records: Iterable[tuple[bytes, Record]]) -> None:
        """Keep request `writer`'s records for database `db`; each replaces what the unit
        wrote to its key before."""
        self._records.setdefault(db, {}).update(records)
        self._writers.setdefault(db, set()).add(writer)

    def unread(self, db: int, keys: Sequence[bytes]) -> list[bytes]:
        """The keys the replicas must be asked for: those the unit has not written."""
        buffered = self._records.get(db, {})
        return [key for key in keys if key not in buffered]

    def records(self, db: int, keys: Sequence[bytes], read: Records) -> Records:
        """Each key's record: the unit's own if it wrote the key, else what the replicas
        answered (`read`, for the keys `unread` gave, in its order)."""
        buffered = self._records.get(db, {})
        found = dict(zip(self.unread(db, keys), read, strict=True))
        return [buffered[key] if key in buffered else found[key] for key in keys]

    def take(self, stamp: Callable[[], Timestamp]) -> list[Batch]:
        """Everything buffered, stamped together, one batch per database; the buffer is left
        empty."""
        batches = [
            Batch(db, stamped_together(stamp, records.items()), frozenset(self._writers[db]))
            for db, records in self._records.items()
        ]
        self._records, self._writers = {}, {}
        return batches


def stamped_together(
    stamp: Callable[[], Timestamp], records: Iterable[tuple[bytes, Record]]
) -> list[tuple[bytes, Record]]:
    """The records with consecutive timestamps from one stamping, in order: nothing else this
    proxy writes is stamped between them. Until then each carries the timestamp it was made
    with, which only orders the unit's own records."""
    return [(key, record._replace(ts=stamp())) for key, record in records]
