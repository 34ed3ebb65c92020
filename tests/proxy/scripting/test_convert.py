"""The reply <-> Lua rules on their own, over plain dicts standing for Lua tables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from leaderless.proxy.resp import NULL_ARRAY, ErrorReply, SetReply, SimpleString, Verbatim
from leaderless.proxy.scripting.convert import (
    LLONG_MIN,
    error_text,
    from_lua,
    integer,
    to_lua,
)


class Table(dict[object, object]):
    """A Lua table: a dict whose missing keys read as nil."""


class FakeLua:
    def table(self, items: Mapping[object, object]) -> object:
        return Table({k: v for k, v in items.items() if v is not None})

    def is_table(self, value: object) -> bool:
        return isinstance(value, Table)

    def get(self, table: object, key: object) -> object:
        assert isinstance(table, Table)
        return table.get(key)

    def pairs(self, table: object) -> Iterator[tuple[object, object]]:
        assert isinstance(table, Table)
        return iter(list(table.items()))


LUA = FakeLua()


@pytest.mark.parametrize(
    ("reply", "resp2", "resp3"),
    [
        (b"v", b"v", b"v"),
        (7, 7, 7),
        (None, False, None),
        (NULL_ARRAY, False, None),
        (True, 1, True),
        (False, 0, False),
        (1.5, b"1.5", Table({b"double": 1.5})),
        (SimpleString("OK"), Table({b"ok": b"OK"}), Table({b"ok": b"OK"})),
        (ErrorReply("ERR x"), Table({b"err": b"ERR x"}), Table({b"err": b"ERR x"})),
        (
            [b"a", None, 3],
            Table({1: b"a", 2: False, 3: 3}),
            Table({1: b"a", 3: 3}),
        ),
        (
            {b"f": 1},
            Table({1: b"f", 2: 1}),
            Table({b"map": Table({b"f": 1})}),
        ),
        (
            SetReply((b"m",)),
            Table({1: b"m"}),
            Table({b"set": Table({b"m": True})}),
        ),
        (
            Verbatim("txt", b"hi"),
            b"hi",
            Table({b"verbatim_string": Table({b"format": b"txt", b"string": b"hi"})}),
        ),
    ],
)
def test_a_reply_reaches_the_script_as_its_protocol_carries_it(
    reply: object, resp2: object, resp3: object
) -> None:
    assert to_lua(LUA, reply, 2) == resp2
    assert to_lua(LUA, reply, 3) == resp3


@pytest.mark.parametrize(
    ("value", "resp2", "resp3"),
    [
        (b"s", b"s", b"s"),
        (3.99, 3, 3),
        (-3.7, -3, -3),
        (1e20, LLONG_MIN, LLONG_MIN),
        (True, 1, True),
        (False, None, False),
        (None, None, None),
        (Table({b"err": b"My Error"}), ErrorReply("My Error"), ErrorReply("My Error")),
        (Table({b"ok": b"fine"}), SimpleString("fine"), SimpleString("fine")),
        (Table({b"err": 5}), [], []),
        (Table({b"double": 3.5}), 3.5, 3.5),
        (Table({1: 1, 2: 2, 3: 3, 5: 4}), [1, 2, 3], [1, 2, 3]),
        (Table({1: Table({1: b"x"}), 2: False}), [[b"x"], None], [[b"x"], False]),
        (Table({b"map": Table({b"a": 1})}), {b"a": 1}, {b"a": 1}),
        (Table({b"set": Table({b"a": True})}), SetReply((b"a",)), SetReply((b"a",))),
        (
            Table({b"verbatim_string": Table({b"format": b"txt", b"string": b"hi"})}),
            Verbatim("txt", b"hi"),
            Verbatim("txt", b"hi"),
        ),
    ],
)
def test_a_script_result_becomes_a_reply(value: object, resp2: object, resp3: object) -> None:
    assert from_lua(LUA, value, 2) == resp2
    assert from_lua(LUA, value, 3) == resp3


@pytest.mark.parametrize(
    ("raised", "kept"),
    [
        (b"-ERR value is not an integer", b"ERR value is not an integer"),
        (b"-WRONGTYPE Operation", b"WRONGTYPE Operation"),
        (b"-x", b"ERR x"),
        (b"-My Error", b"My Error"),
        (b"-", b"ERR "),
        (b"plain text", b"ERR plain text"),
        (b"-ERR trailing\r\n", b"ERR trailing"),
    ],
)
def test_error_texts_take_a_code_as_redis_does(raised: bytes, kept: bytes) -> None:
    assert error_text(raised) == kept


def test_numbers_out_of_range_cast_as_on_x86() -> None:
    assert integer(float("nan")) == LLONG_MIN
    assert integer(-1e30) == LLONG_MIN
    assert integer(2.0**62) == 2**62
