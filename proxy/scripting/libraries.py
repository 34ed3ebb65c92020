"""The C libraries Redis adds to its Lua, written here in Python: bit (LuaBitOp) and cjson
(cmsgpack is in msgpack.py).

Each is a dict of functions that sandbox.lua wraps: a function answers (True, result) or
(False, message) for the error to raise, so a failure is a Lua error with Redis's text and
never a Python exception crossing into Lua; a function that answers several values (cmsgpack's
unpack) answers their table and their count after True. struct is not provided.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol


class Tables(Protocol):
    def table(self, items: Mapping[object, object]) -> object: ...

    def is_table(self, value: object) -> bool: ...

    def pairs(self, table: object) -> Iterator[tuple[object, object]]: ...


Result = tuple[bool, object]


def _int32(number: float) -> int:
    """LuaBitOp's tobit: round to an integer (half to even), keep the low 32 bits, signed."""
    value = round(number) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _number(value: object) -> float | None:
    """A Lua number argument as luaL_checknumber takes it (a numeric string too), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, bytes):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _lua_type_name(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    return "string" if isinstance(value, bytes) else "table"


def _checked(name: str, required: int, operation: Callable[..., int]) -> Callable[..., Result]:
    """A bit operation on int32s, its first `required` arguments checked as LuaBitOp does."""

    def run(*args: object) -> Result:
        numbers = []
        for index in range(max(required, len(args))):
            value = _number(args[index]) if index < len(args) else None
            if value is None:
                got = _lua_type_name(args[index]) if index < len(args) else "no value"
                return (
                    False,
                    f"bad argument #{index + 1} to '{name}' (number expected, got {got})".encode(),
                )
            numbers.append(value)
        return True, _int32(operation(*(_int32(number) for number in numbers)))

    return run


def _fold(combine: Callable[[int, int], int]) -> Callable[..., int]:
    def fold(first: int, *rest: int) -> int:
        for value in rest:
            first = combine(first, value)
        return first

    return fold


def _rotate_left(value: int, count: int) -> int:
    value &= 0xFFFFFFFF
    count &= 31
    return (value << count) | (value >> (32 - count))


def _tohex(*args: object) -> Result:
    value = _number(args[0]) if args else None
    if value is None:
        got = _lua_type_name(args[0]) if args else "no value"
        return False, f"bad argument #1 to 'tohex' (number expected, got {got})".encode()
    digits = _number(args[1]) if len(args) > 1 else 8
    count = _int32(8 if digits is None else digits)
    upper = count < 0
    count = min(abs(count), 8)
    text = f"{_int32(value) & 0xFFFFFFFF:0{count}x}"[-count:] if count else ""
    return True, (text.upper() if upper else text).encode()


def bit() -> dict[object, object]:
    operations: dict[str, tuple[int, Callable[..., int]]] = {
        "tobit": (1, lambda x: x),
        "bnot": (1, lambda x: ~x),
        "band": (1, _fold(lambda a, b: a & b)),
        "bor": (1, _fold(lambda a, b: a | b)),
        "bxor": (1, _fold(lambda a, b: a ^ b)),
        "lshift": (2, lambda x, n: x << (n & 31)),
        "rshift": (2, lambda x, n: (x & 0xFFFFFFFF) >> (n & 31)),
        "arshift": (2, lambda x, n: x >> (n & 31)),
        "rol": (2, _rotate_left),
        "ror": (2, lambda x, n: _rotate_left(x, -n)),
        "bswap": (1, lambda x: int.from_bytes((x & 0xFFFFFFFF).to_bytes(4, "little"), "big")),
    }
    library: dict[object, object] = {
        name.encode(): _checked(name, required, operation)
        for name, (required, operation) in operations.items()
    }
    library[b"tohex"] = _tohex
    return library


# -- cjson ----------------------------------------------------------------------------------

_ESCAPES = {ord('"'): b'\\"', ord("\\"): b"\\\\", ord("/"): b"\\/", 8: b"\\b", 12: b"\\f"}
_ESCAPES.update({10: b"\\n", 13: b"\\r", 9: b"\\t"})


def _json_string(text: bytes) -> bytes:
    out = bytearray(b'"')
    for byte in text:
        escaped = _ESCAPES.get(byte)
        if escaped is not None:
            out += escaped
        elif byte < 0x20 or byte == 0x7F:
            out += b"\\u%04x" % byte
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)


class _Unserialisable(Exception):
    pass


def _json_number(number: float) -> bytes:
    if math.isnan(number) or math.isinf(number):
        raise _Unserialisable("Cannot serialise number: must not be NaN or Inf")
    return b"%.14g" % number


class Cjson:
    """cjson.encode and cjson.decode over one VM's tables; `null` is cjson.null."""

    def __init__(self, tables: Tables, null: object, same: Callable[[object, object], bool]):
        self._tables = tables
        self.null = null
        self._same = same

    def functions(self) -> dict[object, object]:
        return {b"encode": self.encode, b"decode": self.decode, b"null": self.null}

    def encode(self, *args: object) -> Result:
        if len(args) != 1:
            return False, b"bad argument #1 to 'encode' (expected 1 argument)"
        try:
            return True, self._encode(args[0], 0)
        except _Unserialisable as failure:
            return False, f"Cannot serialise {failure}".encode()

    def _encode(self, value: object, depth: int) -> bytes:
        if value is None or self._same(value, self.null):
            return b"null"
        if isinstance(value, bool):
            return b"true" if value else b"false"
        if isinstance(value, int | float):
            return _json_number(value)
        if isinstance(value, bytes):
            return _json_string(value)
        if not self._tables.is_table(value):
            raise _Unserialisable(f"{_lua_type(value)}: type not supported")
        if depth >= 1000:
            raise _Unserialisable("table: excessive nesting")
        entries = list(self._tables.pairs(value))
        length = _array_length(entries)
        if length is not None and entries:
            by_index = dict(entries)
            items = [self._encode(by_index.get(i), depth + 1) for i in range(1, length + 1)]
            return b"[" + b",".join(items) + b"]"
        fields = []
        for key, item in entries:
            if isinstance(key, bytes):
                name = key
            elif isinstance(key, int | float) and not isinstance(key, bool):
                name = _json_number(key)
            else:
                raise _Unserialisable("table key must be a number or string")
            fields.append(_json_string(name) + b":" + self._encode(item, depth + 1))
        return b"{" + b",".join(fields) + b"}"

    def decode(self, *args: object) -> Result:
        if len(args) != 1 or not isinstance(args[0], bytes | int | float):
            return False, b"bad argument #1 to 'decode' (string expected)"
        text = args[0] if isinstance(args[0], bytes) else b"%.14g" % args[0]
        try:
            parsed = json.loads(text.decode("utf-8", "surrogateescape"))
        except json.JSONDecodeError as failure:
            return False, b"Expected value but found invalid token at character %d" % (
                failure.pos + 1
            )
        return True, self._to_lua(parsed)

    def _to_lua(self, value: object) -> object:
        if value is None:
            return self.null
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, list):
            return self._tables.table({i: self._to_lua(v) for i, v in enumerate(value, 1)})
        if isinstance(value, dict):
            return self._tables.table(
                {k.encode("utf-8", "surrogateescape"): self._to_lua(v) for k, v in value.items()}
            )
        return value


def _array_length(entries: list[tuple[object, object]]) -> int | None:
    """cjson's rule: a table whose keys are all positive integers is an array up to its largest
    key, unless that is over 10 and more than twice the entries; None for an object."""
    largest = 0
    for key, _ in entries:
        if not isinstance(key, int) or isinstance(key, bool) or key < 1:
            return None
        largest = max(largest, key)
    if largest > 10 and largest > 2 * len(entries):
        raise _Unserialisable("table: excessively sparse array")
    return largest


def _lua_type(value: object) -> str:
    return "function" if callable(value) else "userdata"
