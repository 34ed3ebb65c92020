"""What a round says of itself: the summary `--once` prints and the progress line, both with
the keys scanned and their rate."""

from __future__ import annotations

from leaderless.replication.anti_entropy import Progress, RoundReport


def test_the_summary_gives_the_keys_scanned_and_their_rate() -> None:
    report = RoundReport(replicas=3, replicas_up=3, bytes_read=[2_000_000, 0, 0], seconds=10.0)
    report.keys_scanned, report.keys_compared, report.keys_repaired = 1_000_000, 15_000, 1_000
    report.converged = True
    assert report.summary() == (
        "anti-entropy round: converged: 3/3 replicas, ranges compared 0, ranges differing 0, "
        "keys scanned 1000000 (100000/s), keys compared 15000, keys repaired 1000, "
        "MB read per replica 2.00/0.00/0.00, 10.00 s"
    )


def test_no_rate_is_shown_before_any_key_was_scanned() -> None:
    assert "keys scanned 0, " in RoundReport(seconds=1.0).summary()
    assert Progress(0, 4, 0.0, RoundReport()).line() == (
        "anti-entropy: 0/4 differing segments done, 0 keys scanned, 0 keys compared, 0 repaired"
    )


def test_the_progress_line_gives_the_rate_so_far() -> None:
    report = RoundReport(keys_scanned=250_000, keys_compared=3_000, keys_repaired=200)
    assert Progress(10, 40, 2.5, report).line() == (
        "anti-entropy: 10/40 differing segments done, 250000 (100000/s) keys scanned, "
        "3000 keys compared, 200 repaired"
    )
