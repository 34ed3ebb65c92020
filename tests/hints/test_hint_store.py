"""The hint store: SQLite rows per replica, oldest first, kept across a reopen, one user."""

from __future__ import annotations

from pathlib import Path

import pytest
from leaderless.replication.hint_store import HintStore, HintStoreLocked


def test_hints_come_back_oldest_first_per_replica_and_go_once_replayed(tmp_path: Path) -> None:
    store = HintStore(tmp_path)
    store.add([("a", 1, b"k1", b"r1"), ("b", 2, b"k2", b"r2"), ("a", 3, b"k3", b"r3")])
    rows = store.oldest("a", 10)
    assert [(created, key, record) for _, created, key, record in rows] == [
        (1, b"k1", b"r1"),
        (3, b"k3", b"r3"),
    ]
    assert store.remove("a", rows[0][0]) == 3
    assert store.remove("a", rows[1][0]) is None
    assert store.oldest("a", 10) == []
    assert [key for _, _, key, _ in store.oldest("b", 10)] == [b"k2"]
    store.close()


def test_hints_survive_a_reopen_and_unknown_replicas_can_be_forgotten(tmp_path: Path) -> None:
    store = HintStore(tmp_path)
    store.add([("a", 5, b"key", b"record"), ("a", 7, b"k", b"r"), ("gone", 1, b"x", b"y")])
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
    store.add([("a", 1, b"k", b"r")])
    assert store.summary() == [("a", 1, 2, 1)]
    store.close()
