"""cmsgpack, the MessagePack library Redis adds to its Lua, written here in Python with
lua-cmsgpack's choices (see `Cmsgpack`). Its functions answer as libraries.py's do."""

from __future__ import annotations

import math
import struct

from leaderless.proxy.scripting.libraries import Result, Tables

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
