"""Where hints live: one SQLite file per proxy, `hints.sqlite3` in the hints folder.

Why SQLite: the hints must survive a proxy restart (or kill -9), be appended fast, be read back
oldest first per replica, and be deleted once replayed, with the file never corrupt after a
crash. SQLite (the standard library's sqlite3) gives all of that in one file; in WAL mode with
synchronous=FULL a committed batch is on disk, and a batch of thousands of hints costs one
fsync. The file is locked (fcntl) while a proxy uses it, so two proxies never share hints.
Without a folder the same code runs on an in-memory database: hints then end with the process.

This class is synchronous and not thread-safe: `handoff.py` calls it from one worker thread
only, so the event loop never waits on the disk.

A row is (id, replica, created_ms, db, key, record): `replica` is the replica's address as
configured, so hints find their replica again whatever the order of the nodes after a restart;
`db` the database the write was for; `record` is the encoded record, replayed as it is through
WRITE_IF_NEWER. A file without the `db` column gets it on opening, 0 for the rows it holds.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

FILE_NAME = "hints.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hints (
  id INTEGER PRIMARY KEY,
  replica TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  key BLOB NOT NULL,
  record BLOB NOT NULL,
  db INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS hints_by_replica ON hints (replica, id);
"""

Hint = tuple[str, int, int, bytes, bytes]
"""(replica, created_ms, db, key, record), as stored."""
StoredHint = tuple[int, int, int, bytes, bytes]
"""(id, created_ms, db, key, record), as read back for one replica."""


class HintStoreLocked(OSError):
    """Another process uses this hints folder."""


class HintStore:
    def __init__(self, folder: Path | None) -> None:
        self._lock_file: int | None = None
        if folder is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / FILE_NAME
            self._lock_file = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock_file)
                raise HintStoreLocked(f"hints folder {folder} is in use by another proxy") from None
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(hints)")}
        if "db" not in columns:
            with self._db:
                self._db.execute("ALTER TABLE hints ADD COLUMN db INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        self._db.close()
        if self._lock_file is not None:
            os.close(self._lock_file)

    def summary(self) -> list[tuple[str, int, int, int]]:
        """Per replica: (replica, hints, bytes of key and record, oldest created_ms)."""
        rows = self._db.execute(
            "SELECT replica, COUNT(*), SUM(LENGTH(key) + LENGTH(record)), MIN(created_ms)"
            " FROM hints GROUP BY replica"
        )
        return [(replica, count, size, oldest) for replica, count, size, oldest in rows]

    def forget(self, replicas: Iterable[str]) -> None:
        """Delete the hints of these replicas (no longer configured)."""
        with self._db:
            self._db.executemany("DELETE FROM hints WHERE replica = ?", [(r,) for r in replicas])

    def add(self, hints: Sequence[Hint]) -> None:
        """Store a batch in one transaction (one fsync)."""
        with self._db:
            self._db.executemany(
                "INSERT INTO hints (replica, created_ms, db, key, record) VALUES (?, ?, ?, ?, ?)",
                hints,
            )

    def oldest(self, replica: str, limit: int) -> list[StoredHint]:
        rows = self._db.execute(
            "SELECT id, created_ms, db, key, record FROM hints WHERE replica = ?"
            " ORDER BY id LIMIT ?",
            (replica, limit),
        )
        return [
            (id_, created, db, bytes(key), bytes(record)) for id_, created, db, key, record in rows
        ]

    def remove(self, replica: str, up_to_id: int) -> int | None:
        """Delete the replica's hints with ids up to `up_to_id` (replayed); return when its
        oldest hint left (the first by id) was stored, None if none is left."""
        with self._db:
            self._db.execute("DELETE FROM hints WHERE replica = ? AND id <= ?", (replica, up_to_id))
        row = self._db.execute(
            "SELECT created_ms FROM hints WHERE replica = ? ORDER BY id LIMIT 1", (replica,)
        ).fetchone()
        return None if row is None else int(row[0])
