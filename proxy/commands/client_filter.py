"""Which of the proxy's clients a CLIENT LIST or KILL names: the filters (ID, TYPE, USER, ADDR,
LADDR, SKIPME, MAXAGE), parsed as Valkey 8.1 parses them, with the errors in the order it meets
them, and the test of one client against them.

Every client here is a connection to this proxy process: a client of another proxy, or of a
replica, is never named.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, replace

from leaderless.proxy.commands.args import (
    SYNTAX_ERROR,
    c_string,
    format_error,
    parse_long_long,
    token,
)
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context

BAD_CLIENT_ID = ErrorReply("ERR client-id should be greater than 0")
BAD_MAXAGE = ErrorReply("ERR maxage is not an integer or out of range")
MAXAGE_NOT_POSITIVE = ErrorReply("ERR maxage should be greater than 0")
CLIENT_TYPES = {
    b"NORMAL": "normal",
    b"MASTER": "master",
    b"PRIMARY": "master",
    b"SLAVE": "replica",
    b"REPLICA": "replica",
    b"PUBSUB": "pubsub",
}
"""The names of Redis's client classes. Every client of the proxy is `normal`: it has no
replicas or primaries of its own, and no subscribers."""


def laddr(context: Context) -> str:
    """The address the client reached the proxy at (the listen address, when unknown)."""
    return context.local or f"{context.state.settings.listen.host}:{context.state.port}"


@dataclass(frozen=True, slots=True)
class ClientFilter:
    """Which clients a CLIENT LIST or KILL names; None: that filter is not given."""

    ids: frozenset[int] | None = None
    kind: str | None = None
    user: bytes | None = None
    addr: bytes | None = None
    laddr: bytes | None = None
    skip_me: bool | None = None
    max_age_s: int | None = None


def parse_filters(
    args: list[bytes], start: int, users: Collection[bytes]
) -> ClientFilter | ErrorReply:
    """The filters from `args[start:]`. ID takes every integer that follows it (none at all
    is allowed, and matches no client); the others take one value; USER must name a user
    the proxy knows."""
    found = ClientFilter()
    index = start
    while index < len(args):
        name = token(args[index])
        index += 1
        if name == b"ID":
            ids = set(found.ids or ())
            while index < len(args) and (value := parse_long_long(args[index])) is not None:
                if value <= 0:
                    return BAD_CLIENT_ID
                ids.add(value)
                index += 1
            found = replace(found, ids=frozenset(ids))
            continue
        if index == len(args):
            return SYNTAX_ERROR
        value_arg = args[index]
        index += 1
        if name == b"TYPE":
            kind = CLIENT_TYPES.get(token(value_arg))
            if kind is None:
                return format_error(b"ERR Unknown client type '" + c_string(value_arg) + b"'")
            found = replace(found, kind=kind)
        elif name == b"USER":
            if value_arg not in users:
                return format_error(b"ERR No such user '" + c_string(value_arg) + b"'")
            found = replace(found, user=value_arg)
        elif name == b"ADDR":
            found = replace(found, addr=value_arg)
        elif name == b"LADDR":
            found = replace(found, laddr=value_arg)
        elif name == b"SKIPME" and token(value_arg) in (b"YES", b"NO"):
            found = replace(found, skip_me=token(value_arg) == b"YES")
        elif name == b"MAXAGE":
            age = parse_long_long(value_arg)
            if age is None:
                return BAD_MAXAGE
            if age <= 0:
                return MAXAGE_NOT_POSITIVE
            found = replace(found, max_age_s=age)
        else:
            return SYNTAX_ERROR
    return found


def matches(found: ClientFilter, client: Context, me: Context, skip_me: bool, now: float) -> bool:
    """Whether `client` is one the filter names, asked by `me` (skipped if `skip_me`) at
    monotonic time `now`."""
    return not (
        (skip_me and client is me)
        or (found.ids is not None and client.client_id not in found.ids)
        or (found.kind is not None and found.kind != "normal")
        or (found.user is not None and client.user != found.user)
        or (found.addr is not None and client.peer.encode() != found.addr)
        or (found.laddr is not None and laddr(client).encode() != found.laddr)
        or (found.max_age_s is not None and int(now - client.created_at) < found.max_age_s)
    )


def known_users(context: Context) -> set[bytes]:
    return {b"default", *(user.name.encode() for user in context.state.settings.listen.users)}


def chosen(context: Context, args: list[bytes], skip_me: bool) -> list[Context] | ErrorReply:
    """The clients that CLIENT LIST's or KILL's filters (from args[2]) name, in id order."""
    found = parse_filters(args, 2, known_users(context))
    if isinstance(found, ErrorReply):
        return found
    skip = skip_me if found.skip_me is None else found.skip_me
    now = time.monotonic()
    clients = context.state.clients.values()
    return [client for client in clients if matches(found, client, context, skip, now)]
