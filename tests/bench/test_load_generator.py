"""Choosing the SET/GET load generator, and the load each one is told to send."""

from __future__ import annotations

import pytest
from leaderless.bench.load_generator import (
    REDIS_BENCHMARK_HINT,
    RESP_BENCHMARK_HINT,
    Load,
    LoadGeneratorMissing,
    Runner,
    choose,
    resp_benchmark_command,
)
from leaderless.bench.report import Measurement


def _runner(port: int, load: Load) -> Measurement:
    return Measurement(load.requests, 1.0, None, 1.0)


def test_the_wanted_one_is_used_when_installed_without_a_note() -> None:
    notes: list[str] = []
    available: dict[str, Runner | None] = {"resp-benchmark": _runner, "redis-benchmark": _runner}
    assert choose("redis-benchmark", available, notes.append).name == "redis-benchmark"  # type: ignore[arg-type]
    assert notes == []


@pytest.mark.parametrize(
    ("wanted", "other", "hint"),
    [
        ("resp-benchmark", "redis-benchmark", RESP_BENCHMARK_HINT),
        ("redis-benchmark", "resp-benchmark", REDIS_BENCHMARK_HINT),
    ],
)
def test_a_missing_one_gives_way_to_the_other_with_a_note(
    wanted: str, other: str, hint: str
) -> None:
    notes: list[str] = []
    available = {wanted: None, other: _runner}
    chosen = choose(wanted, available, notes.append)  # type: ignore[arg-type]
    assert chosen.name == other and chosen.run is _runner
    assert notes == [f"{hint}: using {other} instead"]


def test_with_neither_the_error_says_how_to_install_both() -> None:
    available = {"resp-benchmark": None, "redis-benchmark": None}
    with pytest.raises(LoadGeneratorMissing) as missing:
        choose("resp-benchmark", available, print)  # type: ignore[arg-type]
    assert "pip install resp-benchmark" in str(missing.value)
    assert "apt-get install redis-tools" in str(missing.value)


def test_resp_benchmark_sends_what_redis_benchmark_does() -> None:
    assert resp_benchmark_command("set") == "SET {key uniform 100000} {value 3}"
    assert resp_benchmark_command("get") == "GET {key uniform 100000}"
