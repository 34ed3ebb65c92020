"""The hint ledger: the hint window, the size limit, and what is pending (pure)."""

from __future__ import annotations

from leaderless.replication.hints import HINT_OVERHEAD, Admission, HintLedger, hint_size

HOUR_MS = 3_600_000


def test_hints_are_admitted_and_counted_per_replica() -> None:
    ledger = HintLedger(window_ms=HOUR_MS, max_bytes=10_000)
    assert ledger.admit("a", 2, 100, now_ms=1_000) is Admission.ADMITTED
    assert ledger.admit("b", 1, 50, now_ms=2_000) is Admission.ADMITTED
    assert ledger.admit("a", 1, 50, now_ms=3_000) is Admission.ADMITTED
    a = ledger.pending("a")
    assert (a.count, a.bytes, a.oldest_ms) == (3, 150, 1_000)
    stats = ledger.stats
    assert (stats.stored, stats.pending, stats.pending_bytes, stats.dropped) == (4, 4, 200, 0)


def test_no_more_hints_once_the_oldest_is_older_than_the_window() -> None:
    ledger = HintLedger(window_ms=HOUR_MS, max_bytes=10_000)
    assert ledger.admit("a", 1, 10, now_ms=0) is Admission.ADMITTED
    assert ledger.admit("a", 1, 10, now_ms=HOUR_MS) is Admission.ADMITTED
    assert ledger.admit("a", 3, 30, now_ms=HOUR_MS + 1) is Admission.WINDOW_PASSED
    assert ledger.admit("b", 1, 10, now_ms=HOUR_MS + 1) is Admission.ADMITTED  # its own window
    assert ledger.stats.dropped == 3
    assert ledger.pending("a").count == 2


def test_the_window_starts_again_once_everything_is_replayed() -> None:
    ledger = HintLedger(window_ms=HOUR_MS, max_bytes=10_000)
    ledger.admit("a", 2, 20, now_ms=0)
    ledger.replayed("a", 2, 20, oldest_ms=None, now_ms=2 * HOUR_MS)
    assert ledger.pending("a").oldest_ms is None
    assert ledger.admit("a", 1, 10, now_ms=2 * HOUR_MS) is Admission.ADMITTED
    assert ledger.pending("a").oldest_ms == 2 * HOUR_MS
    assert (ledger.stats.replayed, ledger.stats.pending) == (2, 1)


def test_a_partial_replay_moves_the_start_of_the_outage_to_the_oldest_left() -> None:
    ledger = HintLedger(window_ms=HOUR_MS, max_bytes=10_000)
    ledger.admit("a", 1, 10, now_ms=0)
    ledger.admit("a", 1, 10, now_ms=500)
    ledger.replayed("a", 1, 10, oldest_ms=500, now_ms=600)
    assert ledger.pending("a").oldest_ms == 500
    ledger.replayed("a", 0, 0, oldest_ms=None, now_ms=700)  # the one left is still queued
    assert ledger.pending("a").oldest_ms == 700


def test_a_hint_past_the_size_limit_is_refused_not_an_older_one() -> None:
    ledger = HintLedger(window_ms=HOUR_MS, max_bytes=100)
    assert ledger.admit("a", 1, 60, now_ms=0) is Admission.ADMITTED
    assert ledger.admit("b", 1, 41, now_ms=0) is Admission.FULL
    assert ledger.admit("b", 1, 40, now_ms=0) is Admission.ADMITTED
    assert (ledger.stats.pending_bytes, ledger.stats.dropped) == (100, 1)
    ledger.replayed("a", 1, 60, oldest_ms=None, now_ms=1)
    assert ledger.admit("b", 1, 41, now_ms=1) is Admission.ADMITTED


def test_hints_restored_from_the_store_keep_their_window() -> None:
    ledger = HintLedger(window_ms=HOUR_MS, max_bytes=10_000)
    ledger.restore("a", 5, 500, oldest_ms=0)
    assert (ledger.stats.pending, ledger.stats.pending_bytes, ledger.stats.stored) == (5, 500, 0)
    assert ledger.admit("a", 1, 10, now_ms=HOUR_MS + 1) is Admission.WINDOW_PASSED


def test_a_hint_costs_its_key_and_record_and_a_fixed_overhead() -> None:
    assert hint_size(b"key", b"record") == 3 + 6 + HINT_OVERHEAD
