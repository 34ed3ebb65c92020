"""INCRBYFLOAT's arithmetic as Redis does it, in the x86-64 `long double` (80-bit extended).

Redis parses the stored value and the increment with strtold, adds them, and writes the sum
with "%.17Lf" less its trailing zeros. The digits a client sees depend on that format's 64-bit
significand (`INCRBYFLOAT k 1000.1` answers 1000.09999999999999998), so this module computes
with exact fractions rounded to it, and formats them exactly as glibc's printf does.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

_SIGNIFICAND_BITS = 64
_MIN_EXPONENT = -16382
"""The smallest normal binary exponent; below it the significand loses bits (subnormals)."""
_LIMIT = Fraction(2) ** 16384
"""The first magnitude beyond the largest finite value."""
MAX_CHARS = 5 * 1024
"""Redis's MAX_LONG_DOUBLE_CHARS: longer strings are not numbers to it."""
_DECIMAL = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_HEX = re.compile(
    rb"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+))(?:[pP]([+-]?\d+))?"
)
_INFINITY = re.compile(rb"[+-]?inf(?:inity)?", re.IGNORECASE)
_TINY = Fraction(1, 2**20000)
"""Stands for a magnitude too small for any long double: it rounds to zero."""


class Infinite(float):
    """An infinite long double: a valid operand that no sum may produce."""


def parse(text: bytes) -> Fraction | Infinite | None:
    """Redis's string2ld: the long double `text` spells, or None if it is not one (empty, too
    long, spaces, trailing bytes, NaN, or out of range either way)."""
    if not text or len(text) >= MAX_CHARS or text[:1].isspace():
        return None
    if _INFINITY.fullmatch(text):
        return Infinite("-inf" if text.startswith(b"-") else "inf")
    exact = _exact(text)
    if exact is None:
        return None
    rounded = round_to_long_double(exact)
    if rounded is None or (rounded == 0 and exact != 0):
        return None  # strtold's ERANGE: overflow, or underflow to zero
    return rounded


def is_decimal(text: bytes) -> bool:
    """Whether `text` is a decimal number (not hexadecimal, not infinite), or empty."""
    return not text or _DECIMAL.fullmatch(text) is not None


def _exact(text: bytes) -> Fraction | None:
    if _DECIMAL.fullmatch(text):
        number = Decimal(text.decode())
        if number and not -5000 < number.adjusted() < 5000:
            return _TINY if number.adjusted() < 0 else _LIMIT
        return Fraction(number)
    hexadecimal = _HEX.fullmatch(text)
    if hexadecimal is None:
        return None
    sign, digits, exponent = hexadecimal.groups()
    whole, _, fraction = digits.partition(b".")
    power = int(exponent or b"0") - 4 * len(fraction)
    if not -20000 < power < 20000:
        return _TINY if power < 0 else _LIMIT
    value = int((whole + fraction).decode() or "0", 16) * Fraction(2) ** power
    return -value if sign == b"-" else value


def round_to_long_double(exact: Fraction) -> Fraction | None:
    """The long double nearest `exact` (ties to even), or None if it overflows."""
    if exact == 0:
        return Fraction(0)
    magnitude = abs(exact)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1
    step = Fraction(2) ** (max(exponent, _MIN_EXPONENT) - (_SIGNIFICAND_BITS - 1))
    rounded = round(magnitude / step) * step  # round() on a Fraction rounds half to even
    if rounded >= _LIMIT:
        return None
    return rounded if exact > 0 else -rounded


def add(value: Fraction | Infinite, increment: Fraction | Infinite) -> Fraction | None:
    """The long double sum, or None when it is not finite (Redis refuses NaN or Infinity)."""
    if isinstance(value, Infinite) or isinstance(increment, Infinite):
        return None
    return round_to_long_double(value + increment)


def format_human(value: Fraction) -> bytes:
    """ "%.17Lf" without trailing zeros (and "-0" as "0"), as Redis writes a long double."""
    scaled = value * 10**17
    digits = round(scaled)  # printf rounds the exact binary value, ties to even
    sign = "-" if digits < 0 or (digits == 0 and value < 0) else ""
    whole, fraction = divmod(abs(digits), 10**17)
    text = f"{sign}{whole}.{fraction:017d}".rstrip("0").rstrip(".")
    return b"0" if text == "-0" else text.encode()
