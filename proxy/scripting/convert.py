"""Replies to Lua values and back, by Redis 7's rules (script_lua.c).

A command's reply reaches the script as the protocol the script chose with redis.setresp (2 by
default) would carry it: in RESP2 a null is false, a status is {ok=...}, an error {err=...}, a
map a flat array, a double its text, a boolean 1 or 0; RESP3 keeps nulls as nil, booleans, and
wraps maps, sets, doubles and verbatim strings in tables named after their type.

What a script returns becomes a reply: a number is truncated to an integer, true is 1 and false
a null (booleans in RESP3), an array ends at its first nil, and a table with a field err, ok,
double, map, set, big_number or verbatim_string is that kind of reply.

Lua tables are made and read through the `Lua` interface, so these rules are tested without a
Lua VM's quirks in the way, and the VM module owns the only runtime.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from leaderless.proxy.resp import NULL_ARRAY, ErrorReply, SetReply, SimpleString, Verbatim

LLONG_MIN = -(2**63)
LLONG_MAX = 2**63 - 1


class Lua(Protocol):
    """What the conversions need of a Lua VM."""

    def table(self, items: Mapping[object, object]) -> object:
        """A new table with these entries."""

    def is_table(self, value: object) -> bool: ...

    def get(self, table: object, key: object) -> object:
        """`table[key]`, nil as None."""

    def pairs(self, table: object) -> Iterator[tuple[object, object]]: ...


def error_text(text: bytes) -> bytes:
    """An error as Redis keeps it for a script: a leading `-CODE` is the code, else the code is
    ERR; CR and LF at either end are dropped (luaPushErrorBuff)."""
    if text.startswith(b"-"):
        code, space, message = text[1:].partition(b" ")
        if not space:
            code, message = b"ERR", text[1:]
    else:
        code, message = b"ERR", text
    return code + b" " + message.strip(b"\r\n")


def to_lua(lua: Lua, reply: object, protocol: int) -> object:
    """A command's reply as the script sees it."""
    if isinstance(reply, bytes):
        return reply
    if isinstance(reply, SimpleString):
        return lua.table({b"ok": reply.encode("utf-8", "surrogateescape")})
    if isinstance(reply, ErrorReply):
        return lua.table({b"err": reply.encode("utf-8", "surrogateescape")})
    if isinstance(reply, bool):
        return reply if protocol == 3 else int(reply)
    if isinstance(reply, int):
        return reply
    if isinstance(reply, str):
        return reply.encode()
    if reply is None or reply is NULL_ARRAY:
        return None if protocol == 3 else False
    if isinstance(reply, float):
        if protocol == 3:
            return lua.table({b"double": reply})
        return b"%.17g" % reply
    if isinstance(reply, Verbatim):
        if protocol == 3:
            verbatim = lua.table({b"format": reply.fmt.encode(), b"string": reply.text})
            return lua.table({b"verbatim_string": verbatim})
        return reply.text
    if isinstance(reply, SetReply):
        if protocol == 3:
            members = {to_lua(lua, item, protocol): True for item in reply}
            return lua.table({b"set": lua.table(members)})
        return _array(lua, reply, protocol)
    if isinstance(reply, dict):
        if protocol == 3:
            entries = {to_lua(lua, k, protocol): to_lua(lua, v, protocol) for k, v in reply.items()}
            return lua.table({b"map": lua.table(entries)})
        return _array(lua, [part for pair in reply.items() for part in pair], protocol)
    if isinstance(reply, list | tuple):
        return _array(lua, reply, protocol)
    raise TypeError(f"no Lua value for a {type(reply).__name__} reply")


def _array(lua: Lua, items: list[object] | tuple[object, ...], protocol: int) -> object:
    return lua.table({index: to_lua(lua, item, protocol) for index, item in enumerate(items, 1)})


def integer(number: float) -> int:
    """A Lua number as Redis casts it to a long long (x86's answer for what is out of range)."""
    if number != number or not LLONG_MIN <= number <= LLONG_MAX:  # NaN or out of range
        return LLONG_MIN
    return int(number)


def from_lua(lua: Lua, value: object, protocol: int) -> object:
    """A script's result as a reply."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        if protocol == 3:
            return value
        return 1 if value else None
    if isinstance(value, int | float):
        return integer(value)
    if value is None or not lua.is_table(value):
        return None
    return _table_reply(lua, value, protocol)


def _table_reply(lua: Lua, table: object, protocol: int) -> object:
    err = lua.get(table, b"err")
    if isinstance(err, bytes):
        return ErrorReply(err.decode("utf-8", "surrogateescape"))
    ok = lua.get(table, b"ok")
    if isinstance(ok, bytes):
        return SimpleString(ok.decode("utf-8", "surrogateescape"))
    double = lua.get(table, b"double")
    if isinstance(double, int | float) and not isinstance(double, bool):
        return float(double)
    big_number = lua.get(table, b"big_number")
    if isinstance(big_number, bytes):
        return big_number
    entries = lua.get(table, b"map")
    if lua.is_table(entries):
        return {
            from_lua(lua, k, protocol): from_lua(lua, v, protocol) for k, v in lua.pairs(entries)
        }
    members = lua.get(table, b"set")
    if lua.is_table(members):
        return SetReply(from_lua(lua, k, protocol) for k, _ in lua.pairs(members))
    verbatim = lua.get(table, b"verbatim_string")
    if lua.is_table(verbatim):
        fmt, text = lua.get(verbatim, b"format"), lua.get(verbatim, b"string")
        if isinstance(fmt, bytes) and isinstance(text, bytes):
            return Verbatim(fmt.decode("latin-1"), text)
    return list(_items(lua, table, protocol))


def _items(lua: Lua, table: object, protocol: int) -> Iterator[object]:
    """t[1], t[2], ... up to the first nil, as replies."""
    index = 1
    while (item := lua.get(table, index)) is not None:
        yield from_lua(lua, item, protocol)
        index += 1
