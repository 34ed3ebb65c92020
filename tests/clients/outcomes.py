"""What a client suite's run on the reference and its run through the proxy say together.

A suite run gives each test's outcome (`passed`, `failed` or `skipped`). A test that passes on
the reference must pass through the proxy, unless `expectations.toml` lists it with the reason
it cannot yet (a command not served, a deliberate divergence); a listed test that passes through
the proxy is reported so that its entry can be removed. Tests the reference itself fails or
skips say nothing about the proxy and are only counted.
"""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

EXPECTATIONS = Path(__file__).with_name("expectations.toml")

Outcomes = dict[str, str]


def expected_failures(suite: str) -> dict[str, str]:
    """The tests of `suite` that pass on the reference but are known to fail through the proxy,
    each with its reason."""
    table: dict[str, dict[str, str]] = tomllib.loads(EXPECTATIONS.read_text())
    return table.get(suite, {})


def junit_outcomes(report: Path, output: str) -> Outcomes:
    """Each test case's outcome in a JUnit XML report (pytest's, node --test's); a case is named
    by its class (or file) and name. No report means the run failed before its tests: `output`,
    the run's, says why."""
    if not report.exists():
        raise AssertionError(f"the run wrote no report {report}:\n{output[-3000:]}")
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "passed"
        name = f"{case.attrib.get('classname', '')}::{case.attrib['name']}".lstrip(":")
        outcomes[name] = "skipped" if "skipped" in kinds else outcome
    return outcomes


@dataclass(frozen=True)
class Comparison:
    """One suite's two runs, with what the proxy was refused that the reference was not."""

    suite: str
    reference: Outcomes
    proxy: Outcomes
    expected: dict[str, str]
    refused: Counter[str]

    @property
    def passing_on_reference(self) -> list[str]:
        return sorted(name for name, outcome in self.reference.items() if outcome == "passed")

    @property
    def passing_through_proxy(self) -> list[str]:
        return [name for name in self.passing_on_reference if self.proxy.get(name) == "passed"]

    @property
    def unexpected_failures(self) -> list[str]:
        """Tests that pass on the reference, fail through the proxy, and are not listed."""
        return [
            name
            for name in self.passing_on_reference
            if self.proxy.get(name) != "passed" and name not in self.expected
        ]

    @property
    def now_passing(self) -> list[str]:
        """Listed tests that pass through the proxy (or no longer pass on the reference, or no
        longer exist): their entries can go."""
        return sorted(
            name
            for name in self.expected
            if self.proxy.get(name) == "passed" or self.reference.get(name) != "passed"
        )

    def summary(self) -> str:
        refused = ", ".join(f"{kind} x{count}" for kind, count in self.refused.most_common())
        return (
            f"{self.suite}: {len(self.reference)} tests; {len(self.passing_on_reference)} pass "
            f"on the reference, {len(self.passing_through_proxy)} of those through the proxy "
            f"({len(self.expected)} listed as expected failures); refused through the proxy "
            f"only: {refused or 'nothing'}"
        )


def refused_by_proxy_only(reference: Counter[str], proxy: Counter[str]) -> Counter[str]:
    """The errors the proxy answered that the reference never did, with their counts."""
    return Counter({kind: count for kind, count in proxy.items() if kind not in reference})
