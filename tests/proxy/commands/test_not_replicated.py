"""The commands not replicated yet: refused by name and reason, where an unknown command
would be, and absent from the command table."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.not_replicated import NOT_REPLICATED
from leaderless.proxy.commands.table import COMMAND_TABLE, lookup
from leaderless.proxy.resp import ErrorReply


def test_no_served_command_is_refused() -> None:
    assert not set(NOT_REPLICATED) & set(COMMAND_TABLE)


@pytest.mark.parametrize(
    ("request_", "reply"),
    [
        (
            [b"HSET", b"h", b"f", b"v"],
            "ERR 'hset' is not replicated by leaderless yet: hashes are not supported, only"
            " strings; see README",
        ),
        (
            [b"subscribe", b"channel"],
            "ERR 'subscribe' is not replicated by leaderless yet: publish/subscribe is not"
            " supported; see README",
        ),
        (
            [b"SetBit", b"k", b"7", b"1"],
            "ERR 'setbit' is not replicated by leaderless yet: bit operations on string values"
            " are not supported; see README",
        ),
        (
            [b"xadd"],
            "ERR 'xadd' is not replicated by leaderless yet: streams are not supported, only"
            " strings; see README",
        ),
    ],
)
def test_lookup_refuses_a_command_not_replicated_with_its_reason(
    request_: list[bytes], reply: str
) -> None:
    assert lookup(request_) == ErrorReply(reply)


def test_an_unknown_command_is_still_unknown() -> None:
    assert lookup([b"hsetx", b"a"]) == ErrorReply(
        "ERR unknown command 'hsetx', with args beginning with: 'a' "
    )
