"""The C libraries Redis adds to its Lua, written here in Python: bit (LuaBitOp), cjson and
cmsgpack.

Each is a dict of functions that sandbox.lua wraps: a function answers (True, result) or
(False, message) for the error to raise, so a failure is a Lua error with Redis's text and
never a Python exception crossing into Lua; a function that answers several values (cmsgpack's
unpack) answers their table and their count after True. struct is not provided.
"""

from __future__ import annotations

import json
import math
import struct
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


# -- cmsgpack -------------------------------------------------------------------------------

_INT64 = 2**63


class Cmsgpack:
    """cmsgpack.pack and cmsgpack.unpack over one VM's tables, with lua-cmsgpack's choices: a
    number is an integer when it is one, else a float when float32 keeps it, else a double; a
    table whose keys are 1..n is an array, any other a map; nothing else packs but as nil."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    def functions(self) -> dict[object, object]:
        return {b"pack": self.pack, b"unpack": self.unpack}

    def pack(self, *values: object) -> Result:
        if not values:
            return False, b"bad argument #0 to 'pack' (MessagePack pack needs input.)"
        return True, b"".join(self._pack(value, 0) for value in values)

    def _pack(self, value: object, depth: int) -> bytes:
        if isinstance(value, bool):
            return b"\xc3" if value else b"\xc2"
        if isinstance(value, int | float):
            return _pack_number(value)
        if isinstance(value, bytes):
            return _sized(len(value), (0xA0, 32), b"\xd9", b"\xda", b"\xdb") + value
        if value is None or not self._tables.is_table(value) or depth >= 16:
            return b"\xc0"
        entries = list(self._tables.pairs(value))
        keys = [key for key, _ in entries]
        if all(isinstance(k, int) and not isinstance(k, bool) for k in keys) and sorted(
            keys  # type: ignore[type-var]
        ) == list(range(1, len(keys) + 1)):
            by_index = dict(entries)
            items = b"".join(self._pack(by_index[i], depth + 1) for i in range(1, len(keys) + 1))
            return _sized(len(keys), (0x90, 16), None, b"\xdc", b"\xdd") + items
        pairs = b"".join(self._pack(k, depth + 1) + self._pack(v, depth + 1) for k, v in entries)
        return _sized(len(entries), (0x80, 16), None, b"\xde", b"\xdf") + pairs

    def unpack(self, *args: object) -> tuple[bool, object, int] | Result:
        if not args or not isinstance(args[0], bytes):
            return False, b"bad argument #1 to 'unpack' (string expected, got no value)"
        data, offset, values = args[0], 0, []
        try:
            while offset < len(data):
                value, offset = self._unpack(data, offset)
                values.append(value)
        except _BadData as failure:
            return False, str(failure).encode()
        return True, self._tables.table(dict(enumerate(values, 1))), len(values)

    def _unpack(self, data: bytes, offset: int) -> tuple[object, int]:
        kind = _take(data, offset, 1)[0]
        offset += 1
        if kind < 0x80:
            return kind, offset
        if kind >= 0xE0:
            return kind - 0x100, offset
        if 0xA0 <= kind <= 0xBF:
            return _take(data, offset, kind & 0x1F), offset + (kind & 0x1F)
        if 0x90 <= kind <= 0x9F:
            return self._array(data, offset, kind & 0x0F)
        if 0x80 <= kind <= 0x8F:
            return self._map(data, offset, kind & 0x0F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if kind in simple:
            return simple[kind], offset
        if kind in _FIXED:
            fmt = _FIXED[kind]
            size = struct.calcsize(fmt)
            (number,) = struct.unpack(fmt, _take(data, offset, size))
            return number, offset + size
        if kind in _LENGTHS:
            size, then = _LENGTHS[kind]
            (length,) = struct.unpack(">" + " BHI"[size], _take(data, offset, size))
            offset += size
            if then == "string":
                return _take(data, offset, length), offset + length
            return (self._array if then == "array" else self._map)(data, offset, length)
        raise _BadData("Bad data format in input.")

    def _array(self, data: bytes, offset: int, count: int) -> tuple[object, int]:
        items: dict[object, object] = {}
        for index in range(1, count + 1):
            items[index], offset = self._unpack(data, offset)
        return self._tables.table(items), offset

    def _map(self, data: bytes, offset: int, count: int) -> tuple[object, int]:
        entries = {}
        for _ in range(count):
            key, offset = self._unpack(data, offset)
            entries[key], offset = self._unpack(data, offset)
        return self._tables.table({k: v for k, v in entries.items() if k is not None}), offset


class _BadData(Exception):
    pass


_FIXED = {
    0xCA: ">f",
    0xCB: ">d",
    0xCC: ">B",
    0xCD: ">H",
    0xCE: ">I",
    0xCF: ">Q",
    0xD0: ">b",
    0xD1: ">h",
    0xD2: ">i",
    0xD3: ">q",
}
_LENGTHS = {
    0xC4: (1, "string"),
    0xC5: (2, "string"),
    0xC6: (4, "string"),
    0xD9: (1, "string"),
    0xDA: (2, "string"),
    0xDB: (4, "string"),
    0xDC: (2, "array"),
    0xDD: (4, "array"),
    0xDE: (2, "map"),
    0xDF: (4, "map"),
}


def _take(data: bytes, offset: int, count: int) -> bytes:
    if offset + count > len(data):
        raise _BadData("Missing bytes in input.")
    return data[offset : offset + count]


def _sized(
    count: int, fixed: tuple[int, int], byte: bytes | None, short: bytes, long: bytes
) -> bytes:
    """A header for `count` items or bytes: fixed under its limit, then 8, 16 or 32 bits."""
    base, limit = fixed
    if count < limit:
        return bytes([base | count])
    if byte is not None and count <= 0xFF:
        return byte + struct.pack(">B", count)
    if count <= 0xFFFF:
        return short + struct.pack(">H", count)
    return long + struct.pack(">I", count)


def _pack_number(number: float) -> bytes:
    if number == int(number) if math.isfinite(number) else False:
        value = int(number)
        if -_INT64 <= value < _INT64 or 0 <= value < 2 * _INT64:
            return _pack_integer(value)
    if struct.unpack(">f", struct.pack(">f", number))[0] == number or math.isnan(number):
        return b"\xca" + struct.pack(">f", number)
    return b"\xcb" + struct.pack(">d", number)


def _pack_integer(value: int) -> bytes:
    if value >= 0:
        if value < 128:
            return bytes([value])
        for kind, fmt, limit in ((0xCC, ">B", 2**8), (0xCD, ">H", 2**16), (0xCE, ">I", 2**32)):
            if value < limit:
                return bytes([kind]) + struct.pack(fmt, value)
        return b"\xcf" + struct.pack(">Q", value)
    if value >= -32:
        return bytes([value & 0xFF])
    for kind, fmt, limit in ((0xD0, ">b", 2**7), (0xD1, ">h", 2**15), (0xD2, ">i", 2**31)):
        if value >= -limit:
            return bytes([kind]) + struct.pack(fmt, value)
    return b"\xd3" + struct.pack(">q", value)
