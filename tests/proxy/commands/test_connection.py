"""AUTH's credential rule, HELLO's parsing, and the error texts built from client bytes."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.args import unknown_command_error, unknown_subcommand_error
from leaderless.proxy.commands.connection import (
    AUTH_WITHOUT_PASSWORD,
    BAD_CLIENT_NAME,
    WRONGPASS,
    Hello,
    check_credentials,
)
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.proxy.resp import ErrorReply

USERS = {b"alice": b"pw-a", b"bob": b"pw-b"}


@pytest.mark.parametrize(
    ("username", "password", "requirepass", "users", "expected"),
    [
        (None, b"x", None, {}, AUTH_WITHOUT_PASSWORD),
        (b"default", b"x", None, {}, None),
        (b"alice", b"x", None, {}, WRONGPASS),
        (None, b"s3", b"s3", {}, None),
        (None, b"no", b"s3", {}, WRONGPASS),
        (b"alice", b"pw-a", None, USERS, None),
        (b"alice", b"pw-b", None, USERS, WRONGPASS),
        (b"default", b"anything", None, USERS, WRONGPASS),  # only users: default is disabled
        (b"default", b"s3", b"s3", USERS, None),
    ],
)
def test_check_credentials(
    username: bytes | None,
    password: bytes,
    requirepass: bytes | None,
    users: dict[bytes, bytes],
    expected: object,
) -> None:
    assert check_credentials(username, password, requirepass, users) == expected


def hello(line: str) -> object:
    parse = COMMAND_TABLE["hello"].parse
    assert parse is not None
    return parse([word.encode() for word in line.split(" ")])


def test_hello_checks_every_option_before_applying_any() -> None:
    assert hello("hello 2 auth u p setname n") == Hello(2, (b"u", b"p"), b"n")
    assert hello("hello 3 auth u p auth v q") == Hello(3, (b"v", b"q"), None)
    assert hello("hello 2 auth u p bogus") == ErrorReply("ERR Syntax error in HELLO option 'bogus'")
    assert hello("hello 3 auth u p setname a\x01") == BAD_CLIENT_NAME


def test_unknown_command_listing_is_cut_at_128_bytes() -> None:
    def listing(args: list[bytes]) -> str:
        return unknown_command_error(args).split(": ", 1)[1]

    assert unknown_command_error([b"x" * 200]).startswith(f"ERR unknown command '{'x' * 128}',")
    assert listing([b"foo", b"a" * 200, b"b"]) == f"'{'a' * 128}' "
    assert listing([b"foo", b"a" * 100, b"b" * 100, b"c"]) == f"'{'a' * 100}' '{'b' * 25}' "
    assert listing([b"foo", *[b"ab"] * 60]) == "'ab' " * 26


def test_error_texts_stop_at_nul_and_blank_out_newlines() -> None:
    assert unknown_command_error([b"f\x00oo", b"a\r\nb", b"c\x00d"]) == ErrorReply(
        "ERR unknown command 'f', with args beginning with: 'a  b' 'c' "
    )
    reply = unknown_command_error([b"caf\xc3\xa9", b"\xff\xfe"])
    assert reply.encode("utf-8", "surrogateescape") == (
        b"ERR unknown command 'caf\xc3\xa9', with args beginning with: '\xff\xfe' "
    )
    assert unknown_subcommand_error([b"client", b"fo\r\no"]) == ErrorReply(
        "ERR unknown subcommand 'fo  o'. Try CLIENT HELP."
    )
