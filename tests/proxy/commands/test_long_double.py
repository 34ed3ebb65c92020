"""INCRBYFLOAT's long double arithmetic, without a server: parsing as strtold and Redis's
checks do, rounding to the 64-bit significand, and "%.17Lf" less its trailing zeros. The
digits themselves are checked against the reference in tests/integration/test_compat_counters.py."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from leaderless.proxy.commands.long_double import (
    Infinite,
    add,
    format_human,
    parse,
    round_to_long_double,
)


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b" 1",
        b"1 ",
        b"abc",
        b"nan",
        b"-NaN",
        b"1e5000",
        b"1e-5000",
        b"0x",
        b"1.2.3",
        b"1" * 5120,
    ],
)
def test_what_is_not_a_long_double(text: bytes) -> None:
    assert parse(text) is None


def test_infinity_parses_but_no_sum_may_produce_it() -> None:
    assert isinstance(parse(b"-Infinity"), Infinite)
    infinite = parse(b"inf")
    assert infinite is not None
    assert add(Fraction(1), infinite) is None
    huge = parse(b"1e4932")
    assert huge is not None and add(huge, huge) is None


def test_hexadecimal_and_exponents() -> None:
    assert parse(b"0x10") == 16
    assert parse(b"0x1p-2") == Fraction(1, 4)
    assert parse(b"-.5e1") == -5


def test_rounding_is_to_the_64_bit_significand() -> None:
    assert round_to_long_double(Fraction(2**64 + 1)) == 2**64
    assert round_to_long_double(Fraction(2**64 + 3)) == 2**64 + 4  # ties to even
    assert round_to_long_double(Fraction(2**63 + 1)) == 2**63 + 1


def test_formatting_as_redis_writes_it() -> None:
    sum_ = add(parse(b"1000") or Fraction(0), parse(b"0.1") or Fraction(0))
    assert sum_ is not None and format_human(sum_) == b"1000.09999999999999998"
    assert format_human(Fraction(-1, 10**20)) == b"0"
    assert format_human(Fraction(3)) == b"3"
    assert format_human(Fraction(-5, 2)) == b"-2.5"


@given(st.integers(-(10**18) + 1, 10**18 - 1))
def test_short_decimals_come_back_as_typed(digits: int) -> None:
    """A number below 10 with 17 places (18 significant digits) survives the round trip, which
    is why Redis formats with 17 places: 10^18 < 2^63."""
    text = format_human(Fraction(digits, 10**17)).decode()
    parsed = parse(text.encode())
    assert parsed is not None and format_human(parsed).decode() == text
