"""A library's metadata line, the record of every library, and the DUMP payload."""

from __future__ import annotations

import pytest
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.scripting.functions import BAD_PAYLOAD, decode, dump, encode, parse, undump


@pytest.mark.parametrize(
    ("code", "parsed"),
    [
        (b"#!lua name=lib\nreturn 1", (b"lib", b"\nreturn 1")),
        (b"#!LUA name=lib", (b"lib", b"")),
        (b"#!lua  name=lib\n", (b"lib", b"\n")),
        (b"return 1", ErrorReply("ERR Missing library metadata")),
        (b"#!lua\nreturn 1", ErrorReply("ERR Library name was not given")),
        (b"#!py name=x", ErrorReply("ERR Engine 'py' not found")),
        (b"#!lua name=x foo=bar", ErrorReply("ERR Invalid metadata value given: foo=bar")),
        (
            b"#!lua name=a-b",
            ErrorReply(
                "ERR Library names can only contain letters, numbers, or underscores(_) and "
                "must be at least one character long"
            ),
        ),
    ],
)
def test_the_metadata_line(code: bytes, parsed: object) -> None:
    assert parse(code) == parsed


def test_the_record_holds_every_code_as_it_was() -> None:
    codes = [b"#!lua name=a\n", b"", b"\x00\xff" * 1000]
    assert decode(encode(codes)) == codes
    assert decode(encode([])) == []


def test_a_payload_restores_what_was_dumped_and_nothing_else() -> None:
    codes = [b"#!lua name=a\nredis.register_function('f', function() end)"]
    payload = dump(codes)
    assert undump(payload) == codes
    assert undump(payload[:-1] + bytes([payload[-1] ^ 1])) == BAD_PAYLOAD
    assert undump(b"bogus") == BAD_PAYLOAD
    assert undump(b"") == BAD_PAYLOAD
