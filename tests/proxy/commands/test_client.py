"""CLIENT's filters (LIST, KILL), which clients they name, and REPLY's switches, without
sockets: the proxy's state holds plain contexts."""

from __future__ import annotations

from typing import cast

import pytest
from leaderless.config.settings import ListenSettings, Settings
from leaderless.proxy.commands.args import SYNTAX_ERROR
from leaderless.proxy.commands.client import NO_TRACKING
from leaderless.proxy.commands.client_filter import (
    BAD_CLIENT_ID,
    BAD_MAXAGE,
    MAXAGE_NOT_POSITIVE,
    ClientFilter,
    matches,
    parse_filters,
)
from leaderless.proxy.commands.client_list import NO_SUCH_CLIENT, client_info_line
from leaderless.proxy.commands.spec import Session
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.proxy.resp import ErrorReply, Verbatim
from leaderless.proxy.state import Context, ProxyState
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.ntp import ClockCheck, OffsetAction

USERS = {b"default", b"alice"}


def words(line: str) -> list[bytes]:
    return [word.encode() for word in line.split()]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("client list", ClientFilter()),
        ("client list id 3 1 3", ClientFilter(ids=frozenset({1, 3}))),
        ("client list id", ClientFilter(ids=frozenset())),
        ("client list type normal id", ClientFilter(ids=frozenset(), kind="normal")),
        ("client list id 1 id 2", ClientFilter(ids=frozenset({1, 2}))),
        ("client list TYPE Replica", ClientFilter(kind="replica")),
        ("client list type slave", ClientFilter(kind="replica")),
        ("client list type primary", ClientFilter(kind="master")),
        ("client list user alice skipme YES", ClientFilter(user=b"alice", skip_me=True)),
        ("client list addr a:1 laddr b:2", ClientFilter(addr=b"a:1", laddr=b"b:2")),
        ("client list maxage 5 skipme no", ClientFilter(max_age_s=5, skip_me=False)),
        ("client list id 0", BAD_CLIENT_ID),
        ("client list id -1", BAD_CLIENT_ID),
        ("client list id 1 x", SYNTAX_ERROR),
        ("client list id 01", SYNTAX_ERROR),
        ("client list type", SYNTAX_ERROR),
        ("client list type foo", ErrorReply("ERR Unknown client type 'foo'")),
        ("client list user bob", ErrorReply("ERR No such user 'bob'")),
        ("client list user bob id 0", ErrorReply("ERR No such user 'bob'")),
        ("client list id 0 user bob", BAD_CLIENT_ID),
        ("client list skipme maybe", SYNTAX_ERROR),
        ("client list maxage x", BAD_MAXAGE),
        ("client list maxage 0", MAXAGE_NOT_POSITIVE),
        ("client list nosuch 1", SYNTAX_ERROR),
    ],
)
def test_parse_filters(line: str, expected: object) -> None:
    assert parse_filters(words(line), 2, USERS) == expected


def proxy_state(**listen: object) -> ProxyState:
    settings = Settings(listen=ListenSettings(**listen))  # type: ignore[arg-type]
    return ProxyState(
        settings=settings,
        coordinator=cast(Coordinator, None),  # these commands never reach the replicas
        proxy_id=1,
        clock_check=ClockCheck(1000, OffsetAction.REFUSE),
        port=6380,
    )


class Client(Context):
    """A context whose transport is a flag: closed now, or after its replies."""

    def __init__(self, state: ProxyState, client_id: int, peer: str) -> None:
        super().__init__(state)
        self.client_id, self.peer = client_id, peer
        self.closed = self.closing = False
        state.clients[client_id] = self

    def close(self) -> None:
        self.closed = True

    def close_after_replies(self) -> None:
        self.closing = True


def run(context: Context, line: str) -> object:
    args = words(line)
    spec = COMMAND_TABLE["client"].subcommands[args[1].decode().lower()]
    assert isinstance(spec.meaning, Session)
    command = args if spec.parse is None else spec.parse(args)
    return command if isinstance(command, ErrorReply) else spec.meaning.answer(context, command)


@pytest.fixture
def clients() -> list[Client]:
    state = proxy_state(users=())
    return [Client(state, index, f"10.0.0.{index}:{1000 + index}") for index in (1, 2, 3)]


def test_matches_each_filter(clients: list[Client]) -> None:
    me, other, _ = clients
    now = other.created_at + 10
    assert matches(ClientFilter(), other, me, skip_me=True, now=now)
    assert not matches(ClientFilter(), me, me, skip_me=True, now=now)
    assert matches(ClientFilter(kind="normal"), other, me, False, now)
    assert not matches(ClientFilter(kind="pubsub"), other, me, False, now)
    assert not matches(ClientFilter(ids=frozenset()), other, me, False, now)
    assert matches(ClientFilter(addr=b"10.0.0.2:1002"), other, me, False, now)
    assert matches(ClientFilter(laddr=b"127.0.0.1:6380"), other, me, False, now)
    assert not matches(ClientFilter(user=b"alice"), other, me, False, now)
    assert matches(ClientFilter(max_age_s=10), other, me, False, now)
    assert not matches(ClientFilter(max_age_s=11), other, me, False, now)


def test_client_list_gives_each_chosen_client_its_info_line(clients: list[Client]) -> None:
    me, other, third = clients
    listing = run(me, "client list")
    assert listing == Verbatim("txt", b"".join(client_info_line(c) for c in clients))
    assert run(me, "client list id 3 2") == Verbatim(
        "txt", client_info_line(other) + client_info_line(third)
    )
    assert run(me, "client list skipme yes id 1") == Verbatim("txt", b"")
    assert run(me, "client list x") == SYNTAX_ERROR


def test_client_kill_closes_others_at_once_and_itself_after_its_reply(
    clients: list[Client],
) -> None:
    me, other, third = clients
    assert run(me, "client kill id 1 2") == 1
    assert other.closed and not me.closing
    assert run(me, "client kill id 1 skipme no") == 1
    assert me.closing and not me.closed
    assert run(me, "client kill 10.0.0.3:1003") == OK
    assert third.closed
    assert run(me, "client kill 10.0.0.9:1") == NO_SUCH_CLIENT
    assert run(me, "client kill type pubsub") == 0


def test_client_reply_switches(clients: list[Client]) -> None:
    me = clients[0]
    assert run(me, "client reply skip") is None and me.skip_next_reply
    me.skip_reply, me.skip_next_reply = True, False  # what the session does next
    assert run(me, "client reply on") == OK
    assert not (me.skip_reply or me.skip_next_reply or me.replies_off)
    assert run(me, "client reply off") is None and me.replies_off
    assert run(me, "client reply skip") is None and not me.skip_next_reply
    assert run(me, "client reply nope") == SYNTAX_ERROR


def test_client_tracking_accepts_off_and_refuses_on(clients: list[Client]) -> None:
    me = clients[0]
    assert run(me, "client tracking off redirect 2 prefix a bcast") == OK
    assert run(me, "client tracking on") == NO_TRACKING
    assert run(me, "client tracking off redirect 9") == ErrorReply(
        "ERR The client ID you want redirect to does not exist"
    )
    assert run(me, "client tracking on prefix") == SYNTAX_ERROR


def test_no_evict_and_no_touch_take_on_or_off(clients: list[Client]) -> None:
    me = clients[0]
    assert run(me, "client no-evict on") == OK
    assert run(me, "client no-touch OFF") == OK
    assert run(me, "client no-touch maybe") == SYNTAX_ERROR
