"""The hint store: SQLite rows per replica, oldest first, kept across a reopen, one user."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from leaderless.replication.hint_store import FILE_NAME, HintStore, HintStoreLocked


def test_hints_come_back_oldest_first_per_replica_and_go_once_replayed(tmp_path: Path) -> None:
    store = HintStore(tmp_path)
    store.add([("a", 1, 0, b"k1", b"r1"), ("b", 2, 0, b"k2", b"r2"), ("a", 3, 0, b"k3", b"r3")])
    rows = store.oldest("a", 10)
    assert [(created, key, record) for _, created, _, key, record in rows] == [
        (1, b"k1", b"r1"),
        (3, b"k3", b"r3"),
    ]
    assert store.remove("a", rows[0][0]) == 3
    assert store.remove("a", rows[1][0]) is None
    assert store.oldest("a", 10) == []
    assert [key for _, _, _, key, _ in store.oldest("b", 10)] == [b"k2"]
    store.close()


def test_hints_survive_a_reopen_and_unknown_replicas_can_be_forgotten(tmp_path: Path) -> None:
    store = HintStore(tmp_path)
    store.add([("a", 5, 0, b"key", b"record"), ("a", 7, 0, b"k", b"r"), ("gone", 1, 0, b"x", b"y")])
    store.close()
    reopened = HintStore(tmp_path)
    assert sorted(reopened.summary()) == [("a", 2, 11, 5), ("gone", 1, 2, 1)]
    reopened.forget(["gone"])
    assert reopened.summary() == [("a", 2, 11, 5)]
    reopened.close()


def test_a_hints_folder_serves_one_proxy_at_a_time(tmp_path: Path) -> None:
    store = HintStore(tmp_path)
    with pytest.raises(HintStoreLocked, match="in use by another proxy"):
        HintStore(tmp_path)
    store.close()
    HintStore(tmp_path).close()


def test_without_a_folder_hints_live_in_memory() -> None:
    store = HintStore(None)
    store.add([("a", 1, 0, b"k", b"r")])
    assert store.summary() == [("a", 1, 2, 1)]
    store.close()


def test_a_hint_keeps_its_database(tmp_path: Path) -> None:
    store = HintStore(tmp_path)
    store.add([("a", 1, 0, b"k", b"r0"), ("a", 2, 7, b"k", b"r7")])
    assert [(db, key, record) for _, _, db, key, record in store.oldest("a", 10)] == [
        (0, b"k", b"r0"),
        (7, b"k", b"r7"),
    ]
    store.close()


def test_a_file_from_before_databases_gets_them_as_database_0(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / FILE_NAME) as old:
        old.execute(
            "CREATE TABLE hints (id INTEGER PRIMARY KEY, replica TEXT NOT NULL,"
            " created_ms INTEGER NOT NULL, key BLOB NOT NULL, record BLOB NOT NULL)"
        )
        old.execute(
            "INSERT INTO hints (replica, created_ms, key, record) VALUES ('a', 5, ?, ?)",
            (b"k", b"r"),
        )
    old.close()
    store = HintStore(tmp_path)
    store.add([("a", 6, 3, b"k2", b"r2")])
    assert [(db, key) for _, _, db, key, _ in store.oldest("a", 10)] == [(0, b"k"), (3, b"k2")]
    store.close()
