"""The comparison of a suite's two runs, and the parsers of its outcomes, without servers."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

import pytest

from tests.clients.outcomes import (
    EXPECTATIONS,
    Comparison,
    expected_failures,
    junit_outcomes,
    refused_by_proxy_only,
)
from tests.clients.recording_relay import error_kind
from tests.clients.test_django_cache import unittest_outcomes


def comparison(
    reference: dict[str, str], proxy: dict[str, str], expected: dict[str, str]
) -> Comparison:
    return Comparison("suite", reference, proxy, expected, Counter())


def test_a_test_failing_only_through_the_proxy_is_unexpected_unless_listed() -> None:
    reference = {"a": "passed", "b": "passed", "c": "failed", "d": "skipped"}
    proxy = {"a": "passed", "b": "failed", "c": "failed", "d": "failed"}
    assert comparison(reference, proxy, {}).unexpected_failures == ["b"]
    assert comparison(reference, proxy, {"b": "X not served yet"}).unexpected_failures == []


def test_a_test_missing_from_the_proxy_run_counts_as_failing() -> None:
    assert comparison({"a": "passed"}, {}, {}).unexpected_failures == ["a"]


def test_listed_tests_that_pass_through_the_proxy_or_no_longer_apply_are_reported() -> None:
    reference = {"fixed": "passed", "still": "passed", "gone_on_reference": "failed"}
    proxy = {"fixed": "passed", "still": "failed", "gone_on_reference": "failed"}
    listed = {name: "reason" for name in [*reference, "renamed"]}
    assert comparison(reference, proxy, listed).now_passing == [
        "fixed",
        "gone_on_reference",
        "renamed",
    ]


def test_the_summary_counts_both_runs_and_names_what_was_refused() -> None:
    both = Comparison(
        "suite",
        {"a": "passed", "b": "passed", "c": "skipped"},
        {"a": "passed", "b": "failed"},
        {"b": "INCRBY not served yet"},
        Counter({"unknown command 'INCRBY'": 2}),
    )
    assert both.summary() == (
        "suite: 3 tests; 2 pass on the reference, 1 of those through the proxy (1 listed as "
        "expected failures); refused through the proxy only: unknown command 'INCRBY' x2"
    )


def test_only_errors_the_reference_never_answered_count_as_refused() -> None:
    reference = Counter({"WRONGTYPE Operation": 3})
    proxy = Counter({"WRONGTYPE Operation": 3, "unknown command 'KEYS'": 5})
    assert refused_by_proxy_only(reference, proxy) == Counter({"unknown command 'KEYS'": 5})


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "ERR unknown command 'incrby', with args beginning with: 'k' '1' ",
            "unknown command 'INCRBY'",
        ),
        ("ERR unknown subcommand 'nope'. Try CLIENT HELP.", "unknown subcommand 'NOPE'"),
        (
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
    ],
)
def test_error_kinds_drop_what_varies_per_request(text: str, kind: str) -> None:
    assert error_kind(text) == kind


def test_junit_reports_give_each_case_its_outcome(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(
        "<testsuites><testsuite>"
        '<testcase classname="m.C" name="ok"/>'
        '<testcase classname="m.C" name="bad"><failure message="x"/></testcase>'
        '<testcase classname="m.C" name="broken"><error message="x"/></testcase>'
        '<testcase classname="m.C" name="skip"><skipped/></testcase>'
        "</testsuite></testsuites>"
    )
    assert junit_outcomes(report, "") == {
        "m.C::ok": "passed",
        "m.C::bad": "failed",
        "m.C::broken": "failed",
        "m.C::skip": "skipped",
    }


def test_a_run_without_a_report_fails_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="ImportError: no module"):
        junit_outcomes(tmp_path / "none.xml", "ImportError: no module")


def test_verbose_unittest_output_gives_each_test_its_outcome() -> None:
    output = "\n".join(
        [
            "test_add (cache.tests.RedisCacheTests.test_add) ... ok",
            "test_doc (cache.tests.RedisCacheTests.test_doc)",
            "A docstring's first line. ... ok",
            "test_incr (cache.tests.RedisCacheTests.test_incr) ... ERROR",
            "test_cull (cache.tests.RedisCacheTests.test_cull) ... skipped 'no'",
            "test_keys (cache.tests.RedisCacheTests.test_keys) ... ok",
            "=" * 70,
            "ERROR: test_keys (cache.tests.RedisCacheTests.test_keys) (operation='incr')",
        ]
    )
    assert unittest_outcomes(output) == {
        "test_add": "passed",
        "test_doc": "passed",
        "test_incr": "failed",
        "test_cull": "skipped",
        "test_keys": "failed",
    }


def test_every_expectation_gives_a_reason() -> None:
    suites = tomllib.loads(EXPECTATIONS.read_text())
    assert suites, f"{EXPECTATIONS} has no suites"
    for suite in suites:
        assert all(reason.strip() for reason in expected_failures(suite).values()), suite
