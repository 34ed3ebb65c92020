"""CLIENT LIST and CLIENT KILL: the proxy's clients described one line each, and closed
(client_filter.py says which a filter chooses). `client_subcommand` builds every CLIENT
subcommand's spec, these and client.py's."""

from __future__ import annotations

import time
from collections.abc import Callable

from leaderless.proxy.commands.args import SYNTAX_ERROR
from leaderless.proxy.commands.client_filter import chosen, laddr
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Session
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.resp import ErrorReply, Verbatim
from leaderless.proxy.state import Context

NO_SUCH_CLIENT = ErrorReply("ERR No such client")


def client_info_line(context: Context) -> bytes:
    """CLIENT INFO's and CLIENT LIST's line for a client, in Redis 7.2's field order. A proxy
    has no file descriptor, buffers or memory figures of its own to report: those read 0."""
    now = time.monotonic()
    return (
        f"id={context.client_id} addr={context.peer} laddr={laddr(context)} fd=0 name=".encode()
        + (context.name or b"")
        + (
            f" age={int(now - context.created_at)} idle={int(now - context.last_active)}"
            f" flags=N capa= db={context.db} sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0"
            " qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0"
            f" events=r cmd={context.last_command} user="
        ).encode()
        + context.user
        + f" redir=-1 resp={context.protocol} lib-name=".encode()
        + (context.lib_name or b"")
        + b" lib-ver="
        + (context.lib_ver or b"")
        + (
            f" tot-net-in={context.bytes_in} tot-net-out={context.bytes_out}"
            f" tot-cmds={context.commands}\n"
        ).encode()
    )


def _client_list(context: Context, args: list[bytes]) -> object:
    if len(args) == 3:
        return SYNTAX_ERROR
    clients = chosen(context, args, skip_me=False)
    if isinstance(clients, ErrorReply):
        return clients
    return Verbatim("txt", b"".join(client_info_line(client) for client in clients))


def _kill(context: Context, client: Context) -> None:
    """Close a client; the one asking gets its reply first."""
    if client is context:
        context.close_after_replies()
    else:
        client.close()


def _client_kill(context: Context, args: list[bytes]) -> object:
    if len(args) == 3:  # the old form: CLIENT KILL ip:port
        addr = args[2].decode("utf-8", "surrogateescape")
        client = next((c for c in context.state.clients.values() if c.peer == addr), None)
        if client is None:
            return NO_SUCH_CLIENT
        _kill(context, client)
        return OK
    clients = chosen(context, args, skip_me=True)
    if isinstance(clients, ErrorReply):
        return clients
    for client in clients:
        _kill(context, client)
    return len(clients)


_ADMIN = "admin noscript loading stale"
_ADMIN_ACL = "@admin @slow @dangerous @connection"
_BY_CLIENTS = "O(N) where N is the number of client connections"


def client_subcommand(
    name: str,
    arity: int,
    summary: str,
    since: str,
    meaning: Session,
    *,
    parse: Callable[[list[bytes]], object] | None = None,
    arguments: tuple[Arg, ...] = (),
    tips: tuple[str, ...] = (),
    help: tuple[str, ...] = (),
    admin: bool = False,
    complexity: str = "O(1)",
) -> CommandSpec:
    """A CLIENT subcommand: they share their group, and the admin ones their flags."""
    return CommandSpec(
        name,
        arity,
        _ADMIN if admin else "noscript loading stale",
        _ADMIN_ACL if admin else "@slow @connection",
        Doc(summary, since, "connection", complexity, arguments),
        meaning,
        parse=parse,
        tips=tips,
        help=help,
    )


def pure_token(name: str, *, since: str | None = None, display: str | None = None) -> Arg:
    return Arg(name, "pure-token", token=name.upper(), since=since, display=display)


_SKIPME = Arg(
    "skipme",
    "oneof",
    token="SKIPME",
    optional=True,
    arguments=(pure_token("yes"), pure_token("no")),
)
_LIST_ARGS = (
    Arg(
        "client-type",
        "oneof",
        token="TYPE",
        since="5.0.0",
        optional=True,
        arguments=(
            pure_token("normal"),
            pure_token("master"),
            pure_token("replica"),
            pure_token("pubsub"),
        ),
    ),
    Arg("client-id", "integer", token="ID", since="6.2.0", optional=True, multiple=True),
    Arg("username", "string", token="USER", since="8.1.0", optional=True),
    Arg("addr", "string", token="ADDR", since="8.1.0", display="ip:port", optional=True),
    Arg("laddr", "string", token="LADDR", since="8.1.0", display="ip:port", optional=True),
    Arg(
        "skipme", "oneof", token="SKIPME", since="8.1.0", optional=True, arguments=_SKIPME.arguments
    ),
    Arg("maxage", "integer", token="MAXAGE", since="8.1.0", optional=True),
)
_KILL_FILTERS = (
    Arg("client-id", "integer", token="ID", since="2.8.12", optional=True, multiple=True),
    Arg(
        "client-type",
        "oneof",
        token="TYPE",
        since="2.8.12",
        optional=True,
        arguments=(
            pure_token("normal"),
            pure_token("master", since="3.2.0"),
            pure_token("primary", since="8.0.0"),
            pure_token("slave"),
            pure_token("replica", since="5.0.0"),
            pure_token("pubsub"),
        ),
    ),
    Arg("username", "string", token="USER", optional=True),
    Arg("addr", "string", token="ADDR", display="ip:port", optional=True),
    Arg("laddr", "string", token="LADDR", since="6.2.0", display="ip:port", optional=True),
    _SKIPME,
    Arg("maxage", "integer", token="MAXAGE", since="8.0.0", optional=True),
)

LIST_AND_KILL = (
    client_subcommand(
        "client|kill",
        -3,
        "Closes the proxy's client connections named by address or by filters.",
        "2.4.0",
        Session(_client_kill),
        admin=True,
        complexity=_BY_CLIENTS,
        arguments=(
            Arg(
                "filter",
                "oneof",
                arguments=(
                    Arg("old-format", "string", display="ip:port"),
                    Arg("new-format", "oneof", multiple=True, arguments=_KILL_FILTERS),
                ),
            ),
        ),
        help=(
            "KILL <ip:port>",
            "    Close the connection from <ip:port>.",
            "KILL <filter> <value> [<filter> <value> ...]",
            "    Close the connections that match every filter: ID <client-id> ...,",
            "    TYPE normal|master|replica|pubsub, USER <username>, ADDR <ip:port>,",
            "    LADDR <ip:port>, SKIPME yes|no (yes unless given), MAXAGE <seconds>.",
            "    Answers how many were closed.",
        ),
    ),
    client_subcommand(
        "client|list",
        -2,
        "Describes the proxy's client connections, one line each.",
        "2.4.0",
        Session(_client_list),
        admin=True,
        complexity=_BY_CLIENTS,
        arguments=_LIST_ARGS,
        tips=("nondeterministic_output",),
        help=(
            "LIST [<filter> <value> ...]",
            "    Describe the connections, or those that match every filter (as KILL",
            "    takes them; SKIPME is no unless given), one line each.",
        ),
    ),
)
