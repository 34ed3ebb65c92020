"""A script's shebang line: its flags and the code Lua compiles."""

from __future__ import annotations

import pytest
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.scripting.shebang import Declared, declared


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (b"return 1", Declared(None, b"return 1")),
        (b"#!lua\nreturn 1", Declared(frozenset(), b"\nreturn 1")),
        (
            b"#!lua  flags=no-writes,allow-stale\nx",
            Declared(frozenset({b"no-writes", b"allow-stale"}), b"\nx"),
        ),
        (b"#!lua flags=\nx", Declared(frozenset(), b"\nx")),
        (b"#!lua", ErrorReply("ERR Invalid script shebang")),
        (b"#!py\nx", ErrorReply("ERR Could not find scripting engine 'py'")),
        (b"#!lua name=x\nx", ErrorReply("ERR Unknown lua shebang option: name=x")),
        (b"#!lua flags=bogus\nx", ErrorReply("ERR Unexpected flag in script shebang: bogus")),
    ],
)
def test_the_shebang_line(body: bytes, found: object) -> None:
    assert declared(body) == found
