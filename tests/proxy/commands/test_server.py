"""TIME's reply, from the proxy's clock."""

from __future__ import annotations

from leaderless.proxy.commands.server import time_reply
from leaderless.proxy.commands.spec import Local
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.proxy.state import Context

from tests.proxy.commands.test_client import proxy_state


def test_time_reply_is_seconds_and_microseconds() -> None:
    assert time_reply(1_700_000_000_123) == [b"1700000000", b"123000"]
    assert time_reply(1_700_000_000_000) == [b"1700000000", b"0"]


def test_time_reads_the_injected_clock() -> None:
    state = proxy_state()
    state.wall_ms = lambda: 42_005
    spec = COMMAND_TABLE["time"]
    assert isinstance(spec.meaning, Local)
    assert spec.meaning.answer(Context(state), [b"TIME"]) == [b"42", b"5000"]
